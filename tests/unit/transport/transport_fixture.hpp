// Helpers shared by the transport tests: temp dirs, a collector on loopback, an agent,
// a store decorator that injects faults, and a raw TLS WebSocket client for bad frames.
#pragma once

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "agent/uplink/uplink.hpp"
#include "collector/gateway/certs.hpp"
#include "collector/gateway/gateway.hpp"
#include "collector/store/memory_store.hpp"
#include "core/wire.hpp"

namespace halong::testing {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag = "transport") {
    static std::atomic<int> n{0};
    path = fs::temp_directory_path() /
           ("halong-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + "-" +
            std::to_string(std::random_device{}()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

inline std::chrono::milliseconds ms(long n) { return std::chrono::milliseconds(n); }

// Forwards to an inner store; can be told to fail writes (disk full) or slow them down.
class FaultStore final : public collector::AlertStore {
 public:
  explicit FaultStore(collector::AlertStore& inner) : in_(inner) {}
  std::atomic<bool> fail_writes{false};
  std::atomic<int> write_delay_ms{0};
  std::atomic<uint64_t> write_calls{0};
  std::atomic<uint64_t> max_write_alerts{0};  // largest write_batch seen (alerts)

  Result<collector::BatchResult> write_batch(const std::string& agent, const std::vector<Alert>& alerts) override {
    ++write_calls;
    for (uint64_t m = max_write_alerts; alerts.size() > m && !max_write_alerts.compare_exchange_weak(m, alerts.size());) {}
    if (write_delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(write_delay_ms.load()));
    if (fail_writes) return make_error(ErrorCode::unavailable, "No space left on device (injected)");
    return in_.write_batch(agent, alerts);
  }
  Result<uint64_t> highest_seq(const std::string& a) override { return in_.highest_seq(a); }
  Result<Alert> get(const std::string& id) override { return in_.get(id); }
  Result<collector::AlertPage> query(const collector::AlertQuery& q) override { return in_.query(q); }
  Result<collector::Triage> get_triage(const std::string& id) override { return in_.get_triage(id); }
  Result<std::pair<collector::Triage, collector::Triage>> update_triage(const std::string& id, const collector::TriageUpdate& u,
                                                                        const std::string& actor, int64_t now_us) override {
    return in_.update_triage(id, u, actor, now_us);
  }
  Result<collector::AlertStats> stats(const collector::AlertQuery& q, const collector::StatsRequest& r) override {
    return in_.stats(q, r);
  }
  Result<collector::Incident> get_incident(uint64_t id) override { return in_.get_incident(id); }
  Result<std::vector<collector::Incident>> list_incidents(const collector::AlertQuery& q) override { return in_.list_incidents(q); }
  Result<std::pair<collector::Incident, collector::Incident>> update_incident(uint64_t id, const collector::TriageUpdate& u,
                                                                              const std::string& actor, int64_t now_us) override {
    return in_.update_incident(id, u, actor, now_us);
  }
  Result<uint64_t> delete_before(int64_t cutoff_us) override { return in_.delete_before(cutoff_us); }
  uint64_t alert_count() override { return in_.alert_count(); }

 private:
  collector::AlertStore& in_;
};

constexpr const char* kToken = "test-enrollment-token-0123456789";

struct Collector {
  fs::path data_dir;
  collector::ServerCertificate cert;
  std::unique_ptr<collector::Gateway> gw;

  explicit Collector(fs::path dir) : data_dir(std::move(dir)) {
    auto c = collector::ensure_server_certificate(data_dir);
    if (!c) throw std::runtime_error(c.error().message);
    cert = *c;
  }
  collector::GatewayOptions options(uint16_t port = 0) const {
    collector::GatewayOptions o;
    o.port = port;
    o.cert_file = cert.cert_file;
    o.key_file = cert.key_file;
    o.enrollment_token = kToken;
    o.idle_timeout = std::chrono::seconds(10);
    o.handshake_timeout = std::chrono::seconds(5);
    o.retry_after_ms = 200;
    return o;
  }
  Status start(collector::AlertStore& store, uint16_t port = 0) { return start(store, options(port)); }
  Status start(collector::AlertStore& store, collector::GatewayOptions o) {
    gw = std::make_unique<collector::Gateway>(std::move(o), store);
    return gw->start();
  }
  void stop() {
    if (gw) gw->stop();
    gw.reset();
  }
  uint16_t port() const { return gw->port(); }
};

inline agent::UplinkOptions agent_options(const Collector& c, uint16_t port, const fs::path& spool_dir,
                                          const std::string& id = "agent-1") {
  agent::UplinkOptions o;
  o.port = port;
  o.token = kToken;
  o.agent = AgentRef{id, "host-" + id, "so-test"};
  o.pinned_sha256 = c.cert.fingerprint_sha256;
  o.batch_size = 100;
  o.flush_interval = ms(20);
  o.backoff_initial = ms(50);
  o.backoff_max = ms(400);
  o.connect_timeout = ms(2000);
  o.ack_timeout = ms(5000);
  o.heartbeat_interval = ms(0);
  o.spool.dir = spool_dir;
  o.spool.max_bytes = 64ull << 20;
  o.spool.segment_bytes = 1ull << 20;
  o.spool.fsync = agent::FsyncPolicy::never;  // tests do not measure the disk
  return o;
}

inline wire::Hello raw_hello(const std::string& id, const std::string& token = kToken) {
  wire::Hello h;
  h.token = token;
  h.agent = AgentRef{id, "h", "a"};
  h.version = "test";
  return h;
}

inline Alert make_alert(uint64_t sid, int64_t ts_us = 1'700'000'000'000'000) {
  Alert a;
  a.timestamp_us = ts_us;
  a.source = "network";
  a.src_ip = "10.0.0.1";
  a.src_port = 1234;
  a.dest_ip = "10.0.0.2";
  a.dest_port = 80;
  a.proto = "TCP";
  a.alert.signature_id = sid;
  a.alert.rev = 1;
  a.alert.signature = "test signature " + std::to_string(sid);
  a.alert.engine = "suricata";
  return a;
}

// A free loopback port (bound then released; good enough on a test machine).
inline uint16_t free_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

// A synchronous TLS WebSocket client that says whatever the test wants.
struct RawClient {
  boost::asio::io_context ioc;
  boost::asio::ssl::context ctx{boost::asio::ssl::context::tls_client};
  std::unique_ptr<boost::beast::websocket::stream<boost::asio::ssl::stream<boost::beast::tcp_stream>>> ws;

  // Connects, TLS (no verification: the test trusts its own collector) and upgrades.
  boost::system::error_code connect(uint16_t port, const std::string& target = "/agent/v1") {
    namespace beast = boost::beast;
    ctx.set_verify_mode(boost::asio::ssl::verify_none);
    ws = std::make_unique<std::remove_reference_t<decltype(*ws)>>(ioc, ctx);
    boost::system::error_code ec;
    auto& tcp = beast::get_lowest_layer(*ws);
    tcp.expires_after(std::chrono::seconds(5));
    tcp.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return ec;
    timeval tv{5, 0};  // sync reads have no Beast timeout: a stuck server fails the test, not hangs it
    ::setsockopt(tcp.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ws->next_layer().handshake(boost::asio::ssl::stream_base::client, ec);
    if (ec) return ec;
    ws->handshake("127.0.0.1", target, ec);
    ws->read_message_max(64ull << 20);
    return ec;
  }
  boost::system::error_code send(const std::string& s, bool text = true) {
    boost::system::error_code ec;
    ws->text(text);
    ws->write(boost::asio::buffer(s), ec);
    return ec;
  }
  // Reads one message; returns it, or "" with ec set.
  std::string read(boost::system::error_code& ec) {
    boost::beast::flat_buffer b;
    boost::beast::get_lowest_layer(*ws).expires_after(std::chrono::seconds(5));
    ws->read(b, ec);
    return ec ? std::string() : boost::beast::buffers_to_string(b.data());
  }
};

}  // namespace halong::testing
