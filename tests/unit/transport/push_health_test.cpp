#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>

#include "transport_fixture.hpp"

using namespace halong;
using namespace halong::testing;

namespace {

// Records pushes; answers each from another thread (as the agent's compiler thread would).
struct RulesAgent {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<wire::RulesetPush> pushes;
  bool accept = true;
  std::vector<std::thread> workers;
  agent::Uplink* up = nullptr;

  agent::RulesetHandler handler() {
    return [this](const wire::RulesetPush& p) {
      {
        std::lock_guard lk(mu);
        pushes.push_back(p);
      }
      cv.notify_all();
      workers.emplace_back([this, p] {
        std::this_thread::sleep_for(ms(20));  // "compiling aside"
        bool ok = accept;
        up->report_ruleset(wire::RulesetStatus{p.version, ok, ok ? "" : p.files.at(0).first + ":1: unknown keyword"});
      });
    };
  }
  bool wait_for(size_t n, std::chrono::milliseconds t) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, t, [&] { return pushes.size() >= n; });
  }
  ~RulesAgent() {
    for (auto& w : workers) w.join();
  }
};

template <class F>
bool eventually(F f, std::chrono::milliseconds t = ms(5000)) {
  auto deadline = std::chrono::steady_clock::now() + t;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(ms(10));
  }
  return f();
}

wire::RulesetPush ruleset(const std::string& v) {
  wire::RulesetPush r;
  r.version = v;
  r.files = {{"local.rules", "alert tcp any any -> any 80 (msg:\"x\"; content:\"evil\"; sid:1000001; rev:1;)\n"}};
  return r;
}

}  // namespace

TEST_CASE("a pushed ruleset reaches connected agents and agents that connect later, and their reports feed health",
          "[transport][rules][health]") {
  TempDir d("push");
  collector::MemoryStore mem;
  collector::HealthTracker health;
  Collector col(d.path / "collector");
  auto go = col.options();
  go.health = &health;
  REQUIRE(col.start(mem, go).ok());

  RulesAgent ra1;
  auto o1 = agent_options(col, col.port(), d.path / "s1", "a1");
  o1.heartbeat_interval = ms(50);
  auto up1 = agent::Uplink::create(o1);
  REQUIRE(up1.ok());
  ra1.up = up1->get();
  (*up1)->set_ruleset_handler(ra1.handler());
  REQUIRE((*up1)->start().ok());
  REQUIRE(eventually([&] { return col.gw->connected_agents().size() == 1; }));

  REQUIRE(col.gw->push_ruleset(ruleset("v1")) == 1);
  REQUIRE(ra1.wait_for(1, ms(5000)));
  REQUIRE(ra1.pushes[0].files == ruleset("v1").files);
  REQUIRE(eventually([&] { return health.get("a1") && health.get("a1")->ruleset_version == "v1"; }));
  REQUIRE(health.get("a1")->state == collector::AgentState::online);

  // An agent that connects later gets the current version on connect.
  RulesAgent ra2;
  ra2.accept = false;
  auto o2 = agent_options(col, col.port(), d.path / "s2", "a2");
  auto up2 = agent::Uplink::create(o2);
  REQUIRE(up2.ok());
  ra2.up = up2->get();
  (*up2)->set_ruleset_handler(ra2.handler());
  REQUIRE((*up2)->start().ok());
  REQUIRE(ra2.wait_for(1, ms(5000)));
  REQUIRE(ra2.pushes[0].version == "v1");
  REQUIRE(eventually([&] { return health.get("a2") && health.get("a2")->state == collector::AgentState::degraded; }));
  REQUIRE_THAT(health.get("a2")->reasons.at(0), Catch::Contains("local.rules:1"));

  // Heartbeats carry the agent's stats.
  REQUIRE(eventually([&] { return health.get("a1")->stats_json.find("spool_depth") != std::string::npos; }));
  REQUIRE(eventually([&] { return health.get("a1")->stats_json.find("\"ruleset_version\":\"v1\"") != std::string::npos; }));

  // After a reconnect an agent already running v1 is not sent it again.
  col.stop();
  REQUIRE(col.start(mem, [&] {
            auto o = col.options(o1.port);
            o.health = &health;
            return o;
          }())
              .ok());
  col.gw->push_ruleset(ruleset("v1"));  // the collector restores its current ruleset at start
  REQUIRE(eventually([&] { return col.gw->connected_agents().size() == 2; }));
  std::this_thread::sleep_for(ms(200));
  {
    std::lock_guard lk(ra1.mu);
    REQUIRE(ra1.pushes.size() == 1);
  }
  REQUIRE(ra2.wait_for(2, ms(5000)));  // a2 refused v1, so it is offered again
  (*up1)->stop();
  (*up2)->stop();
}

TEST_CASE("the gateway reports an agent that stops sending heartbeats as offline", "[transport][health]") {
  TempDir d("push");
  collector::MemoryStore mem;
  collector::HealthPolicy hp;
  hp.offline_after = ms(300);
  collector::HealthTracker health(hp);
  std::mutex mu;
  std::vector<std::string> offline;
  Collector col(d.path / "collector");
  auto go = col.options();
  go.health = &health;
  go.health_sweep = ms(50);
  go.on_agent_offline = [&](const std::string& id) {
    std::lock_guard lk(mu);
    offline.push_back(id);
  };
  REQUIRE(col.start(mem, go).ok());
  auto o = agent_options(col, col.port(), d.path / "s", "quiet");
  o.heartbeat_interval = ms(50);
  auto up = agent::Uplink::create(o);
  REQUIRE(up.ok());
  REQUIRE((*up)->start().ok());
  REQUIRE(eventually([&] { return health.get("quiet") && health.get("quiet")->state == collector::AgentState::online; }));
  std::this_thread::sleep_for(ms(400));
  {
    std::lock_guard lk(mu);
    REQUIRE(offline.empty());  // heartbeats keep it online
  }
  (*up)->stop();
  REQUIRE(eventually([&] {
    std::lock_guard lk(mu);
    return offline == std::vector<std::string>{"quiet"};
  }));
  REQUIRE(health.get("quiet")->state == collector::AgentState::offline);
  REQUIRE_FALSE(health.get("quiet")->connected);
}
