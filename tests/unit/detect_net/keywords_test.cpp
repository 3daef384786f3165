// Keyword semantics (Suricata's, see docs/rules-network.md), each with a match and a miss.
#include <catch2/catch.hpp>

#include "core/detect/net/engine.hpp"
#include "packet_builder.hpp"

using namespace halong::detect::net;
using halong::test::TestPacket;

namespace {

// Loads one rule (sid 1) and tells whether it alerts on a TCP packet with `payload`.
struct One {
  std::shared_ptr<const Ruleset> rs;
  std::unique_ptr<Matcher> m;
  explicit One(const std::string& options, const std::string& header = "alert tcp any any -> any any") {
    LoadReport rep;
    auto r = load_rules_from_string(header + " (" + options + " sid:1;)\n", "t.rules", {}, rep);
    REQUIRE(r.ok());
    INFO(rep.to_text_verbose());
    REQUIRE(rep.loaded() == 1);
    rs = *r;
    m = std::make_unique<Matcher>(rs);
  }
  bool on(const std::string& payload) {
    auto p = TestPacket::tcp("1.1.1.1", 1000, "2.2.2.2", 80, payload);
    std::vector<Match> out;
    m->inspect(p.pkt(), out);
    return !out.empty();
  }
};

std::string rejects(const std::string& rule) {
  LoadReport rep;
  auto r = load_rules_from_string(rule + "\n", "t.rules", {}, rep);
  REQUIRE(r.ok());
  if (rep.files.empty() || rep.files[0].errors.empty()) return "";
  return rep.files[0].errors[0];
}

}  // namespace

TEST_CASE("depth and offset bound an absolute content; depth counts from offset", "[detect][net][content]") {
  One a("content:\"abc\"; depth:5;");
  CHECK(a.on("xxabc"));
  CHECK_FALSE(a.on("xxxabc"));
  One b("content:\"abc\"; offset:2; depth:3;");
  CHECK(b.on("xxabcxx"));
  CHECK_FALSE(b.on("xabcxx"));
  CHECK_FALSE(b.on("xxxabc"));
}

TEST_CASE("distance and within place a content relative to the previous match", "[detect][net][content]") {
  One a("content:\"ab\"; content:\"cd\"; distance:2; within:4;");
  CHECK(a.on("ab..cd"));
  CHECK_FALSE(a.on("abcd"));     // too close
  CHECK(a.on("ab....cd"));        // within counts from previous end + distance
  CHECK_FALSE(a.on("ab.....cd"));  // ends beyond within
  One neg("content:\"ab\"; content:\"cd\"; distance:-4; within:4;");
  CHECK(neg.on("xcdab"));
}

TEST_CASE("a relative content is retried after a later occurrence of its anchor", "[detect][net][content]") {
  One a("content:\"A\"; content:\"B\"; distance:0; within:1;");
  CHECK(a.on("AxxAB"));
}

TEST_CASE("negated content vetoes the rule only inside its window", "[detect][net][content]") {
  One a("content:\"user\"; content:!\"admin\"; distance:0; within:10;");
  CHECK(a.on("user bob"));
  CHECK_FALSE(a.on("user admin"));
  CHECK(a.on("user bob ........................ admin"));
}

TEST_CASE("hex parts, escapes, startswith, endswith and bsize", "[detect][net][content]") {
  One hex("content:\"|41 42|C\\;\";");
  CHECK(hex.on("xxABC;"));
  CHECK_FALSE(hex.on("xxABC"));
  One sw("content:\"GET\"; startswith;");
  CHECK(sw.on("GET /"));
  CHECK_FALSE(sw.on(" GET /"));
  One ew("content:\".exe\"; endswith;");
  CHECK(ew.on("a.exe"));
  CHECK_FALSE(ew.on("a.exe "));
  One bs("content:\"ab\"; bsize:<5;");
  CHECK(bs.on("abcd"));
  CHECK_FALSE(bs.on("abcde"));
}

TEST_CASE("pcre with flags and relative matching", "[detect][net][pcre]") {
  One a("content:\"id=\"; pcre:\"/^[0-9]{3}x/R\";");
  CHECK(a.on("q id=123x"));
  CHECK_FALSE(a.on("q id=12x"));
  One i("pcre:\"/evil\\s+thing/i\";");
  CHECK(i.on("EVIL   THING"));
  CHECK_FALSE(i.on("evilthing"));
  One n("content:\"a\"; pcre:!\"/b+c/\";");
  CHECK(n.on("a"));
  CHECK_FALSE(n.on("abbc"));
}

TEST_CASE("a catastrophically backtracking pcre gives up instead of stalling", "[detect][net][pcre]") {
  One a("content:\"aaaa\"; pcre:\"/^(\\w+\\s?)+$/\";");
  CHECK_FALSE(a.on(std::string(5000, 'a') + "!"));  // 2^5000 paths without a limit
  CHECK(a.on("aaaa bbb"));
}

TEST_CASE("byte_test, byte_jump and byte_extract read numbers from the payload", "[detect][net][byte]") {
  One t("content:\"L\"; byte_test:2,>,0x100,0,relative;");
  CHECK(t.on(std::string("L\x01\x01", 3)));
  CHECK_FALSE(t.on(std::string("L\x00\xff", 3)));
  One ts("byte_test:3,=,123,1,string,dec;");
  CHECK(ts.on("x123"));
  CHECK_FALSE(ts.on("x124"));
  One j("byte_jump:1,0; content:\"Z\"; within:1;");  // skip N bytes after the length byte
  CHECK(j.on(std::string("\x03" "abcZ", 5)));
  CHECK_FALSE(j.on(std::string("\x02" "abcZ", 5)));
  One end("byte_jump:1,0;");  // landing exactly on the end of the buffer is outside it
  CHECK(end.on(std::string("\x01" "ab", 3)));
  CHECK_FALSE(end.on(std::string("\x02" "ab", 3)));
  One e("byte_extract:1,0,len; content:\"K\"; distance:len; within:1;");
  CHECK(e.on(std::string("\x02" "abK", 4)));
  CHECK_FALSE(e.on(std::string("\x01" "abK", 4)));
  One le("byte_test:2,=,1,0,little;");
  CHECK(le.on(std::string("\x01\x00", 2)));
  CHECK_FALSE(le.on(std::string("\x00\x01", 2)));
}

TEST_CASE("isdataat and dsize look at the payload length", "[detect][net]") {
  One a("content:\"ab\"; isdataat:2,relative;");
  CHECK(a.on("abxyz"));
  CHECK_FALSE(a.on("abx"));
  One n("content:\"ab\"; isdataat:!1,relative;");
  CHECK(n.on("ab"));
  CHECK_FALSE(n.on("abc"));
  One d("dsize:3<>6; content:\"a\";");
  CHECK(d.on("aaaa"));
  CHECK_FALSE(d.on("aaa"));
  CHECK_FALSE(d.on("aaaaaa"));
}

TEST_CASE("fast_pattern only and chop forms still verify the whole rule", "[detect][net]") {
  One a("content:\"needle\"; fast_pattern:only;");
  CHECK(a.on("hay needle hay"));
  CHECK_FALSE(a.on("hay needl hay"));
  One c("content:\"abcdef\"; fast_pattern:2,3; content:\"x\";");
  CHECK(c.on("abcdef x"));
  CHECK_FALSE(c.on("zzcdezz x"));
}

TEST_CASE("itype, icode and ttl test ICMP and IP header fields", "[detect][net]") {
  LoadReport rep;
  auto rs = load_rules_from_string(
      "alert icmp any any -> any any (msg:\"echo\"; itype:8; icode:0; sid:1;)\n"
      "alert icmp any any -> any any (msg:\"range\"; itype:>=3; sid:2;)\n"
      "alert ip any any -> any any (msg:\"ttl\"; ttl:<10; sid:3;)\n",
      "t.rules", {}, rep);
  REQUIRE(rs.ok());
  REQUIRE(rep.loaded() == 3);
  Matcher m(*rs);
  std::vector<Match> out;
  auto echo = TestPacket::icmp("1.1.1.1", "2.2.2.2", 8, 0);
  m.inspect(echo.pkt(), out);
  CHECK(out.size() == 2);
  out.clear();
  auto reply = TestPacket::icmp("1.1.1.1", "2.2.2.2", 0, 0);
  reply.p.ttl = 5;
  m.inspect(reply.pkt(), out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].rule->sid == 3);
}

TEST_CASE("flags tests TCP flag bits with modifiers and an ignore mask", "[detect][net]") {
  auto with = [](const std::string& opt, uint8_t flags) {
    One o(opt);
    auto p = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 2, "");
    p.p.tcp_flags = flags;
    std::vector<Match> out;
    o.m->inspect(p.pkt(), out);
    return !out.empty();
  };
  CHECK(with("flags:S;", 0x02));
  CHECK_FALSE(with("flags:S;", 0x12));       // exact match: SYN+ACK is not SYN
  CHECK(with("flags:S,CE;", 0x02 | 0xc0));    // ECN bits ignored
  CHECK(with("flags:+A;", 0x18));
  CHECK_FALSE(with("flags:+A;", 0x02));
  CHECK(with("tcp.flags:*SF;", 0x01));
  CHECK(with("flags:!R;", 0x10));
  CHECK_FALSE(with("flags:!R;", 0x04));
  CHECK(with("flags:0;", 0x00));
}

TEST_CASE("flowbits set on one packet are tested on later packets of the same flow", "[detect][net][flow]") {
  LoadReport rep;
  auto rs = load_rules_from_string(
      "alert tcp any any -> any any (msg:\"login\"; content:\"USER\"; flowbits:set,logged; flowbits:noalert; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"cmd after login\"; content:\"RETR\"; flowbits:isset,logged; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"cmd w/o login\"; content:\"RETR\"; flowbits:isnotset,logged; sid:3;)\n",
      "t.rules", {}, rep);
  REQUIRE(rs.ok());
  Matcher m(*rs);
  halong::net::FlowInfo f1, f2;
  std::vector<Match> out;
  auto a = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 21, "USER bob", &f1);
  m.inspect(a.pkt(), out);
  CHECK(out.empty());  // noalert
  auto b = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 21, "RETR x", &f1);
  m.inspect(b.pkt(), out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].rule->sid == 2);
  out.clear();
  auto c = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 21, "RETR x", &f2);
  m.inspect(c.pkt(), out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].rule->sid == 3);
}

TEST_CASE("flow keyword tests state and direction", "[detect][net][flow]") {
  One a("flow:established,to_server; content:\"x\";");
  halong::net::FlowInfo f;
  auto p = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 2, "x", &f);
  std::vector<Match> out;
  a.m->inspect(p.pkt(), out);
  CHECK(out.empty());
  f.established = true;  // this packet completed the handshake: established only from the next one on
  a.m->inspect(p.pkt(), out);
  CHECK(out.empty());
  a.m->inspect(p.pkt(), out);
  CHECK(out.size() == 1);
  f.to_server = false;
  out.clear();
  a.m->inspect(p.pkt(), out);
  CHECK(out.empty());
}

TEST_CASE("a UDP flow is established on the first reply packet", "[detect][net][flow]") {
  One a("flow:established; content:\"x\";", "alert udp any any -> any any");
  halong::net::FlowInfo f;
  auto q = TestPacket::udp("1.1.1.1", 1, "2.2.2.2", 53, "x");
  q.p.flow = &f;
  std::vector<Match> out;
  a.m->inspect(q.pkt(), out);
  CHECK(out.empty());
  f.established = true;  // the reply: both directions seen
  f.to_server = false;
  auto r = TestPacket::udp("2.2.2.2", 53, "1.1.1.1", 1, "x");
  r.p.flow = &f;
  a.m->inspect(r.pkt(), out);
  CHECK(out.size() == 1);
}

TEST_CASE("threshold limit, threshold and detection_filter count per tracked address", "[detect][net][rate]") {
  auto run = [](const std::string& opt, int packets, int64_t step_us) {
    LoadReport rep;
    auto rs = load_rules_from_string("alert tcp any any -> any any (msg:\"t\"; content:\"x\"; " + opt + " sid:1;)\n", "t.rules",
                                     {}, rep);
    REQUIRE(rs.ok());
    REQUIRE(rep.loaded() == 1);
    Matcher m(*rs);
    int alerts = 0;
    for (int i = 0; i < packets; ++i) {
      auto p = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 2, "x");
      p.p.ts_us = i * step_us;
      std::vector<Match> out;
      m.inspect(p.pkt(), out);
      alerts += static_cast<int>(out.size());
    }
    return alerts;
  };
  CHECK(run("threshold:type limit, track by_src, count 2, seconds 60;", 10, 1000000) == 2);
  CHECK(run("threshold:type limit, track by_src, count 1, seconds 5;", 10, 1000000) == 2);
  CHECK(run("threshold:type threshold, track by_src, count 3, seconds 60;", 10, 1000000) == 3);
  CHECK(run("threshold:type both, track by_dst, count 3, seconds 60;", 10, 1000000) == 1);
  CHECK(run("detection_filter:track by_src, count 4, seconds 60;", 10, 1000000) == 6);
}

TEST_CASE("a threshold.config suppress line silences a rule for an address", "[detect][net][rate]") {
  LoadOptions o;
  o.threshold_config = "suppress gen_id 1, sig_id 1, track by_src, ip 10.0.0.0/8\nsuppress gen_id 1, sig_id 2\n";
  LoadReport rep;
  auto rs = load_rules_from_string(
      "alert tcp any any -> any any (msg:\"a\"; content:\"x\"; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"b\"; content:\"x\"; sid:2;)\n",
      "t.rules", o, rep);
  REQUIRE(rs.ok());
  CHECK(rep.error_count() == 0);
  Matcher m(*rs);
  std::vector<Match> out;
  auto in = TestPacket::tcp("10.1.1.1", 1, "2.2.2.2", 2, "x");
  m.inspect(in.pkt(), out);
  CHECK(out.empty());
  auto ext = TestPacket::tcp("11.1.1.1", 1, "2.2.2.2", 2, "x");
  m.inspect(ext.pkt(), out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].rule->sid == 1);
}

TEST_CASE("stream inspection matches content split across segments once", "[detect][net][stream]") {
  LoadReport rep;
  auto rs = load_rules_from_string("alert tcp any any -> any any (msg:\"s\"; content:\"HELLOWORLD\"; sid:1;)\n", "t.rules", {}, rep);
  REQUIRE(rs.ok());
  Matcher m(*rs);
  halong::net::FlowInfo f;
  f.established = true;
  std::string stream = "xxHELLO";
  auto p1 = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 2, "xxHELLO", &f);
  p1.pkt();
  p1.p.stream = reinterpret_cast<const uint8_t*>(stream.data());
  p1.p.stream_len = stream.size();
  p1.p.stream_new_len = 7;
  std::vector<Match> out;
  m.inspect(p1.p, out);
  CHECK(out.empty());
  std::string stream2 = "xxHELLOWORLDyy";
  auto p2 = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 2, "WORLDyy", &f);
  p2.pkt();
  p2.p.stream = reinterpret_cast<const uint8_t*>(stream2.data());
  p2.p.stream_len = stream2.size();
  p2.p.stream_new_len = 7;
  m.inspect(p2.p, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].from_stream);
  out.clear();
  std::string stream3 = stream2 + "zz";
  auto p3 = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 2, "zz", &f);
  p3.pkt();
  p3.p.stream = reinterpret_cast<const uint8_t*>(stream3.data());
  p3.p.stream_len = stream3.size();
  p3.p.stream_new_len = 2;
  m.inspect(p3.p, out);
  CHECK(out.empty());  // old bytes do not alert again
}

TEST_CASE("data carried on a RST is inspected as packet payload, not as stream", "[detect][net][stream]") {
  LoadReport rep;
  auto rs = load_rules_from_string("alert tcp any any -> any any (msg:\"s\"; content:\"AB\"; sid:1;)\n", "t.rules", {}, rep);
  REQUIRE(rs.ok());
  Matcher m(*rs);
  halong::net::FlowInfo f;
  std::string stream = "xxAB";
  auto p = TestPacket::tcp("1.1.1.1", 1, "2.2.2.2", 2, "B", &f);
  p.pkt();
  p.p.stream = reinterpret_cast<const uint8_t*>(stream.data());
  p.p.stream_len = stream.size();
  p.p.stream_new_len = 1;
  p.p.tcp_flags = halong::net::tcpflag::rst | halong::net::tcpflag::ack;
  std::vector<Match> out;
  m.inspect(p.p, out);
  CHECK(out.empty());
  p.p.tcp_flags = halong::net::tcpflag::ack;
  m.inspect(p.p, out);
  CHECK(out.size() == 1);
}

TEST_CASE("conflicting or malformed modifiers are rejected with Suricata's reason", "[detect][net][parse]") {
  CHECK(rejects("alert tcp any any -> any any (content:\"a\"; depth:5; depth:6; sid:1;)").find("multiple depths") != std::string::npos);
  CHECK(rejects("alert tcp any any -> any any (content:\"a\"; content:\"b\"; depth:5; distance:1; sid:1;)").find("relative keyword") !=
        std::string::npos);
  CHECK(rejects("alert tcp any any -> any any (depth:5; sid:1;)").find("needs preceding content") != std::string::npos);
  CHECK(rejects("alert udp any any -> any any (dsize:3; content:\"abcd\"; sid:1;)").find("exceeds dsize") != std::string::npos);
  CHECK(rejects("alert tcp any any -> any any (content:\"a\"; pcre:\"/(/\"; sid:1;)").find("pcre compile error") != std::string::npos);
  CHECK(rejects("alert tcp any any -> any any (content:\"a\"; classtype:no-such-class; sid:1;)").find("unknown classtype") !=
        std::string::npos);
  CHECK(rejects("alert tcp $NOPE any -> any any (content:\"a\"; sid:1;)").find("undefined address variable '$NOPE'") != std::string::npos);
  CHECK(rejects("alert tcp any any -> any any (content:\"a\"; sid:1)").find("no terminating ';'") != std::string::npos);
  CHECK(rejects("alert tcp any any -> any any (content:\"a\";)").find("no sid") != std::string::npos);
  CHECK(rejects("alert tcp any any -> any any (content:\"a\"; sid:1;)").empty());
}
