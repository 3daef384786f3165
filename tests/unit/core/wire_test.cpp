#include <catch2/catch.hpp>

#include "core/wire.hpp"

using namespace halong;

TEST_CASE("wire messages round-trip", "[core][wire]") {
  wire::Hello h{"tok-123", {"agent-1", "host1", "so-tttt"}, "0.1.0", wire::kProtocolVersion};
  auto m = wire::decode(wire::encode(h));
  REQUIRE(m.ok());
  auto* hb = std::get_if<wire::Hello>(&*m);
  REQUIRE(hb);
  REQUIRE(hb->token == "tok-123");
  REQUIRE(hb->agent == h.agent);

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
