#include "helpers.hpp"

using namespace sigma_test;

namespace {

const int64_t kSec = 1000000;

const char* kFailedLogin = R"(title: Failed login
id: 5638f7c0-ac70-491d-8465-2a65075e0d86
name: failed_login
level: low
logsource:
    product: linux
    service: sshd
detection:
    sel:
        outcome: failure
    condition: sel
)";

Ev login(const std::string& ip, const std::string& user, const std::string& outcome, int64_t t_sec) {
  Ev e;
  e.src = {"linux", "sshd", ""};
  e.fields = {{"src_ip", ip}, {"User", user}, {"outcome", outcome}};
  e.raw = outcome + " " + user + " from " + ip;
  e.ts_us = t_sec * kSec;
  return e;
}

std::vector<Match> run(Matcher& m, const Ev& e) {
  std::vector<Match> out;
  m.evaluate(e.event(), out);
  return out;
}

}  // namespace

TEST_CASE("event_count fires per group when the count within the timespan reaches the threshold", "[sigma][correlation]") {
  auto rs = load_ok(std::string(kFailedLogin) + R"(---
title: Brute force
id: 0e95725d-7320-415d-80f7-004da920fc11
level: high
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - src_ip
    timespan: 60s
    condition:
        gte: 3
)");
  Matcher m(rs);
  // the base rule is only a correlation input: no alert of its own
  REQUIRE(run(m, login("1.1.1.1", "a", "failure", 0)).empty());
  REQUIRE(run(m, login("2.2.2.2", "a", "failure", 1)).empty());  // other group
  REQUIRE(run(m, login("1.1.1.1", "b", "success", 2)).empty());  // not a failure
  REQUIRE(run(m, login("1.1.1.1", "c", "failure", 30)).empty());
  auto out = run(m, login("1.1.1.1", "d", "failure", 60));         // 3 in [0, 60]
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].correlation);
  REQUIRE(out[0].rule->title == "Brute force");
  REQUIRE(out[0].count == 3);
  REQUIRE(out[0].ts_us == 60 * kSec);
  REQUIRE(out[0].group == std::vector<std::pair<std::string, std::string>>{{"src_ip", "1.1.1.1"}});
  REQUIRE(out[0].to_alert_info().severity == 2);
  REQUIRE(out[0].to_alert_info().category == "sshd");
  // the window restarts after firing
  REQUIRE(run(m, login("1.1.1.1", "e", "failure", 61)).empty());
  // events older than the timespan fall out of the window
  REQUIRE(run(m, login("2.2.2.2", "a", "failure", 100)).empty());
  REQUIRE(run(m, login("2.2.2.2", "a", "failure", 101)).empty());  // the one at t=1 expired
  REQUIRE(run(m, login("2.2.2.2", "a", "failure", 102)).size() == 1);
}

TEST_CASE("value_count counts distinct values per group (password spraying)", "[sigma][correlation]") {
  auto rs = load_ok(std::string(kFailedLogin) + R"(---
title: Spraying
correlation:
    type: value_count
    rules: failed_login
    group-by: src_ip
    timespan: 10m
    condition:
        field: User
        gt: 2
)");
  Matcher m(rs);
  REQUIRE(run(m, login("9.9.9.9", "a", "failure", 0)).empty());
  REQUIRE(run(m, login("9.9.9.9", "a", "failure", 1)).empty());
  REQUIRE(run(m, login("9.9.9.9", "b", "failure", 2)).empty());
  REQUIRE(run(m, login("8.8.8.8", "c", "failure", 3)).empty());
  auto out = run(m, login("9.9.9.9", "c", "failure", 4));
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].count == 3);
}

TEST_CASE("temporal fires when all referenced rules match in one group within the timespan", "[sigma][correlation]") {
  auto rs = load_ok(std::string(kFailedLogin) + R"(---
title: Success
name: ok_login
logsource:
    product: linux
    service: sshd
detection:
    sel:
        outcome: success
    condition: sel
---
title: Fail then success
correlation:
    type: temporal_ordered
    rules:
        - failed_login
        - ok_login
    group-by:
        - User
    timespan: 5m
---
title: Both any order
correlation:
    type: temporal
    rules:
        - ok_login
        - failed_login
    group-by:
        - User
    timespan: 5m
)");
  Matcher m(rs);
  // success first, then failure: only the unordered one fires
  REQUIRE(run(m, login("1.1.1.1", "u1", "success", 0)).empty());
  auto out = run(m, login("1.1.1.1", "u1", "failure", 10));
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].rule->title == "Both any order");
  // failure then success for another user: both fire
  REQUIRE(run(m, login("1.1.1.1", "u2", "failure", 20)).empty());
  out = run(m, login("1.1.1.1", "u2", "success", 30));
  REQUIRE(out.size() == 2);
  // too far apart: nothing
  REQUIRE(run(m, login("1.1.1.1", "u3", "failure", 100)).empty());
  REQUIRE(run(m, login("1.1.1.1", "u3", "success", 1000)).empty());
}

TEST_CASE("correlation group state is bounded; evictions are counted", "[sigma][correlation]") {
  LoadReport rep;
  LoadOptions opts;
  opts.correlation_max_groups = 4;
  auto rs = load_sigma_from_string(std::string(kFailedLogin) + R"(---
title: Brute force
correlation:
    type: event_count
    rules: failed_login
    group-by: src_ip
    timespan: 1h
    condition:
        gte: 2
)",
                                   "t.yml", rep, opts);
  REQUIRE(rs.ok());
  Matcher m(*rs);
  for (int i = 0; i < 10; ++i) REQUIRE(run(m, login("10.0.0." + std::to_string(i), "a", "failure", i)).empty());
  REQUIRE(m.stats().correlation_groups_evicted == 6);
  // the most recent groups survive
  REQUIRE(run(m, login("10.0.0.9", "a", "failure", 20)).size() == 1);
  // an evicted group starts again from zero
  REQUIRE(run(m, login("10.0.0.0", "a", "failure", 21)).empty());
}

TEST_CASE("generate: true keeps the base rule's own alerts", "[sigma][correlation]") {
  auto rs = load_ok(std::string(kFailedLogin) + R"(---
title: Brute force
correlation:
    type: event_count
    generate: true
    rules: failed_login
    group-by: src_ip
    timespan: 1h
    condition:
        gte: 2
)");
  Matcher m(rs);
  REQUIRE(run(m, login("1.1.1.1", "a", "failure", 0)).size() == 1);
  REQUIRE(run(m, login("1.1.1.1", "a", "failure", 1)).size() == 2);
}

TEST_CASE("correlation referencing a missing rule is skipped with its reason", "[sigma][correlation]") {
  LoadReport rep;
  auto rs = load_sigma_from_string(R"(title: Lonely
correlation:
    type: event_count
    rules: nothing_here
    group-by: src_ip
    timespan: 1h
    condition:
        gte: 2
)",
                                   "c.yml", rep);
  REQUIRE(rs.ok());
  REQUIRE(rep.skipped == 1);
  REQUIRE(rep.entries[0].reason_kind == "correlation:missing-rule");
  REQUIRE_THAT(rep.entries[0].reason, Catch::StartsWith("c.yml:1:"));
}
