// Ingest benchmark (issue 5): an agent simulator — many agents in one process, each enrolled
// with its own certificate and its own sequence — drives the collector's Gateway + RocksStore
// over loopback TLS. Prints alerts/s stored durably (acks only after the synced write) and
// p50/p99 batch ack latency at 1, 100 and 1,000 agents, next to the limit: RocksDB's own raw
// WriteBatch rate with the same sync setting, same alert size and index entries, measured in
// the same run.
//
//   halong_bench_ingest [--agents 1,100,1000] [--alerts 200000] [--batch 500] [--window 16]
//                       [--queue 16] [--warm 0|1|2] [--flush-ms 50] [--io-threads 2] [--store-threads 16]
//                       [--sim-threads 1] [--groups 24250] [--times synthetic|now] [--rate 0]
//                       [--incident-cache 0] [--dir /tmp] [--spool-dir DIR]   (bench/ingest/NOTES.md explains each)
//
// CPU is accounted per thread (each thread's CPU clock) over the timed phase: the
// collector's threads (gateway "hl-gw-io", "hl-gw-store", RocksDB's own) versus the
// simulated agents' uplink threads ("hl-uplink"), since on a 2-core machine both compete.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <time.h>
#include <unistd.h>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <pthread.h>

#include "agent/uplink/enroll.hpp"
#include "agent/uplink/uplink.hpp"
#include "collector/gateway/certs.hpp"
#include "collector/gateway/gateway.hpp"
#include "collector/gateway/registry.hpp"
#include "collector/store/rocks_store.hpp"

using namespace halong;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Alert timestamps: synthetic (agent i's k-th alert at T0 + k ms + i us: every agent's
// stream covers the same span, as agents' backlogs after an outage do) or the wall clock
// when produced (--times now: a live stream).
bool g_times_now = false;

// Incident groups (sid | agent | source) per agent: agent i's k-th alert is in group
// k mod g_groups, whose sid is 2,000,000 + group mod 97 and whose source ends in group mod
// 250. The default, 24,250 = 97 x 250, makes every alert of a run a new incident (the
// worst case for the store: two more records each); --groups 97 = a stream that repeats
// its groups, as real ones do.
uint64_t g_groups = 24'250;

Alert sample_alert(uint64_t k, int agent) {
  const uint64_t g = k % g_groups;
  Alert a;
  a.timestamp_us = g_times_now ? std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch()).count()
                               : 1'800'000'000'000'000 + static_cast<int64_t>(k) * 1000 + agent;
  a.source = "network";
  a.src_ip = "10.1." + std::to_string(agent % 250) + "." + std::to_string(g % 250);
  a.src_port = static_cast<uint16_t>(40000 + k % 20000);
  a.dest_ip = "203.0.113.7";
  a.dest_port = 443;
  a.proto = "TCP";
  a.flow_id = k * 7919;
  a.alert.signature_id = 2'000'000 + g % 97;
  a.alert.rev = 3;
  a.alert.signature = "ET POLICY Suspicious outbound TLS to rare destination (benchmark)";
  a.alert.category = "Potentially Bad Traffic";
  a.alert.severity = 2;
  a.alert.engine = "suricata";
  a.payload_printable = "GET /index.html HTTP/1.1..Host: example.test..User-Agent: bench..";
  return a;
}

struct Figures {
  double alerts_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  double secs = 0;
  uint64_t stored = 0;
  double batches_per_write = 0;
  double cpu_collector = 0;  // CPU seconds of the collector's threads (gateway io + store pool + RocksDB)
  double cpu_simulator = 0;  // CPU seconds of the simulated agents' uplink threads
  double cpu_other = 0;      // everything else in the process (bench main thread...)
  std::map<std::string, std::pair<double, int>> by_thread;  // name -> (CPU seconds, threads)
  double rss_mib = 0;        // the process's resident memory at the last ack (collector and simulator)
  // --rate only: how long production took and what was stored by then. The rate above
  // divides by the time to the last ack, which adds one flush interval and one ack
  // latency to a short run; stored-by-the-end-of-production over production time does not.
  double prod_secs = 0;
  uint64_t stored_at_prod_end = 0;
  // Stored per second from a quarter into production to its end: with a backlog that holds
  // steady (a collector keeping up), this is the offered rate; with one that grows, less.
  double steady_per_s = 0;
};

// A "Vm...:" line of /proc/self/status, in MiB (0 if absent).
double proc_status_mib(const char* field) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  double mib = 0;
  const size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, field, n) == 0) mib = std::strtod(line + n + 1, nullptr) / 1024.0;  // kB
  std::fclose(f);
  return mib;
}

// CPU seconds (user + system) of every thread of this process, by tid, with its name.
// /proc/self/task/*/stat counts in 10 ms ticks per thread (1,000 agent threads of a few ms
// each would round to 0), so the time comes from each thread's CPU clock instead: Linux
// encodes "thread <tid>'s CPU clock" as the clockid ((~tid) << 3) | 6 (CPUCLOCK_SCHED |
// CPUCLOCK_PERTHREAD), readable from any thread of the same process, in nanoseconds.
struct ThreadCpu {
  std::string name;
  double secs = 0;
};
std::map<int, ThreadCpu> thread_cpu() {
  std::map<int, ThreadCpu> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator("/proc/self/task", ec)) {
    int tid = std::atoi(e.path().filename().c_str());
    if (tid <= 0) continue;
    std::ifstream in(e.path() / "comm");
    ThreadCpu t;
    if (!std::getline(in, t.name)) continue;
    clockid_t clk = static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6u);
    timespec ts{};
    if (::clock_gettime(clk, &ts) != 0) continue;  // the thread ended meanwhile
    t.secs = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
    out[tid] = t;
  }
  return out;
}

// Adds the CPU used between two snapshots to the figures, by thread name: "hl-gw-*" and
// "rocksdb*" are the collector, "hl-uplink" the simulated agents.
void account_cpu(const std::map<int, ThreadCpu>& before, const std::map<int, ThreadCpu>& after, Figures& f) {
  for (const auto& [tid, t] : after) {
    double used = t.secs;
    if (auto it = before.find(tid); it != before.end()) used -= it->second.secs;
    f.by_thread[t.name].first += used;
    ++f.by_thread[t.name].second;
    if (t.name.rfind("hl-gw", 0) == 0 || t.name.rfind("rocksdb", 0) == 0) f.cpu_collector += used;
    else if (t.name.rfind("hl-store", 0) == 0) f.cpu_collector += used;
    else if (t.name.rfind("hl-uplink", 0) == 0) f.cpu_simulator += used;
    else f.cpu_other += used;
  }
}

// With HALONG_BENCH_MARK set, says on stderr when a timed phase starts (a profiler attached
// from outside, e.g. `perf record -p`, can then cover the timed phase alone).
void mark_timed_phase(int agents) {
  if (std::getenv("HALONG_BENCH_MARK")) {
    std::fprintf(stderr, "timed phase: %d agents\n", agents);
    std::fflush(stderr);
  }
}

double pct(std::vector<uint32_t>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))] / 1000.0;
}

// RocksDB raw: WriteBatch of `batch` alerts (JSON value in "alerts", 3 key-only index entries),
// WAL synced per batch: the limit for the store.
double raw_rocksdb(const fs::path& dir, uint64_t alerts, size_t batch) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {{rocksdb::kDefaultColumnFamilyName, {}}, {"alerts", {}}, {"index", {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> h;
  rocksdb::DB* db = nullptr;
  auto st = rocksdb::DB::Open(o, dir.string(), cfs, &h, &db);
  if (!st.ok()) {
    std::fprintf(stderr, "raw rocksdb: %s\n", st.ToString().c_str());
    return 0;
  }
  std::string value = to_json_string(sample_alert(1, 1));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  auto t0 = Clock::now();
  uint64_t n = 0;
  while (n < alerts) {
    rocksdb::WriteBatch wb;
    for (size_t i = 0; i < batch && n < alerts; ++i, ++n) {
      char key[20];
      uint64_t be = __builtin_bswap64(n);
      std::memcpy(key, &be, 8);
      std::memcpy(key + 8, "AGNT", 4);
      std::memcpy(key + 12, &be, 8);
      wb.Put(h[1], rocksdb::Slice(key, 20), value);
      for (char ix : {'a', 'r', 's'}) {
        char ik[21];
        ik[0] = ix;
        std::memcpy(ik + 1, key, 20);
        wb.Put(h[2], rocksdb::Slice(ik, 21), rocksdb::Slice());
      }
    }
    db->Write(wo, &wb);
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  for (auto* c : h) db->DestroyColumnFamilyHandle(c);
  delete db;
  return static_cast<double>(alerts) / secs;
}

struct RunOptions {
  size_t batch = 500;
  size_t window = 16;       // UplinkOptions::max_inflight_batches (the agent's default)
  int io_threads = 2;
  int store_threads = 16;  // the gateway's default
  size_t queue = 16;        // GatewayOptions::max_queued_batches (1: no merging of one agent's batches)
  bool warm = false;        // agents connected before the timed phase; alerts produced during it
  bool warm_blocks = false; // warm, each agent's alerts produced in one block (--warm 2) instead of round robin
  int flush_ms = 50;        // UplinkOptions::flush_interval (a partial batch leaves after this)
  size_t incident_cache = 0;  // RocksOptions::incident_cache_groups (0: the store's default)
  double rate = 0;          // --warm 1 only: alerts/s produced in all (0: as fast as possible)
  int sim_threads = 1;      // threads running every simulated agent's uplink (0: a thread per agent, as the agent runs)
  // Where the simulated agents keep their spools (empty: next to the collector's store, on
  // its disk). Real agents write their spools on their own hosts: a tmpfs here keeps the
  // simulator's file writes (ext4 block reservation, writeback) off the collector's disk
  // and cores; the collector's store stays where --dir says, WAL synced.
  fs::path spool_dir;
};

Figures run(const fs::path& dir, int agents, uint64_t total, const RunOptions& ro) {
  const size_t batch = ro.batch;
  Figures f;
  auto cert = collector::ensure_server_certificate(dir / "collector");
  auto reg = collector::Registry::open(dir / "collector");
  collector::RocksOptions rop;
  if (ro.incident_cache > 0) rop.incident_cache_groups = ro.incident_cache;
  auto store = collector::RocksStore::open((dir / "collector" / "store").string(), rop);
  if (!cert || !reg || !store) {
    std::fprintf(stderr, "setup failed\n");
    return f;
  }
  collector::GatewayOptions go;
  go.cert_file = cert->cert_file;
  go.key_file = cert->key_file;
  go.registry = reg->get();
  go.io_threads = ro.io_threads;
  go.store_threads = ro.store_threads;
  go.max_queued_batches = ro.queue;
  collector::Gateway gw(go, **store);
  if (!gw.start()) return f;
  auto token = (*reg)->create_token("so-bench", std::chrono::hours(1), static_cast<uint32_t>(agents), cert->fingerprint_sha256);
  // The simulated agents share one io_context run by --sim-threads threads (named like the
  // agent's own uplink thread, for the CPU accounting); declared before the uplinks, so it
  // outlives them.
  boost::asio::io_context sim_ioc(std::max(1, ro.sim_threads));
  auto sim_work = boost::asio::make_work_guard(sim_ioc);
  std::vector<std::thread> sim;
  for (int t = 0; t < ro.sim_threads; ++t)
    sim.emplace_back([&sim_ioc] {
      ::pthread_setname_np(::pthread_self(), "hl-uplink");
      sim_ioc.run();
    });
  struct JoinSim {
    decltype(sim_work)& work;
    std::vector<std::thread>& threads;
    ~JoinSim() {
      work.reset();
      for (auto& t : threads) t.join();
    }
  } join_sim{sim_work, sim};
  std::vector<std::unique_ptr<agent::Uplink>> ups;
  for (int i = 0; i < agents; ++i) {
    agent::EnrollOptions eo;
    eo.port = gw.port();
    eo.token = *token;
    eo.dir = dir / ("agent-" + std::to_string(i));
    eo.hostname = "bench-" + std::to_string(i);
    auto en = agent::enroll(eo);
    if (!en) {
      std::fprintf(stderr, "enroll: %s\n", en.error().message.c_str());
      return f;
    }
    agent::UplinkOptions o;
    o.port = gw.port();
    o.agent = AgentRef{en->agent_id, eo.hostname, en->agency};
    o.pinned_sha256 = en->collector_fingerprint;
    o.client_cert_file = en->cert_file;
    o.client_key_file = en->key_file;
    o.batch_size = batch;
    o.max_inflight_batches = ro.window;
    o.flush_interval = std::chrono::milliseconds(ro.flush_ms);
    o.heartbeat_interval = std::chrono::milliseconds(0);
    o.spool.dir = ro.spool_dir.empty() ? eo.dir / "spool" : ro.spool_dir / dir.filename() / eo.dir.filename();
    o.spool.fsync = agent::FsyncPolicy::never;  // measuring the collector's durable path
    o.spool.segment_bytes = 4u << 20;
    o.spool.max_bytes = uint64_t{16} << 30;  // a 2 M-alert run of one agent is ~1.3 GB: the 1 GiB default would drop
    if (ro.sim_threads > 0) o.io_context = &sim_ioc;
    auto u = agent::Uplink::create(o);
    if (!u) return f;
    ups.push_back(std::move(*u));
  }
  uint64_t per = total / static_cast<uint64_t>(agents);
  uint64_t warm_stored = 0;
  std::map<int, ThreadCpu> cpu0;
  collector::GatewayStats gs0;
  Clock::time_point t0;
  if (!ro.warm) {
    // Cold: fill the spools first, then start all uplinks and time until the last ack (every
    // agent connects, with its mutual-TLS handshake, inside the timed phase).
    for (int i = 0; i < agents; ++i)
      for (uint64_t k = 1; k <= per; ++k) (void)ups[static_cast<size_t>(i)]->submit(sample_alert(k, i));
    cpu0 = thread_cpu();
    gs0 = gw.stats();
    mark_timed_phase(agents);
    t0 = Clock::now();
    for (auto& u : ups) (void)u->start();
  } else {
    // Warm: every agent connects and delivers one alert first; then the timed phase, in
    // which this thread produces the alerts (round robin over the agents) while they are
    // delivered. Production CPU shows as "other".
    for (int i = 0; i < agents; ++i) {
      (void)ups[static_cast<size_t>(i)]->start();
      (void)ups[static_cast<size_t>(i)]->submit(sample_alert(0, i));
    }
    for (auto& u : ups) (void)u->flush_and_wait(std::chrono::minutes(5));
    warm_stored = (*store)->alert_count();
    cpu0 = thread_cpu();
    gs0 = gw.stats();
    mark_timed_phase(agents);
    t0 = Clock::now();
    if (ro.warm_blocks) {
      // --warm 2: each agent's alerts in one block (agent 0 first): full batches, as from
      // agents that come back after an outage on connections already up.
      for (int i = 0; i < agents; ++i)
        for (uint64_t k = 1; k <= per; ++k) (void)ups[static_cast<size_t>(i)]->submit(sample_alert(k, i));
    } else {
      // --rate: produced at that many alerts/s in all (paced every 256 alerts), so the ack
      // latency is measured below saturation rather than as queueing.
      uint64_t n = 0;
      const uint64_t quarter = per * static_cast<uint64_t>(agents) / 4;
      Clock::time_point tq;
      uint64_t stored_q = 0;
      for (uint64_t k = 1; k <= per; ++k)
        for (int i = 0; i < agents; ++i) {
          if (n == quarter && ro.rate > 0) {
            tq = Clock::now();
            stored_q = (*store)->alert_count();
          }
          (void)ups[static_cast<size_t>(i)]->submit(sample_alert(k, i));
          if (ro.rate > 0 && ++n % 256 == 0)
            std::this_thread::sleep_until(t0 + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(static_cast<double>(n) / ro.rate)));
        }
      if (ro.rate > 0) {  // the paced line (unpaced, production is just as fast as it goes)
        f.prod_secs = std::chrono::duration<double>(Clock::now() - t0).count();
        const uint64_t stored_end = (*store)->alert_count();
        f.stored_at_prod_end = stored_end - warm_stored;
        if (stored_q > 0)
          f.steady_per_s = static_cast<double>(stored_end - stored_q) / std::chrono::duration<double>(Clock::now() - tq).count();
      }
    }
  }
  for (auto& u : ups) (void)u->flush_and_wait(std::chrono::minutes(5));
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  account_cpu(cpu0, thread_cpu(), f);
  f.rss_mib = proc_status_mib("VmRSS:");
  auto gs = gw.stats();
  if (gs.store_writes > gs0.store_writes)
    f.batches_per_write = static_cast<double>(gs.batches_stored - gs0.batches_stored) / static_cast<double>(gs.store_writes - gs0.store_writes);
  std::vector<uint32_t> lat;
  for (auto& u : ups) {
    auto st = u->status();
    lat.insert(lat.end(), st.ack_latency_us.begin(), st.ack_latency_us.end());
    u->stop();
  }
  gw.stop();
  f.stored = (*store)->alert_count() - warm_stored;
  f.secs = secs;
  f.alerts_per_s = static_cast<double>(f.stored) / secs;
  f.p50_ms = pct(lat, 0.50);
  f.p99_ms = pct(lat, 0.99);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::err);
  std::vector<int> agent_counts = {1, 100, 1000};
  uint64_t alerts = 200'000;
  RunOptions ro;
  fs::path base = fs::temp_directory_path();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--agents") {
      agent_counts.clear();
      std::stringstream ss(v);
      std::string x;
      while (std::getline(ss, x, ',')) agent_counts.push_back(std::stoi(x));
    } else if (k == "--alerts") {
      alerts = std::stoull(v);
    } else if (k == "--batch") {
      ro.batch = std::stoul(v);
    } else if (k == "--window") {
      ro.window = std::stoul(v);
    } else if (k == "--flush-ms") {
      ro.flush_ms = std::stoi(v);
    } else if (k == "--warm") {
      ro.warm = v != "0";
      ro.warm_blocks = v == "2";
    } else if (k == "--queue") {
      ro.queue = std::stoul(v);
    } else if (k == "--io-threads") {
      ro.io_threads = std::stoi(v);
    } else if (k == "--store-threads") {
      ro.store_threads = std::stoi(v);
    } else if (k == "--incident-cache") {
      ro.incident_cache = std::stoul(v);
    } else if (k == "--times") {
      g_times_now = v == "now";
    } else if (k == "--rate") {
      ro.rate = std::stod(v);
    } else if (k == "--groups") {
      g_groups = std::max<uint64_t>(1, std::stoull(v));
    } else if (k == "--sim-threads") {
      ro.sim_threads = std::stoi(v);
    } else if (k == "--dir") {
      base = v;
    } else if (k == "--spool-dir") {
      ro.spool_dir = fs::path(v) / ("halong-bench-spools-" + std::to_string(::getpid()));
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  fs::path dir = base / ("halong-bench-ingest-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::printf("ingest benchmark (%s): %llu alerts, batch %zu, window %zu batches/agent, flush %d ms, gateway read-ahead %zu batches, io threads %d, store threads %d, simulator threads %s;\n"
              "loopback TLS 1.3 with mutual TLS, RocksDB WAL synced per write; %llu incident groups per agent; timestamps %s; %ld CPUs; agent spools %s\n",
              ro.warm_blocks ? "warm: agents connected first, each agent's alerts produced in one block during the run"
              : ro.warm    ? "warm: agents connected first, alerts produced round robin during the run"
                           : "cold: spools pre-filled, agents connect in the run",
              static_cast<unsigned long long>(alerts), ro.batch, ro.window, ro.flush_ms, ro.queue, ro.io_threads, ro.store_threads,
              ro.sim_threads > 0 ? std::to_string(ro.sim_threads).c_str() : "one per agent",
              static_cast<unsigned long long>(g_groups), g_times_now ? "wall clock" : "synthetic", ::sysconf(_SC_NPROCESSORS_ONLN),
              ro.spool_dir.empty() ? "next to the store" : ro.spool_dir.parent_path().c_str());
  double limit = raw_rocksdb(dir / "raw", alerts, 1000);
  std::printf("%-12s %10.0f alerts/s   (the limit: raw WriteBatch of 1000, sync=true)\n", "rocksdb raw", limit);
  {
    // Gone before the runs: the kernel would otherwise write its dirty pages back during them.
    std::error_code ec;
    fs::remove_all(dir / "raw", ec);
  }
  for (int n : agent_counts) {
    fs::path d = dir / ("run-" + std::to_string(n));
    uint64_t total = std::max<uint64_t>(alerts, static_cast<uint64_t>(n) * 10);
    auto f = run(d, n, total, ro);
    double stored = static_cast<double>(std::max<uint64_t>(1, f.stored));
    const uint64_t submitted = total / static_cast<uint64_t>(n) * static_cast<uint64_t>(n);
    if (f.stored != submitted)
      std::printf("      WARNING: %llu alerts stored of %llu submitted (the figure below counts the stored ones)\n",
                  static_cast<unsigned long long>(f.stored), static_cast<unsigned long long>(submitted));
    std::printf("%5d agents %10.0f alerts/s %5.1f%% of raw | ack p50 %8.2f ms p99 %8.2f ms | %4.1f batches/write | "
                "CPU: collector %5.2f s (%4.2f cores, %5.1f us/alert), simulator %5.2f s (%4.2f cores, %5.1f us/alert), other %4.2f s\n",
                n, f.alerts_per_s, limit > 0 ? 100.0 * f.alerts_per_s / limit : 0.0, f.p50_ms, f.p99_ms, f.batches_per_write,
                f.cpu_collector, f.cpu_collector / f.secs, 1e6 * f.cpu_collector / stored, f.cpu_simulator,
                f.cpu_simulator / f.secs, 1e6 * f.cpu_simulator / stored, f.cpu_other);
    if (f.prod_secs > 0) {
      // A collector that keeps up stores, while production runs, all but what the last
      // flush interval and ack latency hold: its backlog stays flat, whatever the run length.
      const double produced_per_s = static_cast<double>(submitted) / f.prod_secs;
      const uint64_t backlog = submitted - std::min(submitted, f.stored_at_prod_end);
      std::printf("      paced: produced %.0f alerts/s for %.2f s; stored %.0f alerts/s from a quarter into it to its end; "
                  "backlog at its end %llu alerts (%.0f ms of production)\n",
                  produced_per_s, f.prod_secs, f.steady_per_s, static_cast<unsigned long long>(backlog),
                  1e3 * static_cast<double>(backlog) / produced_per_s);
    }
    std::printf("      RSS at the last ack %.0f MiB (process: collector and simulator);", f.rss_mib);
    std::printf(" by thread:");
    for (const auto& [name, v] : f.by_thread)
      if (v.first >= 0.005) std::printf(" %s x%d %.2f s;", name.c_str(), v.second, v.first);
    std::printf("\n");
    std::fflush(stdout);
    std::error_code ec;
    fs::remove_all(d, ec);
    if (!ro.spool_dir.empty()) fs::remove_all(ro.spool_dir / d.filename(), ec);
  }
  if (agent_counts.size() > 0) {
    double again = raw_rocksdb(dir / "raw", alerts, 1000);
    std::printf("%-12s %10.0f alerts/s   (raw again after the runs: the machine's drift)\n", "rocksdb raw", again);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!ro.spool_dir.empty()) fs::remove_all(ro.spool_dir, ec);
  return 0;
}
