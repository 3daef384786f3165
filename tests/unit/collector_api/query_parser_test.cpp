#include <catch2/catch.hpp>

#include "collector/api/query_parser.hpp"
#include "collector/store/store_common.hpp"

using namespace halong;
using namespace halong::collector;
using namespace halong::collector::api;

TEST_CASE("query parser turns every filter parameter into a typed query", "[collector][api][query]") {
  auto p = parse_alert_query(
      "/api/v1/alerts?limit=20&sid=2001219&agent=web%2001&agency=so-tttt&engine=suricata&severity=high"
      "&category=Potentially%20Bad%20Traffic&src_ip=10.0.0.0/24&dest_ip=2001:db8::1&port=22&status=acknowledged"
      "&assignee=lan&incident=7&q=ssh%20scan&from=2026-11-01T00:00:00Z&to=1795000000000000");
  REQUIRE(p.ok());
  const auto& q = p->query;
  CHECK(q.limit == 20);
  CHECK(*q.sid == 2001219);
  CHECK(*q.agent == "web 01");
  CHECK(*q.agency == "so-tttt");
  CHECK(*q.engine == "suricata");
  CHECK(*q.min_severity == 2);
  CHECK(*q.category == "Potentially Bad Traffic");
  CHECK(*q.src_net == parse_cidr("10.0.0.0/24").value());
  CHECK(*q.dest_net == parse_cidr("2001:db8::1/128").value());
  CHECK(*q.port == 22);
  CHECK(*q.status == TriageStatus::acknowledged);
  CHECK(*q.assignee == "lan");
  CHECK(*q.incident == 7);
  CHECK(*q.text == "ssh scan");
  CHECK(q.from_us == parse_timestamp("2026-11-01T00:00:00Z").value());
  CHECK(q.to_us == 1795000000000000);
}

TEST_CASE("query parser defaults and the unassigned marker", "[collector][api][query]") {
  auto p = parse_alert_query("/api/v1/alerts");
  REQUIRE(p.ok());
  CHECK(p->query.limit == kDefaultLimit);
  CHECK(!p->query.sid);
  auto u = parse_alert_query("assignee=-");
  REQUIRE(u.ok());
  CHECK(u->query.assignee == std::string());
}

TEST_CASE("query parser names the parameter it rejects", "[collector][api][query]") {
  struct C {
    const char* target;
    const char* param;
  } cases[] = {{"?limit=1001", "limit"}, {"?limit=", "limit"},      {"?sid=abc", "sid"},
               {"?port=70000", "port"},  {"?severity=9999", "severity"}, {"?src_ip=300.1.1.1", "src_ip"},
               {"?status=closed", "status"}, {"?from=5&to=4", "from"}, {"?field=sid", "field"},
               {"?engine=snort", "engine"}, {"?unknown=1", "unknown"}};
  for (auto& c : cases) {
    INFO(c.target);
    auto p = parse_alert_query(std::string("/api/v1/alerts") + c.target);
    REQUIRE(!p.ok());
    CHECK(p.error().code == ErrorCode::invalid_argument);
    CHECK(p.error().message.find(c.param) != std::string::npos);
  }
  auto s = parse_alert_query("/api/v1/alerts/stats?field=agency&bucket=86400", true);
  REQUIRE(s.ok());
  CHECK(s->stats.field == StatsField::agency);
  CHECK(s->stats.bucket_us == 86400LL * 1000000);
}
