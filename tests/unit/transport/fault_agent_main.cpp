// Test-only agent simulator for the fault tests: N agents in one process, each with its own
// spool and id, each raising COUNT deterministic alerts in total (across restarts: it
// continues after the spool's last seq, the way a log tailer resumes from its offset).
//   halong_test_agent PORT FINGERPRINT TOKEN WORK_DIR AGENTS COUNT [FSYNC always|never] [RATE_PER_AGENT] [BATCH]
// Alert k of agent sim-<i> carries the signature "simulated <k>", so a test can check through
// the collector's API that each alert is stored under its own sequence number.
// Exits 0 once every alert is acked, prints "DONE <acked>"; 1 on error (message on stderr).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "agent/uplink/uplink.hpp"

using namespace halong;

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: %s PORT FINGERPRINT TOKEN WORK_DIR AGENTS COUNT [FSYNC] [RATE] [BATCH]\n", argv[0]);
    return 2;
  }
  spdlog::set_level(spdlog::level::err);
  auto port = static_cast<uint16_t>(std::atoi(argv[1]));
  std::string fp = argv[2], token = argv[3], dir = argv[4];
  int agents = std::atoi(argv[5]);
  uint64_t count = std::strtoull(argv[6], nullptr, 10);
  bool fsync_always = argc > 7 && std::string(argv[7]) == "always";
  long rate = argc > 8 ? std::atol(argv[8]) : 0;  // alerts/s per agent, 0 = as fast as possible
  size_t batch = argc > 9 ? std::strtoull(argv[9], nullptr, 10) : 500;

  std::vector<std::unique_ptr<agent::Uplink>> ups;
  for (int i = 0; i < agents; ++i) {
    agent::UplinkOptions o;
    o.port = port;
    o.token = token;
    o.pinned_sha256 = fp;
    o.agent = AgentRef{"sim-" + std::to_string(i), "simhost", "so-sim"};
    o.batch_size = batch;
    o.flush_interval = std::chrono::milliseconds(20);
    o.backoff_initial = std::chrono::milliseconds(100);
    o.backoff_max = std::chrono::milliseconds(1000);
    o.heartbeat_interval = std::chrono::milliseconds(0);
    o.spool.dir = dir + "/spool-" + std::to_string(i);
    o.spool.fsync = fsync_always ? agent::FsyncPolicy::always : agent::FsyncPolicy::never;
    auto u = agent::Uplink::create(o);
    if (!u) {
      std::fprintf(stderr, "uplink: %s\n", u.error().message.c_str());
      return 1;
    }
    if (auto s = (*u)->start(); !s) return 1;
    ups.push_back(std::move(*u));
  }
  std::vector<std::thread> producers;
  for (int i = 0; i < agents; ++i)
    producers.emplace_back([&, i] {
      auto& up = *ups[static_cast<size_t>(i)];
      auto t0 = std::chrono::steady_clock::now();
      uint64_t start = up.spool().last_seq();
      for (uint64_t k = start + 1; k <= count; ++k) {
        Alert a;
        a.timestamp_us = 1'700'000'000'000'000 + static_cast<int64_t>(k);
        a.source = "network";
        a.src_ip = "10.1.0." + std::to_string(i);
        a.dest_ip = "10.2.0.1";
        a.proto = "TCP";
        a.alert.signature_id = 9'000'000 + k % 13;
        a.alert.signature = "simulated " + std::to_string(k);
        a.alert.engine = "suricata";
        if (!up.submit(a)) std::fprintf(stderr, "submit failed\n");
        if (rate > 0) {
          auto due = t0 + std::chrono::microseconds((k - start) * 1'000'000 / static_cast<uint64_t>(rate));
          std::this_thread::sleep_until(due);
        }
      }
    });
  for (auto& t : producers) t.join();
  uint64_t acked = 0;
  for (auto& u : ups) {
    auto s = u->flush_and_wait(std::chrono::seconds(120));
    if (!s) {
      std::fprintf(stderr, "flush: %s\n", s.error().message.c_str());
      return 1;
    }
    acked += u->spool().acked_seq();
  }
  for (auto& u : ups) u->stop();
  std::printf("DONE %llu\n", static_cast<unsigned long long>(acked));
  return 0;
}
