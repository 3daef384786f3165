#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "core/alert.hpp"

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
