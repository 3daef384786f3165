// Fault test (issue 5 (b)) with the REAL agent binary: `halong-agent run` tails a log file
// that grows while the agent is killed with SIGKILL and restarted three times; every
// matching line must reach the real collector exactly once (counted through the API, each
// line's offset once).
//
// A kill between "alerts of a batch spooled" and "read offsets saved" used to make the
// restarted agent raise those lines' alerts again (about 1 run in 8 here). The agent now
// skips, on restart, lines whose alerts are already in the spool (agent/app/run.cpp,
// lines_already_spooled); tests/integration's "[exactly-once]" case recreates that window
// deterministically.
#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>

#include "fault_harness.hpp"

using namespace halong;
using namespace halong::testing;
using namespace std::chrono_literals;

namespace {

std::string agent_binary() { return HALONG_AGENT_BINARY; }

// Every alert of one agent as log offsets (paging GET /api/v1/alerts).
std::vector<uint64_t> alert_offsets(RealCollector& c, const std::string& agent) {
  std::vector<uint64_t> out;
  std::string cursor;
  for (int page = 0; page < 10000; ++page) {
    std::string target = "/api/v1/alerts?limit=1000&agent=" + agent;
    if (!cursor.empty()) target += "&cursor=" + cursor;
    auto o = c.get_json(target);
    for (const auto& a : o.at("alerts").as_array()) out.push_back(a.as_object().at("log").as_object().at("offset").to_number<uint64_t>());
    auto it = o.find("next_cursor");
    if (it == o.end() || !it->value().is_string() || it->value().as_string().empty()) break;
    cursor = std::string(it->value().as_string());
  }
  return out;
}

}  // namespace

TEST_CASE("fault (b), real agent: halong-agent killed with SIGKILL while tailing a growing log and restarted delivers every "
          "matching line exactly once",
          "[transport][faults][process][agent]") {
  TempDir d("fault-b-real");
  RealCollector c{d.path / "collector"};
  c.start();
  const fs::path log = d.path / "app.log";
  { std::ofstream(log).flush(); }
  std::ofstream(d.path / "kw.yml") << "title: fault canary\nid: 3c2b1a00-0000-4000-8000-0000000000fb\nlogsource:\n  product: linux\n"
                                      "detection:\n  keywords: ['CANARY-fault-b']\n  condition: keywords\nlevel: high\n";
  fs::create_directories(d.path / "agent");
  std::ofstream(d.path / "agent.yaml") << "agent:\n  id: real-0\n  hostname: h0\n  agency: so-test\n  data_dir: "
                                       << (d.path / "agent").string() << "\ncollector:\n  address: 127.0.0.1:" << c.gateway_port
                                       << "\n  token: " << kToken << "\n  ca_file: " << (c.dir() / "tls" / "collector.crt").string()
                                       << "\nrules:\n  logs: [" << (d.path / "kw.yml").string() << "]\nlogs:\n  - paths: ["
                                       << log.string() << "]\n    format: raw\n";
  // The log grows by 2,000 lines/s for ~5 s, 100 lines at a time; every other line matches.
  const int lines = 10'000;
  std::set<uint64_t> expected;
  std::mutex mu;
  std::atomic<bool> written{false};
  std::thread writer([&] {
    std::ofstream out(log, std::ios::app | std::ios::binary);
    uint64_t off = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < lines; ++i) {
      std::string line = "line " + std::to_string(i) + (i % 2 == 0 ? " CANARY-fault-b" : " quiet") + "\n";
      if (i % 2 == 0) {
        std::lock_guard lk(mu);
        expected.insert(off);
      }
      out << line;
      off += line.size();
      if (i % 100 == 99) {
        out.flush();
        std::this_thread::sleep_until(t0 + std::chrono::milliseconds(i / 2));
      }
    }
    out.flush();
    written = true;
  });
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } join{writer};
  auto run_agent = [&](Child& a) {
    a.start({agent_binary(), "run", "--config", (d.path / "agent.yaml").string()}, d.path / "agent.out", d.path / "agent.err");
  };
  uint64_t last = 0;
  for (int k = 0; k < 3; ++k) {
    Child a;
    run_agent(a);
    bool progressed = wait_until([&] { return c.stats_total("agent=real-0") > last + 300; }, 60s);
    INFO("agent: " << slurp(d.path / "agent.err"));
    REQUIRE(progressed);
    a.signal(SIGKILL);
    REQUIRE(a.wait(20s) == 128 + SIGKILL);
    last = c.stats_total("agent=real-0");
  }
  Child a;
  run_agent(a);
  REQUIRE(wait_until([&] { return written.load(); }, 60s));
  writer.join();
  const uint64_t n = expected.size();
  bool all = wait_until([&] { return c.stats_total("agent=real-0") >= n; }, 60s);
  a.signal(SIGTERM);
  int st = a.wait(30s);
  INFO("agent: " << slurp(d.path / "agent.err") << "\ncollector:\n" << c.log());
  REQUIRE(all);
  REQUIRE(st == 0);
  auto offsets = alert_offsets(c, "real-0");
  std::set<uint64_t> got(offsets.begin(), offsets.end());
  CHECK(offsets.size() - got.size() == 0);  // no line twice
  REQUIRE(got == expected);                 // every matching line, nothing else
  REQUIRE(c.stats_total("agent=real-0") == n);
  c.stop();
}
