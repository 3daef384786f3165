#include <catch2/catch.hpp>

#include <random>

#include "core/wire.hpp"

using namespace halong;

TEST_CASE("wire messages round-trip", "[core][wire]") {
  wire::Hello h;
  h.token = "tok-123";
  h.agent = {"agent-1", "host1", "so-tttt"};
  h.version = "0.1.0";
  h.ruleset_version = "r7";
  auto m = wire::decode(wire::encode(h));
  REQUIRE(m.ok());
  auto* hb = std::get_if<wire::Hello>(&*m);
  REQUIRE(hb);
  REQUIRE(hb->token == "tok-123");
  REQUIRE(hb->agent == h.agent);
  REQUIRE(hb->ruleset_version == "r7");

  wire::AlertBatch b;
  b.batch = 7;
  for (int i = 1; i <= 3; ++i) {
    Alert a;
    a.seq = static_cast<uint64_t>(i);
    a.id = "agent-1:" + std::to_string(i);
    a.alert.signature_id = 1000u + static_cast<unsigned>(i);
    b.alerts.push_back(a);
  }
  auto mb = wire::decode(wire::encode(b));
  REQUIRE(mb.ok());
  auto* bb = std::get_if<wire::AlertBatch>(&*mb);
  REQUIRE(bb);
  REQUIRE(bb->batch == 7);
  REQUIRE(bb->alerts == b.alerts);

  auto ma = wire::decode(wire::encode(wire::Ack{7, 3}));
  REQUIRE(ma.ok());
  REQUIRE(std::get<wire::Ack>(*ma).highest_seq == 3);
}

TEST_CASE("wire rejects garbage with a named reason", "[core][wire]") {
  REQUIRE_FALSE(wire::decode("").ok());
  REQUIRE_FALSE(wire::decode("[1,2]").ok());
  auto r = wire::decode(R"({"type":"launch"})");
  REQUIRE_FALSE(r.ok());
  REQUIRE_THAT(r.error().message, Catch::Contains("launch"));
  auto r2 = wire::decode(R"({"type":"alerts","batch":1,"alerts":[{"alert":{}}]})");
  REQUIRE_FALSE(r2.ok());
  REQUIRE_THAT(r2.error().message, Catch::Contains("alerts[0]"));
  auto r3 = wire::decode(R"({"type":"ack","batch":-1,"highest_seq":0})");
  REQUIRE_FALSE(r3.ok());
}

TEST_CASE("wire enrollment and ruleset messages round-trip", "[core][wire]") {
  wire::EnrollRequest e{"hlt1.secret.fp", "host-9", "-----BEGIN CERTIFICATE REQUEST-----\n..."};
  auto me = wire::decode(wire::encode(e));
  REQUIRE(me.ok());
  REQUIRE(std::get<wire::EnrollRequest>(*me).csr_pem == e.csr_pem);

  wire::Enrolled d{"ag-1", "so-a", "CERT", "CA"};
  auto md = wire::decode(wire::encode(d));
  REQUIRE(md.ok());
  REQUIRE(std::get<wire::Enrolled>(*md).ca_pem == "CA");

  wire::RulesetPush r;
  r.version = "v3";
  r.files = {{"a.rules", "alert tcp any any -> any any (sid:1;)"}, {"b.yml", "title: x\n"}};
  auto mr = wire::decode(wire::encode(r));
  REQUIRE(mr.ok());
  REQUIRE(std::get<wire::RulesetPush>(*mr).files == r.files);

  wire::RulesetStatus rs{"v3", false, "b.yml:1: bad"};
  auto ms = wire::decode(wire::encode(rs));
  REQUIRE(ms.ok());
  REQUIRE_FALSE(std::get<wire::RulesetStatus>(*ms).ok);
  REQUIRE(std::get<wire::RulesetStatus>(*ms).message == rs.message);

  auto bad = wire::decode(R"({"type":"ruleset","version":"v","files":[{"name":1}]})");
  REQUIRE_FALSE(bad.ok());
  REQUIRE_THAT(bad.error().message, Catch::Contains("files[0].name"));
}

TEST_CASE("enrollment token carries the collector fingerprint and rejects malformed text", "[core][wire]") {
  std::string fp(64, 'a');
  auto t = wire::parse_enrollment_token(wire::format_enrollment_token({"s3cr3t-s3cr3t-s3cr3t", fp}));
  REQUIRE(t.ok());
  REQUIRE(t->fingerprint == fp);
  REQUIRE(t->secret == "s3cr3t-s3cr3t-s3cr3t");
  REQUIRE_FALSE(wire::parse_enrollment_token("hlt1.short." + fp).ok());
  REQUIRE_FALSE(wire::parse_enrollment_token("hlt2.s3cr3t-s3cr3t-s3cr3t." + fp).ok());
  REQUIRE_FALSE(wire::parse_enrollment_token("hlt1.s3cr3t-s3cr3t-s3cr3t.xyz").ok());
}

TEST_CASE("wire decode survives every truncation and random corruption of valid frames", "[core][wire]") {
  wire::AlertBatch b;
  b.batch = 3;
  for (int i = 1; i <= 3; ++i) {
    Alert a;
    a.seq = static_cast<uint64_t>(i);
    a.id = "ag:" + std::to_string(i);
    a.src_ip = "10.0.0.1";
    a.alert.signature = "sig \"quoted\" \\ and unicode \xc3\xa9";
    b.alerts.push_back(a);
  }
  wire::Hello h;
  h.token = "t";
  h.agent = {"a", "h", "x"};
  std::vector<std::string> frames = {wire::encode(b), wire::encode(h), wire::encode(wire::Ack{1, 2}),
                                     wire::encode(wire::RulesetPush{"v", {{"a.rules", "x"}}})};
  std::mt19937 rng(12345);
  size_t decoded = 0;
  for (const auto& f : frames) {
    for (size_t cut = 0; cut < f.size(); ++cut) {
      auto r = wire::decode(std::string_view(f).substr(0, cut));
      REQUIRE_FALSE(r.ok());  // a truncated JSON object never decodes
    }
    for (int k = 0; k < 2000; ++k) {
      std::string g = f;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int j = 0; j < flips; ++j) g[rng() % g.size()] = static_cast<char>(rng() % 256);
      auto r = wire::decode(g);
      if (r.ok()) {
        ++decoded;
        auto again = wire::decode(wire::encode(*r));  // whatever decodes re-encodes and decodes
        REQUIRE(again.ok());
        REQUIRE(again->index() == r->index());
      }
    }
  }
  REQUIRE(decoded > 0);  // some corruptions hit only string contents
}

TEST_CASE("a pushed ruleset file is a plain *.rules, *.yml or *.yaml name", "[wire]") {
  for (const char* ok : {"local.rules", "emerging-scan.rules", "sshd.yml", "web.yaml"})
    CHECK(halong::wire::is_ruleset_file_name(ok));
  for (const char* bad : {"", ".rules", ".hidden.yml", "../x.rules", "a/b.rules", "a\\b.rules", "x.txt", "rules", "x.rules.bak"})
    CHECK_FALSE(halong::wire::is_ruleset_file_name(bad));
}
