#include <catch2/catch.hpp>

#include "collector/gateway/health.hpp"

using namespace halong::collector;

namespace {
struct FakeClock {
  int64_t now = 1'800'000'000'000'000;
  HealthTracker::NowFn fn() {
    return [this] { return now; };
  }
  void advance_s(int64_t s) { now += s * 1'000'000; }
};
}  // namespace

TEST_CASE("an agent with regular heartbeats is online and goes offline after the configured silence", "[collector][health]") {
  FakeClock clock;
  HealthPolicy p;
  p.offline_after = std::chrono::seconds(90);
  HealthTracker h(p, clock.fn());
  h.on_connect("a1");
  h.on_heartbeat("a1", R"({"spool_depth":0,"version":"0.1.0"})");
  REQUIRE(h.get("a1")->state == AgentState::online);
  REQUIRE(h.sweep().empty());
  clock.advance_s(60);
  REQUIRE(h.get("a1")->state == AgentState::online);
  clock.advance_s(31);
  REQUIRE(h.get("a1")->state == AgentState::offline);
  REQUIRE(h.sweep() == std::vector<std::string>{"a1"});
  REQUIRE(h.sweep().empty());  // reported once per outage
  h.on_heartbeat("a1", R"({"spool_depth":0})");
  REQUIRE(h.get("a1")->state == AgentState::online);
  clock.advance_s(100);
  REQUIRE(h.sweep() == std::vector<std::string>{"a1"});
}

TEST_CASE("a growing spool, dropped alerts or packets, or a failed ruleset make an agent degraded with reasons", "[collector][health]") {
  FakeClock clock;
  HealthTracker h({}, clock.fn());
  for (int d : {10, 20, 30, 40}) {
    clock.advance_s(30);
    h.on_heartbeat("a", "{\"spool_depth\":" + std::to_string(d) + "}");
  }
  auto g = h.get("a");
  REQUIRE(g->state == AgentState::degraded);
  REQUIRE_THAT(g->reasons.at(0), Catch::Contains("spool growing"));
  clock.advance_s(30);
  h.on_heartbeat("a", R"({"spool_depth":5})");
  REQUIRE(h.get("a")->state == AgentState::online);

  h.on_heartbeat("a", R"({"spool_depth":5,"spool_dropped":0,"packets_dropped":0})");
  h.on_heartbeat("a", R"({"spool_depth":5,"spool_dropped":12,"packets_dropped":0})");
  REQUIRE(h.get("a")->state == AgentState::degraded);
  REQUIRE_THAT(h.get("a")->reasons.at(0), Catch::Contains("dropped"));
  h.on_heartbeat("a", R"({"spool_depth":5,"spool_dropped":12,"packets_dropped":3})");
  REQUIRE_THAT(h.get("a")->reasons.at(0), Catch::Contains("capture dropping"));
  h.on_heartbeat("a", R"({"spool_depth":5,"spool_dropped":12,"packets_dropped":3})");
  REQUIRE(h.get("a")->state == AgentState::online);

  h.on_ruleset_status("a", "v2", false, "x.rules:3: unknown keyword");
  REQUIRE(h.get("a")->state == AgentState::degraded);
  REQUIRE_THAT(h.get("a")->reasons.at(0), Catch::Contains("x.rules:3"));
  h.on_ruleset_status("a", "v3", true, "");
  REQUIRE(h.get("a")->state == AgentState::online);
  REQUIRE(h.get("a")->ruleset_version == "v3");
  REQUIRE(h.all().size() == 1);
  REQUIRE_FALSE(h.get("unknown").has_value());
}
