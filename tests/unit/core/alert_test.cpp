#include <cstdio>
#include <ctime>
#include <limits>
#include <random>

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "core/alert.hpp"
#include "core/utf8.hpp"

using namespace halong;

namespace {
Alert sample_network_alert() {
  Alert a;
  a.id = "agent-7:42";
  a.seq = 42;
  a.timestamp_us = 1'763'899'200'123'456;  // 2025-11-23T12:00:00.123456Z
  a.agent = {"agent-7", "web01.so-tttt.gov.vn", "so-tttt"};
  a.source = "network";
  a.src_ip = "10.0.0.5";
  a.src_port = 80;
  a.dest_ip = "192.168.1.20";
  a.dest_port = 51234;
  a.proto = "TCP";
  a.flow_id = 99;
  a.alert.signature_id = 2100498;
  a.alert.rev = 7;
  a.alert.signature = "GPL ATTACK_RESPONSE id check returned root";
  a.alert.category = "Potentially Bad Traffic";
  a.alert.severity = 2;
  a.alert.engine = "suricata";
  a.alert.metadata = {{"created_at", {"2010_09_23"}}};
  a.payload_printable = "uid=0(root)";
  return a;
}
}  // namespace

TEST_CASE("alert JSON uses EVE field names", "[core][alert]") {
  auto o = to_json(sample_network_alert());
  REQUIRE(o.at("event_type").as_string() == "alert");
  REQUIRE(o.at("src_ip").as_string() == "10.0.0.5");
  REQUIRE(o.at("dest_port").to_number<int>() == 51234);
  REQUIRE(o.at("proto").as_string() == "TCP");
  REQUIRE(o.at("alert").at("signature_id").to_number<uint64_t>() == 2100498);
  REQUIRE(o.at("alert").at("severity").to_number<int>() == 2);
  REQUIRE(o.at("timestamp").as_string() == "2025-11-23T12:00:00.123456+0000");
}

TEST_CASE("alert JSON round-trips network and log alerts", "[core][alert]") {
  auto a = sample_network_alert();
  auto back = alert_from_json_string(to_json_string(a));
  REQUIRE(back.ok());
  REQUIRE(*back == a);

  Alert l;
  l.id = "agent-1:1";
  l.seq = 1;
  l.timestamp_us = 0;
  l.source = "log";
  l.log = LogContext{"/var/log/auth.log", 1234, "Failed password for root from 1.2.3.4 port 22 ssh2", "sshd"};
  l.fields = {{"User", "root"}, {"SourceIp", "1.2.3.4"}};
  l.alert.engine = "sigma";
  l.alert.rule_id = "9a0b8a8e-0000-4000-8000-000000000000";
  l.alert.tags = {"attack.credential_access", "attack.t1110"};
  l.alert.signature_id = 123;
  auto lb = alert_from_json_string(to_json_string(l));
  REQUIRE(lb.ok());
  REQUIRE(*lb == l);
}

TEST_CASE("alert JSON errors name the field", "[core][alert]") {
  auto r = alert_from_json_string(R"({"timestamp":"2026-01-01T00:00:00Z","alert":{"signature_id":"x"}})");
  REQUIRE_FALSE(r.ok());
  REQUIRE_THAT(r.error().message, Catch::Contains("alert.signature_id"));
  auto r2 = alert_from_json_string(R"({"alert":{"signature_id":1}})");
  REQUIRE_FALSE(r2.ok());
  REQUIRE_THAT(r2.error().message, Catch::Contains("timestamp"));
  auto r3 = alert_from_json_string("{not json");
  REQUIRE_FALSE(r3.ok());
  auto r4 = alert_from_json_string(R"({"timestamp":"2026-01-01T00:00:00Z","src_port":70000,"alert":{"signature_id":1}})");
  REQUIRE_FALSE(r4.ok());
  REQUIRE_THAT(r4.error().message, Catch::Contains("src_port"));
}

TEST_CASE("timestamps parse with any offset and format in UTC", "[core][alert]") {
  auto a = parse_timestamp("2026-11-23T19:00:00.5+07:00");
  REQUIRE(a.ok());
  auto b = parse_timestamp("2026-11-23T12:00:00.500000Z");
  REQUIRE(b.ok());
  REQUIRE(*a == *b);
  REQUIRE(format_timestamp(*a) == "2026-11-23T12:00:00.500000+0000");
  REQUIRE(parse_timestamp("2026-11-23T12:00:00+0700").ok());
  REQUIRE_FALSE(parse_timestamp("2026-13-23T12:00:00Z").ok());
  REQUIRE_FALSE(parse_timestamp("yesterday").ok());
  REQUIRE_FALSE(parse_timestamp("2026-11-23T12:00:00").ok());
  REQUIRE(*parse_timestamp("1970-01-01T00:00:00Z") == 0);
  REQUIRE(format_timestamp(-1) == "1969-12-31T23:59:59.999999+0000");
}

TEST_CASE("format_timestamp writes what the printf format it replaced writes, for any int64", "[core][alert]") {
  auto reference = [](int64_t us) {
    int64_t secs = us / 1'000'000, frac = us % 1'000'000;
    if (frac < 0) frac += 1'000'000, secs -= 1;
    std::time_t tt = static_cast<std::time_t>(secs);
    std::tm tm{};
    if (!gmtime_r(&tt, &tm)) tm = std::tm{};
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld+0000", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
    return std::string(buf);
  };
  std::vector<int64_t> cases = {0, 1, -1, 999'999, 1'000'000, -1'000'000, -1'000'001, 253402300799'999'999,
                                253402300800'000'000, -62167219200'000'000, -62167219200'000'001,
                                std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    // Mostly this century (the fast path), then any year gmtime takes, then any int64.
    const int64_t pick = i % 3 == 0   ? static_cast<int64_t>(rng() % 4'102'444'800'000'000ULL)
                         : i % 3 == 1 ? static_cast<int64_t>(rng() % 600'000'000'000'000'000ULL) - 300'000'000'000'000'000
                                      : static_cast<int64_t>(rng());
    cases.push_back(pick);
  }
  for (int64_t us : cases) {
    INFO("us = " << us);
    REQUIRE(format_timestamp(us) == reference(us));
  }
}

TEST_CASE("append_json writes exactly what Boost.JSON serialises from to_json, for any field and any byte",
          "[core][alert]") {
  // The store and the spool use the direct writer; the API uses to_json. They must agree
  // byte for byte: random alerts with every optional member present or not, and strings
  // made of every byte value (quotes, backslashes, control characters, DEL, non-ASCII).
  std::mt19937_64 rng(20261207);
  auto text = [&](size_t max_len) {
    std::string s(rng() % (max_len + 1), '\0');
    // Half the strings are mostly plain letters (an escape now and then), so the writer's
    // 8-bytes-at-a-time scan meets long clean runs with an escape at every offset in a word.
    const unsigned sparse = rng() % 2 == 0 ? 1 : 16;
    for (auto& c : s) {
      switch (rng() % (4 * sparse)) {
        case 0: c = static_cast<char>(rng() % 256); break;           // any byte
        case 1: c = "\"\\\b\f\n\r\t\x01\x1f\x7f/"[rng() % 12]; break;  // the escapes and their edges
        default: c = static_cast<char>('a' + rng() % 26);
      }
    }
    return s;
  };
  auto maybe = [&] { return rng() % 2 == 0; };
  for (int i = 0; i < 2000; ++i) {
    Alert a;
    a.id = text(20);
    a.seq = rng();
    a.timestamp_us = static_cast<int64_t>(rng() % 4'000'000'000'000'000ULL);
    a.agent = {text(10), text(10), text(10)};
    a.source = text(8);
    if (maybe()) a.src_ip = text(15);
    if (maybe()) a.dest_ip = text(15);
    if (maybe()) a.src_port = static_cast<uint16_t>(rng());
    if (maybe()) a.dest_port = static_cast<uint16_t>(rng());
    if (maybe()) a.proto = text(5);
    if (maybe()) a.flow_id = rng();
    if (maybe()) a.icmp_type = static_cast<int>(rng() % 512) - 256;
    if (maybe()) a.icmp_code = static_cast<int>(rng() % 512) - 256;
    if (maybe()) a.log = LogContext{text(30), rng(), text(80), text(6)};
    if (maybe())
      for (int k = 0; k < 4; ++k) a.fields[text(6)] = text(12);
    a.alert.action = text(7);
    a.alert.gid = static_cast<uint32_t>(rng());
    a.alert.signature_id = rng();
    a.alert.rev = static_cast<uint32_t>(rng());
    a.alert.signature = text(60);
    a.alert.category = text(20);
    a.alert.severity = static_cast<int>(rng() % 9) - 4;
    a.alert.engine = text(8);
    if (maybe()) a.alert.rule_id = text(36);
    if (maybe()) a.alert.tags = {text(10), text(10)};
    if (maybe()) a.alert.metadata = {{text(5), {text(5), text(5)}}, {text(5), {}}};
    if (maybe()) a.alert.references = {text(30)};
    if (maybe()) a.payload_printable = text(300);
    // Boost.JSON writes a string's bytes as they are; append_json replaces each byte outside
    // a well-formed UTF-8 sequence with U+FFFD (only strings can hold such bytes).
    const std::string want = valid_utf8(boost::json::serialize(to_json(a)));
    std::string got = "prefix ";
    append_json(got, a);
    INFO("alert " << i << ": " << want);
    REQUIRE(got == "prefix " + want);
    REQUIRE(to_json_string(a) == want);
    // Whatever bytes went in, the text is JSON the collector's parser takes.
    boost::system::error_code ec;
    auto back = boost::json::parse(want, ec);
    REQUIRE_FALSE(ec);
    if (is_valid_utf8(a.alert.signature)) REQUIRE(back.at("alert").at("signature").as_string() == a.alert.signature);
  }
}

TEST_CASE("UTF-8: well-formed sequences pass, every other byte becomes U+FFFD", "[core][utf8]") {
  const std::string R(kReplacementChar);
  struct Case {
    std::string in, out;
  };
  const std::vector<Case> cases = {
      {"plain ascii, long enough for the word scan", "plain ascii, long enough for the word scan"},
      {"Vi\xE1\xBB\x87t Nam \xC3\xA9 \xF0\x9F\x98\x80", "Vi\xE1\xBB\x87t Nam \xC3\xA9 \xF0\x9F\x98\x80"},
      {"\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",  // each range's ends
       "\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF"},
      {"caf\xE9", "caf" + R},                                  // Latin-1
      {"\xC0\xAF", R + R},                                     // overlong '/'
      {"\xE0\x9F\xBF", R + R + R},                             // overlong 3-byte
      {"\xED\xA0\x80", R + R + R},                             // a UTF-16 surrogate
      {"\xF4\x90\x80\x80", R + R + R + R},                      // above U+10FFFF
      {"\xF5\xFF\x80", R + R + R},                             // never in UTF-8
      {"end \xE2\x82", "end " + R + R},                          // truncated at the end
      {"\xE2\x82 mid", R + R + " mid"},                          // truncated before ASCII
      {"12345678\x80" "abcdefgh", "12345678" + R + "abcdefgh"},     // just after a clean word
  };
  for (const auto& c : cases) {
    INFO(c.in);
    REQUIRE(valid_utf8(c.in) == c.out);
    REQUIRE(is_valid_utf8(c.out));
    REQUIRE(is_valid_utf8(c.in) == (c.in == c.out));
    // append_json agrees: the same replacement inside a JSON string.
    Alert a;
    a.alert.signature = c.in;
    auto v = boost::json::parse(to_json_string(a));
    REQUIRE(v.at("alert").at("signature").as_string() == c.out);
  }
  REQUIRE(find_invalid_utf8("abc\xE9") == 3);
  REQUIRE(find_invalid_utf8("abcdefghij\xC3\xA9") == std::string_view::npos);
}
