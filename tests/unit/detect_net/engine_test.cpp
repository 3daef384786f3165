// The walking-skeleton API: load rules, inspect hand-built packets, turn matches into alerts.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/detect/net/engine.hpp"
#include "packet_builder.hpp"

using namespace halong::detect::net;
using halong::test::TestPacket;

namespace {

std::shared_ptr<const Ruleset> load(const std::string& text, LoadReport& rep, LoadOptions opts = {}) {
  auto rs = load_rules_from_string(text, "test.rules", opts, rep);
  REQUIRE(rs.ok());
  return *rs;
}

std::vector<uint64_t> sids(Matcher& m, const halong::net::Packet& p) {
  std::vector<Match> out;
  m.inspect(p, out);
  std::vector<uint64_t> s;
  for (auto& x : out) s.push_back(x.rule->sid);
  return s;
}

}  // namespace

TEST_CASE("content with nocase matches a TCP packet and the alert carries the rule's fields", "[detect][net]") {
  LoadReport rep;
  auto rs = load(
      "alert tcp any any -> any 80 (msg:\"GET seen\"; content:\"get /\"; nocase; classtype:trojan-activity; "
      "metadata:created_at 2024_01_01, signature_severity Major; reference:url,example.org/x; sid:1000; rev:3;)\n",
      rep);
  CHECK(rep.loaded() == 1);
  CHECK(rep.error_count() == 0);
  Matcher m(rs);
  auto hit = TestPacket::tcp("10.0.0.1", 4000, "10.0.0.2", 80, "GET /index.html HTTP/1.1\r\n");
  std::vector<Match> out;
  m.inspect(hit.pkt(), out);
  REQUIRE(out.size() == 1);
  auto info = to_alert_info(*out[0].rule);
  CHECK(info.signature_id == 1000);
  CHECK(info.rev == 3);
  CHECK(info.gid == 1);
  CHECK(info.signature == "GET seen");
  CHECK(info.category == "A Network Trojan was detected");
  CHECK(info.severity == 1);
  CHECK(info.engine == "suricata");
  CHECK(info.metadata["signature_severity"] == std::vector<std::string>{"Major"});
  CHECK(info.references == std::vector<std::string>{"url,example.org/x"});

  auto other_port = TestPacket::tcp("10.0.0.1", 4000, "10.0.0.2", 81, "GET /index.html HTTP/1.1\r\n");
  CHECK(sids(m, other_port.pkt()).empty());
  auto no_content = TestPacket::tcp("10.0.0.1", 4000, "10.0.0.2", 80, "POST /index.html HTTP/1.1\r\n");
  CHECK(sids(m, no_content.pkt()).empty());
}

TEST_CASE("header variables, lists, negation and ranges select packets", "[detect][net]") {
  LoadOptions o;
  o.address_vars["HOME_NET"] = "[10.0.0.0/8,!10.9.0.0/16]";
  o.port_vars["WEB"] = "[80,8000:8080]";
  LoadReport rep;
  auto rs = load(
      "alert tcp $EXTERNAL_NET any -> $HOME_NET $WEB (msg:\"in\"; content:\"x\"; sid:1;)\n"
      "alert udp any any <> 192.168.1.0/24 !53 (msg:\"bi\"; content:\"x\"; sid:2;)\n",
      rep, o);
  REQUIRE(rep.loaded() == 2);
  Matcher m(rs);
  auto a = TestPacket::tcp("8.8.8.8", 1, "10.1.2.3", 8001, "x");
  CHECK(sids(m, a.pkt()) == std::vector<uint64_t>{1});
  auto b = TestPacket::tcp("8.8.8.8", 1, "10.9.2.3", 80, "x");  // excluded subnet
  CHECK(sids(m, b.pkt()).empty());
  auto c = TestPacket::tcp("10.2.2.2", 1, "10.1.2.3", 80, "x");  // source not external
  CHECK(sids(m, c.pkt()).empty());
  auto d = TestPacket::tcp("8.8.8.8", 1, "10.1.2.3", 8081, "x");  // port outside range
  CHECK(sids(m, d.pkt()).empty());
  auto e = TestPacket::udp("192.168.1.7", 5000, "1.1.1.1", 9, "x");  // <> reversed
  CHECK(sids(m, e.pkt()) == std::vector<uint64_t>{2});
  auto f = TestPacket::udp("1.1.1.1", 9, "192.168.1.7", 53, "x");
  CHECK(sids(m, f.pkt()).empty());
}

TEST_CASE("rules with unsupported keywords are skipped and counted by keyword with file:line", "[detect][net]") {
  LoadReport rep;
  auto rs = load(
      "# comment\n"
      "alert http any any -> any any (msg:\"h\"; http.uri; content:\"/a\"; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"t\"; http.uri; content:\"/a\"; http.host; content:\"b\"; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"ok\"; content:\"abc\"; sid:3;)\n",
      rep);
  CHECK(rep.loaded() == 1);
  CHECK(rep.skipped() == 2);
  auto kw = rep.skipped_by_keyword();
  CHECK(kw["http.uri"] == 2);
  CHECK(kw["proto:http"] == 1);
  CHECK(kw["http.host"] == 1);
  REQUIRE(rep.files.size() == 1);
  REQUIRE(rep.files[0].skip_details.size() == 2);
  CHECK(rep.files[0].skip_details[0].rfind("test.rules:2: sid 1", 0) == 0);
  CHECK(rs->size() == 1);
  auto text = rep.to_text();
  CHECK(text.find("test.rules: 1 loaded, 2 skipped, 0 errors") != std::string::npos);
  CHECK(text.find("http.uri: 2") != std::string::npos);
}

TEST_CASE("rules that do not parse are reported with file:line and the rest still load", "[detect][net]") {
  LoadReport rep;
  auto rs = load(
      "alert tcp any any -> any any (msg:\"a\"; content:\"abc\"; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"b\"; content:\"|4g|\"; sid:2;)\n"
      "alert tcp any any -> any (msg:\"c\"; sid:3;)\n"
      "alert tcp any any -> any any (msg:\"d\"; content:\"a\"; sid:1;)\n",
      rep);
  CHECK(rep.loaded() == 1);
  REQUIRE(rep.files[0].errors.size() == 3);
  CHECK(rep.files[0].errors[0].rfind("test.rules:2: Invalid hex code", 0) == 0);
  CHECK(rep.files[0].errors[1].rfind("test.rules:3: rule header", 0) == 0);
  CHECK(rep.files[0].errors[2].find("duplicate sid 1") != std::string::npos);
}

TEST_CASE("a missing rules path fails the load with its name", "[detect][net]") {
  LoadReport rep;
  auto rs = load_rules({"/nonexistent/halong.rules"}, {}, rep);
  REQUIRE_FALSE(rs.ok());
  CHECK(rs.error().message.find("/nonexistent/halong.rules") != std::string::npos);
}

TEST_CASE("candidates are verified in rule order and capped per packet", "[detect][net]") {
  std::string rules;
  for (int i = 1; i <= 8; ++i)
    rules += "alert tcp any any -> any any (msg:\"r" + std::to_string(i) + "\"; content:\"TRIGGER\"; sid:" + std::to_string(i) + ";)\n";
  rules += "alert tcp any any -> any any (msg:\"prio\"; content:\"TRIGGER\"; priority:1; sid:100;)\n";
  LoadReport rep;
  auto rs = load(rules, rep);
  MatcherOptions mo;
  mo.max_alerts_per_packet = 6;
  Matcher m(rs, mo);
  auto p = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 2, "xxTRIGGERxx");
  CHECK(sids(m, p.pkt()) == std::vector<uint64_t>{100, 1, 2, 3, 4, 5});
  CHECK(m.counters().alerts_dropped == 3);
}

TEST_CASE("a pass rule suppresses the alerts of the packet it matches", "[detect][net]") {
  LoadReport rep;
  auto rs = load(
      "alert tcp any any -> any any (msg:\"a\"; content:\"evil\"; sid:1;)\n"
      "pass tcp 10.0.0.5 any -> any any (msg:\"trusted\"; content:\"evil\"; sid:2;)\n",
      rep);
  Matcher m(rs);
  auto trusted = TestPacket::tcp("10.0.0.5", 1, "2.2.2.2", 2, "evil");
  CHECK(sids(m, trusted.pkt()).empty());
  auto other = TestPacket::tcp("10.0.0.6", 1, "2.2.2.2", 2, "evil");
  CHECK(sids(m, other.pkt()) == std::vector<uint64_t>{1});
}

TEST_CASE("IP-only rules alert once per flow direction, packet rules on every packet", "[detect][net]") {
  LoadReport rep;
  auto rs = load(
      "alert ip 10.0.0.1 any -> any any (msg:\"ip-only\"; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"est\"; flow:established; sid:2;)\n",
      rep);
  Matcher m(rs);
  halong::net::FlowInfo flow;
  flow.established = true;
  auto p1 = TestPacket::tcp("10.0.0.1", 1, "2.2.2.2", 2, "a", &flow);
  CHECK(sids(m, p1.pkt()) == std::vector<uint64_t>{1});  // first established packet: not yet (Suricata)
  auto p2 = TestPacket::tcp("10.0.0.1", 1, "2.2.2.2", 2, "b", &flow);
  CHECK(sids(m, p2.pkt()) == std::vector<uint64_t>{2});
  halong::net::FlowInfo flow2;
  auto p3 = TestPacket::tcp("10.0.0.1", 1, "2.2.2.2", 3, "c", &flow2);
  CHECK(sids(m, p3.pkt()) == std::vector<uint64_t>{1});
  auto stateless = TestPacket::tcp("10.0.0.1", 1, "2.2.2.2", 2, "d");
  CHECK(sids(m, stateless.pkt()) == std::vector<uint64_t>{1});
}

TEST_CASE("a restart with the same rules reads the Hyperscan databases from the cache", "[detect][net]") {
  auto dir = std::filesystem::temp_directory_path() / ("halong-net-cache-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  LoadOptions o;
  o.cache_dir = dir.string();
  const std::string rules =
      "alert tcp any any -> any 80 (msg:\"a\"; content:\"alpha\"; sid:1;)\n"
      "alert udp any any -> any any (msg:\"b\"; content:\"beta\"; nocase; sid:2;)\n";
  LoadReport r1, r2, r3;
  auto a = load(rules, r1, o);
  CHECK_FALSE(r1.cache_hit);
  auto b = load(rules, r2, o);
  CHECK(r2.cache_hit);
  Matcher m(b);
  auto p = TestPacket::udp("1.1.1.1", 1, "2.2.2.2", 2, "xBETAx");
  CHECK(sids(m, p.pkt()) == std::vector<uint64_t>{2});
  auto c = load(rules + "alert tcp any any -> any any (msg:\"c\"; content:\"gamma\"; sid:3;)\n", r3, o);
  CHECK_FALSE(r3.cache_hit);
  std::filesystem::remove_all(dir);
}

TEST_CASE("IP-only block lists match by address through the index, IPv4 and IPv6", "[detect][net]") {
  std::string rules;
  for (int i = 0; i < 50; ++i)
    rules += "alert ip [203.0." + std::to_string(i) + ".7,198.51." + std::to_string(i) + ".0/24] any -> $HOME_NET any (msg:\"in " +
             std::to_string(i) + "\"; sid:" + std::to_string(100 + i) + ";)\n";
  rules += "alert ip $HOME_NET any -> [2001:db8::/64,2001:db8:1::5] any (msg:\"out v6\"; sid:10;)\n";
  rules += "alert ip any any -> any any (msg:\"all\"; sid:11;)\n";
  rules += "alert ip 10.0.0.0/8 any <> 8.8.8.8 any (msg:\"bidir\"; sid:12;)\n";
  LoadOptions o;
  o.address_vars["HOME_NET"] = "[10.0.0.0/8,fd00::/8]";
  LoadReport rep;
  auto rs = load(rules, rep, o);
  REQUIRE(rep.loaded() == 53);
  Matcher m(rs);
  auto a = TestPacket::udp("198.51.17.200", 1, "10.1.1.1", 2, "x");
  CHECK(sids(m, a.pkt()) == std::vector<uint64_t>{117, 11});
  auto b = TestPacket::udp("203.0.17.7", 1, "10.1.1.1", 2, "x");
  CHECK(sids(m, b.pkt()) == std::vector<uint64_t>{117, 11});
  auto c = TestPacket::udp("203.0.17.8", 1, "10.1.1.1", 2, "x");
  CHECK(sids(m, c.pkt()) == std::vector<uint64_t>{11});
  auto d = TestPacket::udp("198.51.17.200", 1, "11.1.1.1", 2, "x");  // not towards HOME_NET
  CHECK(sids(m, d.pkt()) == std::vector<uint64_t>{11});
  auto e = TestPacket::tcp("fd00::1", 1, "2001:db8::abcd", 2, "x");
  CHECK(sids(m, e.pkt()) == std::vector<uint64_t>{10, 11});
  auto f = TestPacket::tcp("fd00::1", 1, "2001:db8:1::6", 2, "x");
  CHECK(sids(m, f.pkt()) == std::vector<uint64_t>{11});
  auto g = TestPacket::udp("8.8.8.8", 53, "10.2.3.4", 999, "x");
  CHECK(sids(m, g.pkt()) == std::vector<uint64_t>{11, 12});
}

TEST_CASE("rules whose only prefilter is a pcre are prefiltered by Hyperscan and verified by PCRE2", "[detect][net]") {
  const std::string rules =
      "alert tcp any any -> any any (msg:\"re\"; pcre:\"/(a+)b\\1c/\"; sid:1;)\n"        // backreference: prefilter over-approximates
      "alert tcp any any -> any any (msg:\"x\"; pcre:\"/ z z /x\"; sid:2;)\n"            // extended: no Hyperscan form, always checked
      "alert tcp any any -> any any (msg:\"ci\"; pcre:\"/evil[0-9]{2}/i\"; sid:3;)\n";
  auto dir = std::filesystem::temp_directory_path() / ("halong-net-re-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  LoadOptions o;
  o.cache_dir = dir.string();
  for (int round = 0; round < 3; ++round) {
    if (round == 2) {  // a damaged cache file is rebuilt, not trusted
      for (auto& e : std::filesystem::directory_iterator(dir)) {
        std::ofstream f(e.path(), std::ios::binary | std::ios::trunc);
        f << "garbage";
      }
    }
    LoadReport rep;
    auto rs = load(rules, rep, o);
    CHECK(rs->stats().pcre_prefiltered == 2);
    CHECK(rep.cache_hit == (round == 1));
    Matcher m(rs);
    auto a = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 2, "xxaabaaacxx");  // prefilter (a+)b(a+)c hits, \1 fails
    CHECK(sids(m, a.pkt()).empty());
    auto b = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 2, "abc");
    CHECK(sids(m, b.pkt()).empty());
    auto d = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 2, "xxaabaacxx");
    CHECK(sids(m, d.pkt()) == std::vector<uint64_t>{1});
    auto e = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 2, "zz EVIL42");
    CHECK(sids(m, e.pkt()) == std::vector<uint64_t>{2, 3});
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a rules directory loads its *.rules files in name order, one report entry each", "[detect][net]") {
  auto dir = std::filesystem::temp_directory_path() / ("halong-net-dir-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "b.rules") << "alert tcp any any -> any any (msg:\"b\"; content:\"bb\"; \\\n"
                                      "    sid:2;)\n";
    std::ofstream(dir / "a.rules") << "alert tcp any any -> any any (msg:\"a\"; content:\"aa\"; sid:1;)\n"
                                      "alert tcp any any -> any any (msg:\"bad\"; content:\"aa\"; depth:1; sid:3;)\n";
    std::ofstream(dir / "notes.txt") << "alert tcp any any -> any any (msg:\"ignored\"; sid:9;)\n";
  }
  LoadReport rep;
  auto rs = load_rules({dir.string()}, {}, rep);
  REQUIRE(rs.ok());
  REQUIRE(rep.files.size() == 2);
  CHECK(rep.files[0].path.ends_with("a.rules"));
  CHECK(rep.files[1].path.ends_with("b.rules"));
  CHECK(rep.loaded() == 2);
  REQUIRE(rep.files[0].errors.size() == 1);
  CHECK(rep.files[0].errors[0].find("a.rules:2: depth 1 is smaller than the content length 2") != std::string::npos);
  CHECK((*rs)->find_sid(2) != nullptr);
  CHECK((*rs)->find_sid(2)->line == 1);
  CHECK((*rs)->find_sid(9) == nullptr);
  std::filesystem::remove_all(dir);
}

TEST_CASE("matchers on different threads share one ruleset and agree", "[detect][net]") {
  std::string rules;
  for (int i = 1; i <= 200; ++i)
    rules += "alert tcp any any -> any any (msg:\"r\"; content:\"tok" + std::to_string(i) + "x\"; sid:" + std::to_string(i) + ";)\n";
  LoadReport rep;
  auto rs = load(rules, rep);
  auto work = [&](std::vector<uint64_t>& got) {
    Matcher m(rs);
    for (int i = 1; i <= 200; ++i) {
      auto p = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 2, "..tok" + std::to_string(i) + "x..");
      for (auto s : sids(m, p.pkt())) got.push_back(s);
    }
  };
  std::vector<uint64_t> a, b;
  std::thread t1([&] { work(a); }), t2([&] { work(b); });
  t1.join();
  t2.join();
  CHECK(a.size() == 200);
  CHECK(a == b);
}
