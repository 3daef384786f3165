// Store benchmark (issue 6 "Speed"): writes N generated alerts through RocksStore::write_batch,
// then measures p50/p99 of newest-50 pages for the filters and of a 30-day histogram;
// and, as the denominator, the raw RocksDB WriteBatch rate with the same sync setting.
//
//   halong_bench_store [--alerts N] [--dir DIR] [--batch 1000] [--queries 200] [--keep]
#include <algorithm>
#include <atomic>
#include <ctime>
#include <functional>
#include <thread>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/write_batch.h>

#include "collector/store/rocks_store.hpp"
#include "collector/store/store_common.hpp"

using namespace halong;
using namespace halong::collector;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  size_t alerts = 1'000'000;
  size_t batch = 1000;
  size_t queries = 200;
  std::string dir = "/tmp/halong-bench-store";
  bool keep = false;
  bool sync = true;
  size_t writers = 4;
};

constexpr int64_t kStart = 1'761'955'200'000'000;  // 2025-11-01T00:00:00Z
constexpr int64_t kDay = 86'400'000'000;
constexpr size_t kAgents = 200, kSids = 2000;

Alert make_alert(std::mt19937_64& rng, size_t i, size_t n, uint64_t seq, size_t agent) {
  Alert a;
  a.seq = seq;
  a.agent.id = "agent-" + std::to_string(agent);
  a.agent.hostname = a.agent.id + ".so-" + std::to_string(agent % 8) + ".gov.vn";
  a.agent.agency = "so-" + std::to_string(agent % 8);
  a.id = a.agent.id + ":" + std::to_string(seq);
  a.timestamp_us = kStart + static_cast<int64_t>(static_cast<double>(i) / static_cast<double>(n) * 30.0 * static_cast<double>(kDay));
  a.source = "network";
  // Skewed: a few rules fire a lot (Zipf-like via squaring).
  double u = std::uniform_real_distribution<double>(0, 1)(rng);
  uint64_t r = static_cast<uint64_t>(u * u * kSids);
  a.alert.signature_id = 2000000 + r;
  a.alert.rev = 3;
  a.alert.signature = "ET SCAN Suspicious inbound to port " + std::to_string(r) + " possible scan or exploit attempt";
  a.alert.category = r % 3 ? "Attempted Information Leak" : "Potentially Bad Traffic";
  a.alert.severity = static_cast<int>(r % 4 + 1);
  a.alert.engine = "suricata";
  a.alert.metadata = {{"created_at", {"2019_07_26"}}, {"updated_at", {"2024_01_10"}}};
  a.src_ip = "10." + std::to_string(rng() % 4) + "." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256);
  a.dest_ip = "192.168." + std::to_string(agent % 256) + "." + std::to_string(rng() % 32 + 1);
  a.src_port = static_cast<uint16_t>(1024 + rng() % 60000);
  a.dest_port = static_cast<uint16_t>(std::array<int, 6>{22, 80, 443, 445, 3389, 8080}[rng() % 6]);
  a.proto = "TCP";
  a.flow_id = rng();
  a.payload_printable = "GET /index.php?id=1%27%20OR%201=1 HTTP/1.1..Host: portal.example.gov.vn..User-Agent: sqlmap/1.7";
  return a;
}

// CPU time of this thread (ms): the query's own cost, without the time spent waiting for a
// core on a shared machine.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

uint64_t dir_bytes(const std::string& d) {
  uint64_t n = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(d))
    if (e.is_regular_file()) n += e.file_size();
  return n;
}

// The denominator: raw RocksDB, one WriteBatch of `batch` alerts (same JSON) + 3 key-only
// index entries each, sync=true, the index family with the fixed-prefix insert hint.
double raw_rate(const std::string& dir, const std::vector<std::string>& values, size_t batch, bool sync) {
  std::filesystem::remove_all(dir);
  rocksdb::Options o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  rocksdb::ColumnFamilyOptions idx;
  idx.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(5));
  rocksdb::ColumnFamilyOptions al;
  al.compression = rocksdb::kLZ4Compression;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs{{"default", rocksdb::ColumnFamilyOptions()}, {"alerts", al}, {"idx", idx}};
  std::vector<rocksdb::ColumnFamilyHandle*> h;
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::Open(o, dir, cfs, &h, &db).ok()) return 0;
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  std::mt19937 rng(1);
  auto t0 = Clock::now();
  size_t n = values.size();
  for (size_t i = 0; i < n; i += batch) {
    rocksdb::WriteBatch wb;
    for (size_t j = i; j < std::min(n, i + batch); ++j) {
      std::string key = keys::alert_key(kStart + static_cast<int64_t>(j), static_cast<uint32_t>(j % kAgents), j);
      wb.Put(h[1], key, values[j]);
      for (char tag : {'a', 'r', 's'}) {
        std::string ik(1, tag);
        keys::put_u32(ik, rng() % 2000);
        wb.Put(h[2], ik + key, "");
      }
    }
    if (!db->Write(wo, &wb).ok()) return 0;
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  for (auto* x : h) db->DestroyColumnFamilyHandle(x).PermitUncheckedError();
  delete db;
  std::filesystem::remove_all(dir);
  return static_cast<double>(n) / secs;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (s == "--alerts") a.alerts = std::stoull(next());
    else if (s == "--batch") a.batch = std::stoull(next());
    else if (s == "--queries") a.queries = std::stoull(next());
    else if (s == "--dir") a.dir = next();
    else if (s == "--keep") a.keep = true;
    else if (s == "--nosync") a.sync = false;
    else if (s == "--writers") a.writers = std::max<size_t>(1, std::stoull(next()));
    else {
      std::printf("usage: %s [--alerts N] [--batch B] [--queries Q] [--dir DIR] [--keep] [--nosync] [--writers W]\n", argv[0]);
      return s == "--help" ? 0 : 2;
    }
  }
  std::filesystem::remove_all(a.dir);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::printf("store bench: %zu alerts, batches of %zu, %zu queries per kind, dir %s\n", a.alerts, a.batch,
              a.queries, a.dir.c_str());

  // Generate per agent in time order (each agent's seq increases with time).
  std::mt19937_64 rng(42);
  std::vector<Alert> alerts;
  alerts.reserve(a.alerts);
  std::vector<uint64_t> seqs(kAgents, 0);
  for (size_t i = 0; i < a.alerts; ++i) {
    size_t ag = rng() % kAgents;
    alerts.push_back(make_alert(rng, i, a.alerts, ++seqs[ag], ag));
  }
  size_t json_bytes = 0;
  for (size_t i = 0; i < std::min<size_t>(alerts.size(), 10000); ++i) json_bytes += to_json_string(alerts[i]).size();
  std::printf("alert JSON: %.0f bytes on average\n", static_cast<double>(json_bytes) / static_cast<double>(std::min<size_t>(alerts.size(), 10000)));

  // ---- baseline: raw WriteBatch on a 200k sample ----
  {
    size_t n = std::min<size_t>(alerts.size(), 200'000);
    std::vector<std::string> values;
    for (size_t i = 0; i < n; ++i) values.push_back(to_json_string(alerts[i]));
    double raw = raw_rate(a.dir + "-raw", values, a.batch, a.sync);
    std::printf("raw RocksDB WriteBatch (sync, %zu/batch, 1 value + 3 index keys): %.0f alerts/s\n", a.batch, raw);

    // write_batch on the same sample in a scratch store, for the ratio.
    std::filesystem::remove_all(a.dir + "-wb");
    RocksOptions ro;
    ro.sync = a.sync;
    auto s = RocksStore::open(a.dir + "-wb", ro);
    if (!s) {
      std::fprintf(stderr, "%s\n", s.error().message.c_str());
      return 1;
    }
    std::vector<std::vector<Alert>> by_agent(kAgents);
    for (size_t i = 0; i < n; ++i) by_agent[std::stoul(alerts[i].agent.id.substr(6))].push_back(alerts[i]);
    // Batches of `batch` alerts of one agent, round robin (what the gateway sends).
    auto t0 = Clock::now();
    size_t stored = 0;
    std::vector<size_t> pos(kAgents, 0);
    for (bool more = true; more;) {
      more = false;
      for (size_t ag = 0; ag < kAgents; ++ag) {
        auto& v = by_agent[ag];
        if (pos[ag] >= v.size()) continue;
        size_t e = std::min(v.size(), pos[ag] + a.batch);
        std::vector<Alert> b(v.begin() + static_cast<long>(pos[ag]), v.begin() + static_cast<long>(e));
        pos[ag] = e;
        stored += s->get()->write_batch("agent-" + std::to_string(ag), b).value().stored;
        more = true;
      }
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("RocksStore::write_batch (sync, %zu/batch of one agent, 1 thread; 13 id/index entries + incident): %.0f alerts/s = %.2f x raw\n",
                a.batch, static_cast<double>(stored) / secs, static_cast<double>(stored) / secs / raw);
    s->reset();
    std::filesystem::remove_all(a.dir + "-wb");
  }

  // ---- load the big store through the API ----
  RocksOptions ro;
  ro.sync = a.sync;
  auto so = RocksStore::open(a.dir, ro);
  if (!so) {
    std::fprintf(stderr, "%s\n", so.error().message.c_str());
    return 1;
  }
  auto& s = *so;
  {
    // Load with `writers` threads, each owning kAgents / writers agents and sending batches
    // of up to `batch` alerts per agent: the gateway's shape (one connection per agent).
    std::vector<std::vector<Alert>> by_agent(kAgents);
    for (auto& x : alerts) by_agent[std::stoul(x.agent.id.substr(6))].push_back(x);
    auto t0 = Clock::now();
    std::clock_t c0 = std::clock();
    std::atomic<size_t> stored{0};
    std::vector<std::thread> ts;
    for (size_t w = 0; w < a.writers; ++w)
      ts.emplace_back([&, w] {
        std::vector<size_t> pos(kAgents, 0);
        for (bool more = true; more;) {
          more = false;
          for (size_t ag = w; ag < kAgents; ag += a.writers) {
            auto& v = by_agent[ag];
            if (pos[ag] >= v.size()) continue;
            size_t e = std::min(v.size(), pos[ag] + a.batch);
            std::vector<Alert> b(v.begin() + static_cast<long>(pos[ag]), v.begin() + static_cast<long>(e));
            pos[ag] = e;
            stored += s->write_batch("agent-" + std::to_string(ag), b).value().stored;
            more = true;
          }
        }
      });
    for (auto& t : ts) t.join();
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;  // process CPU, all threads
    std::printf("load: %zu alerts in %.1f s = %.0f alerts/s wall, %.0f alerts per CPU-second (sync, %zu writer threads, "
                "batches of up to %zu per agent, %llu grouped writes)\n",
                stored.load(), secs, static_cast<double>(stored) / secs, static_cast<double>(stored) / cpu, a.writers,
                a.batch, static_cast<unsigned long long>(s->write_groups()));
  }
  // Triage 1% of the alerts (acknowledged) so "agent + status" has something to find.
  {
    std::mt19937_64 r2(7);
    auto t0 = Clock::now();
    size_t n = a.alerts / 100;
    for (size_t i = 0; i < n; ++i) {
      TriageUpdate u;
      u.status = TriageStatus::acknowledged;
      (void)s->update_triage(alerts[r2() % alerts.size()].id, u, "bench", kStart);
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("triage: %zu single-alert updates, %.0f/s (each a synced write)\n", n, static_cast<double>(n) / secs);
  }

  // Let background flushes/compactions of the load finish: measure queries, not the
  // compaction competing for the (shared) cores.
  {
    auto t0 = Clock::now();
    for (int i = 0; i < 600; ++i) {
      uint64_t running = 0, pending = 0;
      s->db()->GetIntProperty("rocksdb.num-running-compactions", &running);
      s->db()->GetIntProperty("rocksdb.compaction-pending", &pending);
      if (running == 0 && pending == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    std::printf("waited %.1f s for background compaction to settle\n",
                std::chrono::duration<double>(Clock::now() - t0).count());
  }

  // ---- queries ----
  std::mt19937_64 qr(99);
  struct Kind {
    const char* name;
    std::function<void(AlertQuery&)> set;
  };
  std::vector<Kind> kinds = {
      {"no filter", [](AlertQuery&) {}},
      {"one agent", [&](AlertQuery& q) { q.agent = "agent-" + std::to_string(qr() % kAgents); }},
      {"one sid", [&](AlertQuery& q) {
         double u = std::uniform_real_distribution<double>(0, 1)(qr);
         q.sid = 2000000 + static_cast<uint64_t>(u * u * kSids);
       }},
      {"severity >= high", [](AlertQuery& q) { q.min_severity = 2; }},
      {"src /24", [&](AlertQuery& q) {
         q.src_net = parse_cidr("10." + std::to_string(qr() % 4) + "." + std::to_string(qr() % 256) + ".0/24").value();
       }},
      {"agent + status", [&](AlertQuery& q) {
         q.agent = "agent-" + std::to_string(qr() % kAgents);
         q.status = TriageStatus::acknowledged;
       }},
      {"agency + sev + port", [&](AlertQuery& q) {
         q.agency = "so-" + std::to_string(qr() % 8);
         q.min_severity = 1;
         q.port = 445;
       }},
      {"text in signature", [&](AlertQuery& q) { q.text = "port " + std::to_string(qr() % 50) + " possible"; }},
  };
  std::printf("\n%-22s %9s %9s %9s %10s %10s %8s\n", "newest-50 page", "p50 ms", "p99 ms", "max ms", "cpu p50", "cpu p99",
              "results");
  for (auto& k : kinds) {
    std::vector<double> ms, cpu;
    size_t results = 0;
    for (size_t i = 0; i < a.queries; ++i) {
      AlertQuery q;
      q.limit = 50;
      k.set(q);
      auto t0 = Clock::now();
      double c0 = thread_cpu_ms();
      auto p = s->query(q);
      cpu.push_back(thread_cpu_ms() - c0);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (p) results += p->alerts.size();
    }
    std::printf("%-22s %9.3f %9.3f %9.3f %10.3f %10.3f %8.1f\n", k.name, pct(ms, 0.5), pct(ms, 0.99), pct(ms, 1.0),
                pct(cpu, 0.5), pct(cpu, 0.99), static_cast<double>(results) / static_cast<double>(a.queries));
  }
  // Second page through the cursor (pagination cost).
  {
    std::vector<double> ms;
    for (size_t i = 0; i < a.queries; ++i) {
      AlertQuery q;
      q.limit = 50;
      q.agent = "agent-" + std::to_string(qr() % kAgents);
      auto p1 = s->query(q);
      q.cursor = p1->next_cursor;
      auto t0 = Clock::now();
      auto p2 = s->query(q);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::printf("%-22s %9.3f %9.3f %9.3f\n", "agent, 2nd page", pct(ms, 0.5), pct(ms, 0.99), pct(ms, 1.0));
  }
  // 30-day histogram (daily buckets), whole store and one agent.
  for (int which = 0; which < 2; ++which) {
    std::vector<double> ms;
    uint64_t total = 0;
    size_t reps = which == 0 ? 2 : std::min<size_t>(a.queries, 50);
    for (size_t i = 0; i < reps; ++i) {
      AlertQuery q;
      q.from_us = kStart;
      q.to_us = kStart + 30 * kDay;
      if (which == 1) q.agent = "agent-" + std::to_string(qr() % kAgents);
      StatsRequest r;
      r.field = StatsField::severity;
      r.bucket_us = kDay;
      auto t0 = Clock::now();
      auto st = s->stats(q, r);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (st) total += st->total;
    }
    std::printf("%-22s %9.1f %9.1f %9.1f %8.0f (ms; alerts counted)\n", which == 0 ? "30-day hist, all" : "30-day hist, 1 agent",
                pct(ms, 0.5), pct(ms, 0.99), pct(ms, 1.0), static_cast<double>(total) / static_cast<double>(reps));
  }
  // Size: flush every memtable, then the live SST bytes and the whole directory (WAL, logs).
  (void)s->flush();
  uint64_t sst = 0;
  for (auto n : {"default", "alerts", "ids", "agents", "cursors", "by_agent", "by_agency", "by_rule", "by_severity",
                 "by_ip", "by_port", "by_status", "by_assignee", "by_incident", "signatures", "triage", "incidents"}) {
    std::string v;
    if (s->db()->GetProperty(s->family(n), "rocksdb.live-sst-files-size", &v)) {
      sst += std::stoull(v);
      if (std::string(n) == "alerts")
        std::printf("\nalerts family: %.1f MB SST\n", static_cast<double>(std::stoull(v)) / 1e6);
    }
  }
  uint64_t bytes = dir_bytes(a.dir);
  double per_m = static_cast<double>(a.alerts) / 1e6;
  std::printf("live SST after flush: %.1f MB = %.1f MB per million alerts; whole directory %.1f MB = %.1f MB per million\n",
              static_cast<double>(sst) / 1e6, static_cast<double>(sst) / 1e6 / per_m, static_cast<double>(bytes) / 1e6,
              static_cast<double>(bytes) / 1e6 / per_m);
  so.value().reset();
  if (!a.keep) std::filesystem::remove_all(a.dir);
  return 0;
}
