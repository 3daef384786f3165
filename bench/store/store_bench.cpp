// Store benchmark (issues 5 and 6 "Speed"), see docs/benchmarks-store.md:
//  1. ingest ratio: RocksStore::write_batch next to RocksDB's raw WriteBatch (the limit),
//     same sync setting, same generated alerts, same run: 1,000-alert batches from one
//     thread, and 100-alert batches from 8 concurrent writers;
//  2. load: N alerts (10 million for the issue) written through write_batch by W writer
//     threads, generated on the fly (nothing held in memory);
//  3. p50/p99 (wall and CPU) of newest-50 pages for the filters and of 30-day
//     histograms; store size per million alerts (live SST after flush and compaction).
//
//   halong_bench_store [--alerts N] [--dir DIR] [--batch 1000] [--writers 4] [--queries 200]
//                      [--ratio-only | --skip-ratio] [--query-only] [--keep] [--compact] [--nosync]
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
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
  bool ratio_only = false;
  bool skip_ratio = false;
  bool query_only = false;  // open an existing (--keep) store and only query it
  bool compact = false;     // full compaction before measuring the size
  size_t ratio_alerts = 200'000;
  size_t ratio_writers = 8;
  size_t ratio_small = 100;
};

constexpr int64_t kStart = 1'761'955'200'000'000;  // 2025-11-01T00:00:00Z
constexpr int64_t kDay = 86'400'000'000;
constexpr int64_t kSpan = 30 * kDay;
constexpr size_t kAgents = 400, kAgencies = 40, kSids = 5000, kScanners = 3000;

// ---- the generator -------------------------------------------------------------------
// A realistic mix: 400 agents in 40 agencies (agent volumes skewed), 5,000 rules (a few
// fire most: u^3), 80% network alerts (Suricata) and 20% log alerts (Sigma, no ports);
// sources: 60% from 3,000 recurring scanners spread over the internet, 40% internal
// (10.0.0.0/12); destinations in the agent's own /24; 30 days.
std::string agent_name(size_t ag) { return "agent-" + std::to_string(ag); }
std::string agency_name(size_t ag) { return "so-" + std::to_string(ag % kAgencies); }
std::string scanner_ip(uint64_t k) {
  uint64_t h = k * 0x9E3779B97F4A7C15ULL;
  return std::to_string(23 + (h >> 56) % 180) + "." + std::to_string((h >> 48) & 255) + "." +
         std::to_string((h >> 40) & 255) + "." + std::to_string(1 + (h >> 32) % 254);
}

Alert make_alert(std::mt19937_64& rng, int64_t ts, uint64_t seq, size_t agent) {
  Alert a;
  a.seq = seq;
  a.agent.id = agent_name(agent);
  a.agent.hostname = a.agent.id + ".local";
  a.agent.agency = agency_name(agent);
  a.id = a.agent.id + ":" + std::to_string(seq);
  a.timestamp_us = ts;
  std::uniform_real_distribution<double> U(0, 1);
  double u = U(rng);
  uint64_t r = static_cast<uint64_t>(u * u * u * kSids);
  bool log = r % 5 == 4;
  a.source = log ? "log" : "network";
  a.alert.signature_id = (log ? 9000000 : 2000000) + r;
  a.alert.rev = 3;
  a.alert.signature = log ? "Sigma: suspicious authentication pattern " + std::to_string(r)
                          : "ET SCAN Suspicious inbound to port " + std::to_string(r) + " possible scan or exploit attempt";
  a.alert.category = log ? "authentication" : (r % 3 ? "Attempted Information Leak" : "Potentially Bad Traffic");
  a.alert.severity = static_cast<int>(r % 4 + 1);
  a.alert.engine = log ? "sigma" : "suricata";
  a.alert.metadata = {{"created_at", {"2019_07_26"}}, {"updated_at", {"2024_01_10"}}};
  if (U(rng) < 0.6) {
    double v = U(rng);
    a.src_ip = scanner_ip(static_cast<uint64_t>(v * v * kScanners));
  } else {
    a.src_ip = "10." + std::to_string(rng() % 16) + "." + std::to_string(rng() % 256) + "." + std::to_string(1 + rng() % 254);
  }
  a.dest_ip = "172." + std::to_string(16 + agent % 16) + "." + std::to_string(agent / 16 % 256) + "." +
              std::to_string(rng() % 32 + 1);
  if (log) {
    a.log = LogContext{"/var/log/auth.log", rng() % 100'000'000,
                       "Failed password for invalid user admin from " + a.src_ip + " port 4242 ssh2", "sshd"};
  } else {
    a.src_port = static_cast<uint16_t>(1024 + rng() % 60000);
    a.dest_port = static_cast<uint16_t>(std::array<int, 8>{22, 80, 443, 445, 3389, 8080, 53, 25}[rng() % 8]);
    a.proto = "TCP";
    a.flow_id = rng() >> 12;
    a.payload_printable = "GET /index.php?id=1%27%20OR%201=1 HTTP/1.1..Host: portal.example.gov.vn..User-Agent: sqlmap/1.7";
  }
  return a;
}

// One writer's share: agents w, w+W, w+2W... (skewed volumes), timestamps advancing over
// the 30 days with this writer's progress. Calls emit(agent, batch) for full batches.
struct WriterGen {
  std::mt19937_64 rng;
  std::vector<size_t> agents;
  std::vector<uint64_t> seq;
  std::vector<std::vector<Alert>> pending;
  WriterGen(size_t w, size_t writers) : rng(1000 + w) {
    for (size_t ag = w; ag < kAgents; ag += writers) agents.push_back(ag);
    seq.assign(agents.size(), 0);
    pending.resize(agents.size());
  }
  template <class Emit>
  void run(size_t n, size_t batch, Emit&& emit) {
    std::uniform_real_distribution<double> U(0, 1);
    for (size_t i = 0; i < n; ++i) {
      double u = U(rng);
      size_t k = static_cast<size_t>(u * u * static_cast<double>(agents.size()));
      int64_t ts = kStart + static_cast<int64_t>(static_cast<double>(i) / static_cast<double>(n) * static_cast<double>(kSpan)) +
                   static_cast<int64_t>(rng() % 1000);
      pending[k].push_back(make_alert(rng, ts, ++seq[k], agents[k]));
      if (pending[k].size() >= batch) {
        emit(agents[k], pending[k]);
        pending[k].clear();
      }
    }
    for (size_t k = 0; k < agents.size(); ++k)
      if (!pending[k].empty()) {
        emit(agents[k], pending[k]);
        pending[k].clear();
      }
  }
};

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}
double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}
uint64_t dir_bytes(const std::string& d) {
  uint64_t n = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(d))
    if (e.is_regular_file()) n += e.file_size();
  return n;
}

struct Rate {
  double per_s = 0;
  double per_cpu_s = 0;  // alerts per CPU-second of the whole process (all threads)
};

// The denominator: raw RocksDB, WriteBatches of `batch` alerts (the same JSON) + 3 key-only
// index entries each, with `sync`, the index family with the fixed-prefix insert hint
// (DESIGN.md's baseline shape), from `writers` threads (RocksDB groups concurrent writers).
Rate raw_rate(const std::string& dir, const std::vector<std::string>& values, size_t batch, bool sync, size_t writers) {
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
  if (!rocksdb::DB::Open(o, dir, cfs, &h, &db).ok()) return {};
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  const size_t n = values.size();
  std::atomic<size_t> next{0};
  auto t0 = Clock::now();
  double c0 = process_cpu_s();
  std::vector<std::thread> ts;
  for (size_t w = 0; w < writers; ++w)
    ts.emplace_back([&, w] {
      std::mt19937 rng(static_cast<uint32_t>(w + 1));
      for (;;) {
        size_t i = next.fetch_add(batch);
        if (i >= n) return;
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
        if (!db->Write(wo, &wb).ok()) std::abort();
      }
    });
  for (auto& t : ts) t.join();
  Rate r;
  r.per_s = static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - t0).count();
  r.per_cpu_s = static_cast<double>(n) / (process_cpu_s() - c0);
  for (auto* x : h) db->DestroyColumnFamilyHandle(x).PermitUncheckedError();
  delete db;
  std::filesystem::remove_all(dir);
  return r;
}

// write_batch on a fresh store: each of `writers` threads owns every writers-th agent and
// sends batches of up to `batch` alerts of one agent, round robin (the gateway's shape).
Rate store_rate(const std::string& dir, const std::vector<std::vector<Alert>>& by_agent, size_t batch, bool sync,
                size_t writers, uint64_t* groups) {
  std::filesystem::remove_all(dir);
  RocksOptions ro;
  ro.sync = sync;
  auto s = RocksStore::open(dir, ro);
  if (!s) {
    std::fprintf(stderr, "%s\n", s.error().message.c_str());
    std::exit(1);
  }
  // The batches each writer sends, cut before the clock starts (the raw baseline does not
  // copy alerts either).
  struct B {
    std::string agent;
    std::vector<Alert> alerts;
  };
  std::vector<std::vector<B>> plan(writers);
  for (size_t w = 0; w < writers; ++w) {
    std::vector<size_t> pos(by_agent.size(), 0);
    for (bool more = true; more;) {
      more = false;
      for (size_t ag = w; ag < by_agent.size(); ag += writers) {
        auto& v = by_agent[ag];
        if (pos[ag] >= v.size()) continue;
        size_t e = std::min(v.size(), pos[ag] + batch);
        plan[w].push_back({agent_name(ag), std::vector<Alert>(v.begin() + static_cast<long>(pos[ag]), v.begin() + static_cast<long>(e))});
        pos[ag] = e;
        more = true;
      }
    }
  }
  std::atomic<size_t> stored{0};
  auto t0 = Clock::now();
  double c0 = process_cpu_s();
  std::vector<std::thread> ts;
  for (size_t w = 0; w < writers; ++w)
    ts.emplace_back([&, w] {
      for (const auto& b : plan[w]) {
        auto r = (*s)->write_batch(b.agent, b.alerts);
        if (!r) {
          std::fprintf(stderr, "write_batch: %s\n", r.error().message.c_str());
          std::exit(1);
        }
        stored += r->stored;
      }
    });
  for (auto& t : ts) t.join();
  Rate r;
  r.per_s = static_cast<double>(stored) / std::chrono::duration<double>(Clock::now() - t0).count();
  r.per_cpu_s = static_cast<double>(stored) / (process_cpu_s() - c0);
  if (groups) *groups = (*s)->write_groups();
  s->reset();
  std::filesystem::remove_all(dir);
  return r;
}

void ratio(const Args& a) {
  // The same sample for every line: alerts of the writers' generators, in memory.
  std::vector<std::vector<Alert>> by_agent(kAgents);
  std::vector<std::string> values;
  const size_t gen_writers = 4;
  for (size_t w = 0; w < gen_writers; ++w) {
    WriterGen g(w, gen_writers);
    g.run(a.ratio_alerts / gen_writers, 1, [&](size_t ag, std::vector<Alert>& b) {
      for (auto& x : b) {
        values.push_back(to_json_string(x));
        by_agent[ag].push_back(std::move(x));
      }
    });
  }
  double bytes = 0;
  for (auto& v : values) bytes += static_cast<double>(v.size());
  std::printf("ratio sample: %zu alerts, alert JSON %.0f bytes on average, sync %s\n", values.size(),
              bytes / static_cast<double>(values.size()), a.sync ? "on" : "off");
  auto line = [](const char* what, Rate r, double raw_per_s, double raw_cpu) {
    std::printf("  %-58s %8.0f alerts/s", what, r.per_s);
    if (raw_per_s > 0) std::printf(" = %.2fx raw", r.per_s / raw_per_s);
    std::printf("; %7.0f per CPU-s", r.per_cpu_s);
    if (raw_cpu > 0) std::printf(" = %.2fx raw", r.per_cpu_s / raw_cpu);
    std::printf("\n");
  };
  Rate raw1 = raw_rate(a.dir + "-raw", values, 1000, a.sync, 1);
  line("raw WriteBatch, 1,000/batch, 1 thread", raw1, 0, 0);
  uint64_t groups = 0;
  Rate wb1 = store_rate(a.dir + "-wb", by_agent, 1000, a.sync, 1, &groups);
  line("write_batch, 1,000/batch of one agent, 1 thread", wb1, raw1.per_s, raw1.per_cpu_s);
  Rate rawm = raw_rate(a.dir + "-raw", values, a.ratio_small, a.sync, a.ratio_writers);
  char what[128];
  std::snprintf(what, sizeof what, "raw WriteBatch, %zu/batch, %zu threads", a.ratio_small, a.ratio_writers);
  line(what, rawm, 0, 0);
  Rate wbm = store_rate(a.dir + "-wb", by_agent, a.ratio_small, a.sync, a.ratio_writers, &groups);
  std::snprintf(what, sizeof what, "write_batch, %zu/batch of one agent, %zu writers", a.ratio_small, a.ratio_writers);
  line(what, wbm, rawm.per_s, rawm.per_cpu_s);
  std::printf("  (%zu-writer write_batch run: %llu RocksDB write groups for %zu batches)\n", a.ratio_writers,
              static_cast<unsigned long long>(groups), (values.size() + a.ratio_small - 1) / a.ratio_small);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : "0"; };
    if (s == "--alerts") a.alerts = std::stoull(next());
    else if (s == "--batch") a.batch = std::max<size_t>(1, std::stoull(next()));
    else if (s == "--queries") a.queries = std::max<size_t>(1, std::stoull(next()));
    else if (s == "--dir") a.dir = next();
    else if (s == "--keep") a.keep = true;
    else if (s == "--nosync") a.sync = false;
    else if (s == "--writers") a.writers = std::max<size_t>(1, std::stoull(next()));
    else if (s == "--ratio-only") a.ratio_only = true;
    else if (s == "--skip-ratio") a.skip_ratio = true;
    else if (s == "--ratio-alerts") a.ratio_alerts = std::max<size_t>(1000, std::stoull(next()));
    else if (s == "--query-only") a.query_only = true;
    else if (s == "--compact") a.compact = true;
    else {
      std::printf(
          "usage: %s [--alerts N] [--dir DIR] [--batch B] [--writers W] [--queries Q] [--ratio-only | --skip-ratio]\n"
          "          [--ratio-alerts N] [--query-only] [--keep] [--compact] [--nosync]\n",
          argv[0]);
      return s == "--help" ? 0 : 2;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (!a.query_only && !a.skip_ratio) ratio(a);
  if (a.ratio_only) return 0;

  // ---- load the big store through the API ----
  if (!a.query_only) std::filesystem::remove_all(a.dir);
  RocksOptions ro;
  ro.sync = a.sync;
  auto so = RocksStore::open(a.dir, ro);
  if (!so) {
    std::fprintf(stderr, "%s\n", so.error().message.c_str());
    return 1;
  }
  auto& s = *so;
  std::vector<uint64_t> per_agent(kAgents, 0);
  if (!a.query_only) {
    std::printf("\nload: %zu alerts through write_batch (sync %s), %zu writer threads, batches of up to %zu alerts of one agent, into %s\n",
                a.alerts, a.sync ? "on" : "off", a.writers, a.batch, a.dir.c_str());
    std::atomic<size_t> stored{0};
    auto t0 = Clock::now();
    double c0 = process_cpu_s();
    std::vector<std::thread> ts;
    std::atomic<size_t> next_report{1'000'000};
    for (size_t w = 0; w < a.writers; ++w)
      ts.emplace_back([&, w] {
        WriterGen g(w, a.writers);
        g.run(a.alerts / a.writers + (w < a.alerts % a.writers ? 1 : 0), a.batch, [&](size_t ag, std::vector<Alert>& b) {
          auto r = s->write_batch(agent_name(ag), b);
          if (!r) {
            std::fprintf(stderr, "write_batch: %s\n", r.error().message.c_str());
            std::exit(1);
          }
          size_t now = stored += r->stored;
          size_t rep = next_report.load();
          if (now >= rep && next_report.compare_exchange_strong(rep, rep + 1'000'000))
            std::printf("  %zu alerts, %.0f s, %.0f alerts/s so far\n", now,
                        std::chrono::duration<double>(Clock::now() - t0).count(),
                        static_cast<double>(now) / std::chrono::duration<double>(Clock::now() - t0).count());
        });
      });
    for (auto& t : ts) t.join();
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    double cpu = process_cpu_s() - c0;
    std::printf("load: %zu alerts in %.1f s = %.0f alerts/s wall, %.0f alerts per CPU-second (generation included), "
                "%llu RocksDB write groups\n",
                stored.load(), secs, static_cast<double>(stored) / secs, static_cast<double>(stored) / cpu,
                static_cast<unsigned long long>(s->write_groups()));
  }
  for (size_t ag = 0; ag < kAgents; ++ag) { auto h = s->highest_seq(agent_name(ag)); per_agent[ag] = h ? *h : 0; }
  std::printf("store holds %llu alerts\n", static_cast<unsigned long long>(s->alert_count()));

  // Triage 1 in 1,000 alerts to `acknowledged` (each a synced single-alert update) so that
  // "agent + status acknowledged" has something to find.
  if (!a.query_only) {
    std::mt19937_64 r2(7);
    auto t0 = Clock::now();
    size_t n = std::max<size_t>(1, s->alert_count() / 1000), done = 0;
    for (size_t i = 0; i < n; ++i) {
      size_t ag = r2() % kAgents;
      if (per_agent[ag] == 0) continue;
      TriageUpdate u;
      u.status = TriageStatus::acknowledged;
      done += s->update_triage(agent_name(ag) + ":" + std::to_string(1 + r2() % per_agent[ag]), u, "bench", kStart).ok();
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("triage: %zu single-alert updates, %.0f/s (each a synced write)\n", done, static_cast<double>(done) / secs);
  }

  // Let background flushes/compactions of the load finish: measure queries, not the
  // compaction competing for the (shared) cores.
  {
    auto t0 = Clock::now();
    for (int i = 0; i < 1200; ++i) {
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
  auto rand_agent = [&] { return agent_name(qr() % kAgents); };
  auto rand_src24 = [&] {
    std::string ip;
    if (qr() % 10 < 6) {
      std::uniform_real_distribution<double> U(0, 1);
      double v = U(qr);
      ip = scanner_ip(static_cast<uint64_t>(v * v * kScanners));
    } else {
      ip = "10." + std::to_string(qr() % 16) + "." + std::to_string(qr() % 256) + ".1";
    }
    return parse_cidr(ip.substr(0, ip.rfind('.')) + ".0/24").value();
  };
  struct Kind {
    const char* name;
    std::function<void(AlertQuery&)> set;
  };
  std::vector<Kind> kinds = {
      {"no filter", [](AlertQuery&) {}},
      {"one agent", [&](AlertQuery& q) { q.agent = rand_agent(); }},
      {"one sid", [&](AlertQuery& q) {
         std::uniform_real_distribution<double> U(0, 1);
         double u = U(qr);
         uint64_t r = static_cast<uint64_t>(u * u * u * kSids);
         q.sid = (r % 5 == 4 ? 9000000 : 2000000) + r;
       }},
      {"severity >= high", [](AlertQuery& q) { q.min_severity = 2; }},
      {"src /24", [&](AlertQuery& q) { q.src_net = rand_src24(); }},
      {"agent + status new", [&](AlertQuery& q) {
         q.agent = rand_agent();
         q.status = TriageStatus::fresh;
       }},
      {"agent + status ack", [&](AlertQuery& q) {
         q.agent = rand_agent();
         q.status = TriageStatus::acknowledged;
       }},
      {"agency scope + sev", [&](AlertQuery& q) {
         q.scope = std::vector<std::string>{agency_name(qr() % kAgencies), agency_name(qr() % kAgencies)};
         q.min_severity = 1;
       }},
      {"agency + sev + port", [&](AlertQuery& q) {
         q.agency = agency_name(qr() % kAgencies);
         q.min_severity = 1;
         q.port = 445;
       }},
      {"text in signature", [&](AlertQuery& q) { q.text = "port " + std::to_string(qr() % 50) + " possible"; }},
  };
  std::printf("\n%-22s %9s %9s %9s %10s %10s %8s\n", "newest-50 page", "p50 ms", "p99 ms", "max ms", "cpu p50",
              "cpu p99", "results");
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
      else std::printf("query %s failed: %s\n", k.name, p.error().message.c_str());
    }
    std::printf("%-22s %9.3f %9.3f %9.3f %10.3f %10.3f %8.1f\n", k.name, pct(ms, 0.5), pct(ms, 0.99), pct(ms, 1.0),
                pct(cpu, 0.5), pct(cpu, 0.99), static_cast<double>(results) / static_cast<double>(a.queries));
  }
  {
    // Second page through the cursor (pagination cost).
    std::vector<double> ms, cpu;
    for (size_t i = 0; i < a.queries; ++i) {
      AlertQuery q;
      q.limit = 50;
      q.agent = rand_agent();
      auto p1 = s->query(q);
      if (!p1 || p1->next_cursor.empty()) continue;
      q.cursor = p1->next_cursor;
      auto t0 = Clock::now();
      double c0 = thread_cpu_ms();
      auto p2 = s->query(q);
      cpu.push_back(thread_cpu_ms() - c0);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::printf("%-22s %9.3f %9.3f %9.3f %10.3f %10.3f\n", "agent, 2nd page", pct(ms, 0.5), pct(ms, 0.99), pct(ms, 1.0),
                pct(cpu, 0.5), pct(cpu, 0.99));
  }
  // 30-day histograms (daily buckets, counts by severity).
  std::printf("\n%-30s %9s %9s %9s %10s %10s %10s\n", "30-day histogram", "p50 ms", "p99 ms", "max ms", "cpu p50",
              "cpu p99", "counted");
  for (int which = 0; which < 3; ++which) {
    std::vector<double> ms, cpu;
    uint64_t total = 0;
    size_t reps = a.queries;
    for (size_t i = 0; i < reps; ++i) {
      AlertQuery q;
      q.from_us = kStart;
      q.to_us = kStart + kSpan;
      if (which == 1) q.scope = std::vector<std::string>{agency_name(qr() % kAgencies)};
      if (which == 2) q.agent = rand_agent();
      StatsRequest r;
      r.field = StatsField::severity;
      r.bucket_us = kDay;
      auto t0 = Clock::now();
      double c0 = thread_cpu_ms();
      auto st = s->stats(q, r);
      cpu.push_back(thread_cpu_ms() - c0);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (st) total += st->total;
    }
    const char* name = which == 0 ? "all alerts" : which == 1 ? "one agency (scope)" : "one agent";
    std::printf("%-30s %9.2f %9.2f %9.2f %10.2f %10.2f %10.0f\n", name, pct(ms, 0.5), pct(ms, 0.99), pct(ms, 1.0),
                pct(cpu, 0.5), pct(cpu, 0.99), static_cast<double>(total) / static_cast<double>(reps));
  }

  // ---- size: flush every memtable (and compact when asked), then the live SST bytes ----
  (void)s->flush();
  if (a.compact) {
    auto t0 = Clock::now();
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    for (auto n : {"alerts", "ids", "by_rule", "by_severity", "by_ip", "by_port", "by_status", "by_agent_status",
                   "incidents", "counts", "counts_day", "counts_agent_day", "cursors", "agents", "signatures", "triage",
                   "default"})
      if (auto* h = s->family(n)) (void)s->db()->CompactRange(co, h, nullptr, nullptr);
    std::printf("\nfull compaction: %.0f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
  }
  uint64_t sst = 0;
  double per_m = static_cast<double>(s->alert_count()) / 1e6;
  std::printf("\n%-16s %12s %14s\n", "family", "SST MB", "MB per million");
  for (auto n : {"alerts", "ids", "by_rule", "by_severity", "by_ip", "by_port", "by_status", "by_agent_status",
                 "by_assignee", "incidents", "triage", "counts", "counts_day", "counts_agent_day", "signatures", "cursors",
                 "agents", "default"}) {
    auto* h = s->family(n);
    std::string v;
    if (h && s->db()->GetProperty(h, "rocksdb.live-sst-files-size", &v)) {
      uint64_t b = std::stoull(v);
      sst += b;
      if (b > 100'000) std::printf("%-16s %12.1f %14.1f\n", n, static_cast<double>(b) / 1e6, static_cast<double>(b) / 1e6 / per_m);
    }
  }
  uint64_t bytes = dir_bytes(a.dir);
  std::printf("live SST%s: %.1f MB = %.1f MB per million alerts; whole directory %.1f MB\n",
              a.compact ? " after full compaction" : " after flush", static_cast<double>(sst) / 1e6,
              static_cast<double>(sst) / 1e6 / per_m, static_cast<double>(bytes) / 1e6);
  so.value().reset();
  if (!a.keep) std::filesystem::remove_all(a.dir);
  return 0;
}
