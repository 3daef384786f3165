// Test helpers: temporary directories, a deterministic alert fixture, and store factories
// so one contract suite runs against MemoryStore and RocksStore.
#pragma once

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "collector/store/alert_store.hpp"
#include "collector/store/memory_store.hpp"
#include "collector/store/rocks_store.hpp"

namespace halong::collector::test {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("halong-store-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

struct MemoryFactory {
  static constexpr const char* name = "memory";
  std::unique_ptr<AlertStore> make(IncidentPolicy p = {}) { return std::make_unique<MemoryStore>(p); }
};

struct RocksFactory {
  static constexpr const char* name = "rocks";
  TempDir dir;
  int n = 0;
  std::unique_ptr<AlertStore> make(IncidentPolicy p = {}) {
    RocksOptions o;
    o.sync = false;  // tests: durability is tested separately by reopening
    o.incidents = p;
    o.block_cache_mb = 8;
    auto s = RocksStore::open((dir.path / std::to_string(n++)).string(), o);
    if (!s) throw std::runtime_error(s.error().message);
    return std::move(*s);
  }
};

inline constexpr int64_t kBase = 1'763'899'200'000'000;  // 2025-11-23T12:00:00Z

// A deterministic mixed fixture: `n` alerts over 4 agents in 2 agencies, 6 sids, severities
// 1..4, sources in a few /24s, and alerts sharing timestamps across agents; two alerts
// every `spacing_us` (1 s by default; less packs many alerts into one index posting).
inline std::vector<Alert> make_fixture(size_t n, uint32_t seed = 7, int64_t spacing_us = 1'000'000) {
  std::mt19937 rng(seed);
  const char* agents[] = {"web-01", "db-02", "mail-03", "fw:04"};
  const char* agencies[] = {"so-tttt", "so-yte", "so-tttt", "so-yte"};
  const uint64_t sids[] = {2001219, 2100498, 2013028, 9000001, 9000002, 2024897};
  const char* sigs[] = {"ET SCAN Potential SSH Scan", "GPL ATTACK_RESPONSE id check returned root",
                        "ET POLICY curl User-Agent Outbound", "Sigma: SSH brute force", "Sigma: sudo to root",
                        "ET INFO Observed DNS Query to .cloud TLD"};
  const char* cats[] = {"Attempted Information Leak", "Potentially Bad Traffic", "Attempted Information Leak",
                        "authentication", "privilege escalation", "Potentially Bad Traffic"};
  std::vector<Alert> out;
  uint64_t seqs[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < n; ++i) {
    size_t ag = rng() % 4, r = rng() % 6;
    Alert a;
    a.seq = ++seqs[ag];
    a.agent = {agents[ag], std::string(agents[ag]) + ".gov.vn", agencies[ag]};
    a.id = a.agent.id + ":" + std::to_string(a.seq);
    a.timestamp_us = kBase + static_cast<int64_t>(i / 2) * spacing_us + static_cast<int64_t>(rng() % 3);
    a.source = r >= 3 && r <= 4 ? "log" : "network";
    a.src_ip = (rng() % 5 == 0) ? "2001:db8::" + std::to_string(rng() % 4 + 1)
                                : "10.0." + std::to_string(rng() % 3) + "." + std::to_string(rng() % 4 + 1);
    a.dest_ip = "192.168.1." + std::to_string(rng() % 3 + 10);
    a.src_port = static_cast<uint16_t>(rng() % 2 ? 22 : 40000 + rng() % 3);
    a.dest_port = static_cast<uint16_t>(rng() % 2 ? 80 : 22);
    a.proto = "TCP";
    a.alert.signature_id = sids[r];
    a.alert.signature = sigs[r];
    a.alert.category = cats[r];
    a.alert.severity = static_cast<int>(rng() % 4 + 1);
    a.alert.engine = r >= 3 && r <= 4 ? "sigma" : "suricata";
    out.push_back(std::move(a));
  }
  return out;
}

inline void store_all(AlertStore& s, const std::vector<Alert>& alerts) {
  std::map<std::string, std::vector<Alert>> by_agent;
  for (const auto& a : alerts) by_agent[a.agent.id].push_back(a);
  for (auto& [agent, v] : by_agent) {
    for (size_t i = 0; i < v.size(); i += 37) {
      std::vector<Alert> chunk(v.begin() + static_cast<long>(i), v.begin() + static_cast<long>(std::min(v.size(), i + 37)));
      auto r = s.write_batch(agent, chunk);
      if (!r) throw std::runtime_error(r.error().message);
    }
  }
}

}  // namespace halong::collector::test
