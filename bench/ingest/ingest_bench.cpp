// Ingest benchmark (issue 5): an agent simulator — many agents in one process, each enrolled
// with its own certificate and its own sequence — drives the collector's Gateway + RocksStore
// over loopback TLS. Prints alerts/s stored durably (acks only after the synced write) and
// p50/p99 batch ack latency at 1, 100 and 1,000 agents, next to the limit: RocksDB's own raw
// WriteBatch rate with the same sync setting, same alert size and index entries, measured in
// the same run.
//
//   halong_bench_ingest [--agents 1,100,1000] [--alerts 200000] [--batch 500] [--dir /tmp]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

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

Alert sample_alert(uint64_t k, int agent) {
  Alert a;
  a.timestamp_us = 1'800'000'000'000'000 + static_cast<int64_t>(k) * 1000 + agent;
  a.source = "network";
  a.src_ip = "10.1." + std::to_string(agent % 250) + "." + std::to_string(k % 250);
  a.src_port = static_cast<uint16_t>(40000 + k % 20000);
  a.dest_ip = "203.0.113.7";
  a.dest_port = 443;
  a.proto = "TCP";
  a.flow_id = k * 7919;
  a.alert.signature_id = 2'000'000 + k % 97;
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
};

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

Figures run(const fs::path& dir, int agents, uint64_t total, size_t batch) {
  Figures f;
  auto cert = collector::ensure_server_certificate(dir / "collector");
  auto reg = collector::Registry::open(dir / "collector");
  auto store = collector::RocksStore::open((dir / "collector" / "store").string());
  if (!cert || !reg || !store) {
    std::fprintf(stderr, "setup failed\n");
    return f;
  }
  collector::GatewayOptions go;
  go.cert_file = cert->cert_file;
  go.key_file = cert->key_file;
  go.registry = reg->get();
  go.io_threads = 2;
  go.store_threads = 8;
  collector::Gateway gw(go, **store);
  if (!gw.start()) return f;
  auto token = (*reg)->create_token("so-bench", std::chrono::hours(1), static_cast<uint32_t>(agents), cert->fingerprint_sha256);
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
    o.flush_interval = std::chrono::milliseconds(5);
    o.heartbeat_interval = std::chrono::milliseconds(0);
    o.spool.dir = eo.dir / "spool";
    o.spool.fsync = agent::FsyncPolicy::never;  // measuring the collector's durable path
    o.spool.segment_bytes = 4u << 20;
    auto u = agent::Uplink::create(o);
    if (!u) return f;
    ups.push_back(std::move(*u));
  }
  // Fill the spools first, then start all uplinks and time until the last ack: the
  // collector is the bottleneck being measured, not alert production.
  uint64_t per = total / static_cast<uint64_t>(agents);
  for (int i = 0; i < agents; ++i)
    for (uint64_t k = 1; k <= per; ++k) (void)ups[static_cast<size_t>(i)]->submit(sample_alert(k, i));
  auto t0 = Clock::now();
  for (auto& u : ups) (void)u->start();
  for (auto& u : ups) (void)u->flush_and_wait(std::chrono::minutes(5));
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<uint32_t> lat;
  for (auto& u : ups) {
    auto st = u->status();
    lat.insert(lat.end(), st.ack_latency_us.begin(), st.ack_latency_us.end());
    u->stop();
  }
  gw.stop();
  f.alerts_per_s = static_cast<double>((*store)->alert_count()) / secs;
  f.p50_ms = pct(lat, 0.50);
  f.p99_ms = pct(lat, 0.99);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::err);
  std::vector<int> agent_counts = {1, 100, 1000};
  uint64_t alerts = 200'000;
  size_t batch = 500;
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
      batch = std::stoul(v);
    } else if (k == "--dir") {
      base = v;
    }
  }
  fs::path dir = base / ("halong-bench-ingest-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::printf("ingest benchmark: %llu alerts, batch %zu, loopback TLS 1.3 with mutual TLS, RocksDB WAL synced per write\n",
              static_cast<unsigned long long>(alerts), batch);
  double limit = raw_rocksdb(dir / "raw", alerts, 1000);
  std::printf("%-28s %12.0f alerts/s   (the limit: raw WriteBatch of 1000, sync=true)\n", "rocksdb raw", limit);
  for (int n : agent_counts) {
    fs::path d = dir / ("run-" + std::to_string(n));
    uint64_t total = std::max<uint64_t>(alerts, static_cast<uint64_t>(n) * 10);
    auto f = run(d, n, total, batch);
    std::printf("%-6d agents %15s %12.0f alerts/s   %5.1f%% of raw   ack p50 %7.2f ms  p99 %7.2f ms\n", n, "", f.alerts_per_s,
                limit > 0 ? 100.0 * f.alerts_per_s / limit : 0.0, f.p50_ms, f.p99_ms);
    std::error_code ec;
    fs::remove_all(d, ec);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
