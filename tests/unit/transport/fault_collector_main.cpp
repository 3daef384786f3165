// Test-only collector process for the fault tests: RocksStore + Gateway, nothing else.
//   halong_test_collector DATA_DIR PORT TOKEN [MIN_FREE_BYTES]
// Prints "READY <port> <fingerprint>" on stdout once listening; runs until SIGTERM/SIGINT
// (or kill -9, which is the point). On SIGTERM prints "STORED <alert_count>" and exits 0.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>

#include "collector/gateway/certs.hpp"
#include "collector/gateway/gateway.hpp"
#include "collector/store/rocks_store.hpp"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s DATA_DIR PORT TOKEN\n", argv[0]);
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  std::string dir = argv[1];
  auto port = static_cast<uint16_t>(std::atoi(argv[2]));
  auto cert = halong::collector::ensure_server_certificate(dir);
  if (!cert) {
    std::fprintf(stderr, "cert: %s\n", cert.error().message.c_str());
    return 1;
  }
  auto store = halong::collector::RocksStore::open(dir + "/store");
  if (!store) {
    std::fprintf(stderr, "store: %s\n", store.error().message.c_str());
    return 1;
  }
  halong::collector::GatewayOptions o;
  o.port = port;
  o.cert_file = cert->cert_file;
  o.key_file = cert->key_file;
  o.enrollment_token = argv[3];
  o.retry_after_ms = 300;
  o.store_dir = dir;
  o.min_free_bytes = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 0;
  halong::collector::Gateway gw(o, **store);
  if (auto s = gw.start(); !s) {
    std::fprintf(stderr, "gateway: %s\n", s.error().message.c_str());
    return 1;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::printf("READY %u %s\n", gw.port(), cert->fingerprint_sha256.c_str());
  std::fflush(stdout);
  uint64_t last_stalled = 0;
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto st = gw.stats();
    if (st.ingest_stalled != (last_stalled != 0)) {
      last_stalled = st.ingest_stalled;
      std::printf("STALLED %d\n", st.ingest_stalled ? 1 : 0);
      std::fflush(stdout);
    }
  }
  gw.stop();
  std::printf("STORED %llu\n", static_cast<unsigned long long>((*store)->alert_count()));
  std::fflush(stdout);
  return 0;
}
