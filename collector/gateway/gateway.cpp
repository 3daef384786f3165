#include "collector/gateway/gateway.hpp"

#include <pthread.h>
#include <sys/statvfs.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

namespace halong::collector {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
using net::use_awaitable;
constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);

namespace {

using WsStream = websocket::stream<ssl::stream<beast::tcp_stream>>;

// A decoded alert batch waiting for the store (read ahead while a write is in flight).
struct QueuedBatch {
  uint64_t batch = 0;
  std::vector<Alert> alerts;
};

struct Session {
  Session(tcp::socket s, ssl::context& ctx, uint64_t id_)
      : ws(std::move(s), ctx), wake(ws.get_executor()), commit_wake(ws.get_executor()), room(ws.get_executor()), id(id_) {}
  WsStream ws;
  net::steady_timer wake;         // the writer sleeps on it; cancel() wakes it
  net::steady_timer commit_wake;  // the committer sleeps on it
  net::steady_timer room;         // the reader sleeps on it while the queue is full
  std::deque<QueuedBatch> queued; // read ahead, not yet handed to the store (strand)
  size_t queued_alerts = 0;
  std::deque<std::string> outq;   // frames to send, in order
  bool closing = false;           // no more reads; writer drains, then closes
  bool dead = false;              // transport failed; nothing more can be sent
  websocket::close_reason close_reason{websocket::close_code::normal};
  uint64_t id;
  std::string agent_id;           // after hello
  std::string ruleset_version;    // what the agent runs (hello, then its ok reports)

  void close_now() {
    beast::error_code ec;
    auto& sock = beast::get_lowest_layer(ws).socket();
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
    closing = true;
    dead = true;
    wake_all();
  }
  void wake_all() {
    wake.cancel();
    commit_wake.cancel();
    room.cancel();
  }
};

bool valid_agent_id(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

bool token_equal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

struct WriteOutcome {
  bool ok = false;
  BatchResult result;
  Error error;
};

// Runs `f` (blocking: the store) on `pool` and resumes the awaiting coroutine on its own
// executor with the result. Not a coroutine itself (g++ 12 mis-destroys captures of
// coroutine lambdas handed to co_spawn).
//
// The job travels through use_awaitable's initiation as a raw pointer: g++ 12 relocates
// by-value class arguments of that (coroutine) initiation bitwise, which corrupts any
// capture holding a short std::string (its SSO pointer would point into the coroutine
// frame: "free(): invalid size" seen in the collector, found with valgrind). A pointer is
// trivially copyable, so it survives; the pool thread owns and deletes the job.
// Store pool threads are named "hl-gw-store" (once per thread) for per-thread CPU accounting.
void name_pool_thread() {
  thread_local bool named = false;
  if (!named) {
    ::pthread_setname_np(::pthread_self(), "hl-gw-store");
    named = true;
  }
}

template <class F>
auto on_pool(net::thread_pool& pool, F&& f) {
  using Job = std::function<WriteOutcome()>;
  Job* job = new Job(std::forward<F>(f));
  return net::async_initiate<const net::use_awaitable_t<>&, void(WriteOutcome)>(
      [&pool](auto handler, Job* fn) {
        auto ex = net::get_associated_executor(handler);
        net::post(pool, [h = std::move(handler), fn, ex]() mutable {
          name_pool_thread();
          std::unique_ptr<Job> owned(fn);
          WriteOutcome r = (*owned)();
          owned.reset();
          net::post(ex, [h = std::move(h), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
        });
      },
      net::use_awaitable, job);
}

template <class R, class F>
auto on_pool_t(net::thread_pool& pool, F&& f) {
  return net::async_initiate<const net::use_awaitable_t<>&, void(R)>(
      [&pool](auto handler, auto fn) {
        auto ex = net::get_associated_executor(handler);
        net::post(pool, [h = std::move(handler), fn = std::move(fn), ex]() mutable {
          name_pool_thread();
          R r = fn();
          net::post(ex, [h = std::move(h), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
        });
      },
      net::use_awaitable, std::forward<F>(f));
}

// Decodes one agent frame with wire::decode, parsing into a per-io-thread arena
// (boost::json::monotonic_resource over a reused 4 MiB buffer; beyond it, the heap) instead
// of one malloc per JSON node: alert batches are nearly every frame.
Result<wire::Message> decode_frame(std::string_view frame) {
  constexpr size_t kArena = 4u << 20;
  thread_local std::unique_ptr<unsigned char[]> arena(new unsigned char[kArena]);
  boost::json::monotonic_resource mr(arena.get(), kArena);
  return wire::decode(frame, boost::json::storage_ptr(&mr));
}

// A connection's read buffer is released after a frame that grew it beyond this.
constexpr size_t kKeepReadBytes = 64 * 1024;

// The whole message held in a flat_buffer, without copying it.
std::string_view frame_view(const beast::flat_buffer& buf) {
  auto d = buf.data();
  return {static_cast<const char*>(d.data()), d.size()};
}

struct PeerIdentity {
  std::string agent_id;     // certificate CN (empty: no client certificate)
  std::string agency;       // certificate O
  std::string fingerprint;  // SHA-256 of the DER certificate
};

PeerIdentity peer_identity(SSL* ssl) {
  PeerIdentity id;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return id;
  if (SSL_get_verify_result(ssl) == X509_V_OK) {
    char buf[256];
    X509_NAME* name = X509_get_subject_name(cert);
    if (X509_NAME_get_text_by_NID(name, NID_commonName, buf, sizeof buf) > 0) id.agent_id = buf;
    if (X509_NAME_get_text_by_NID(name, NID_organizationName, buf, sizeof buf) > 0) id.agency = buf;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest(cert, EVP_sha256(), md, &n) == 1) {
      static const char* k = "0123456789abcdef";
      for (unsigned i = 0; i < n; ++i) {
        id.fingerprint.push_back(k[md[i] >> 4]);
        id.fingerprint.push_back(k[md[i] & 15]);
      }
    }
  }
  X509_free(cert);
  return id;
}

}  // namespace

class Gateway::Impl {
 public:
  Impl(GatewayOptions o, AlertStore& s)
      : opts(std::move(o)), store(s), ssl_ctx(ssl::context::tls_server),
        pool(static_cast<size_t>(std::max(1, opts.store_threads))) {}

  GatewayOptions opts;
  AlertStore& store;
  HeartbeatSink heartbeat_sink;
  RulesetStatusSink ruleset_sink;
  std::mutex rules_mu;
  std::shared_ptr<const wire::RulesetPush> ruleset;  // the version every agent should run

  std::shared_ptr<const wire::RulesetPush> current_ruleset() {
    std::lock_guard lk(rules_mu);
    return ruleset;
  }

  net::awaitable<void> sweep_health() {
    net::steady_timer t(ioc);
    for (;;) {
      t.expires_after(opts.health_sweep);
      auto [ec] = co_await t.async_wait(tuple_awaitable);
      if (ec || stopped) co_return;
      for (auto& id : opts.health->sweep()) {
        spdlog::warn("gateway: agent '{}' is offline (no heartbeat for {} s)", id,
                     std::chrono::duration_cast<std::chrono::seconds>(opts.health->policy().offline_after).count());
        if (opts.on_agent_offline) opts.on_agent_offline(id);
      }
    }
  }
  ssl::context ssl_ctx;
  uint16_t bound_port = 0;
  std::atomic<bool> started{false}, stopped{false};

  // Counters.
  std::atomic<uint64_t> n_enrolled{0};
  std::atomic<uint64_t> n_accepted{0}, n_active{0}, n_tls_fail{0}, n_auth_fail{0}, n_proto{0}, n_batches{0},
      n_alerts{0}, n_dups{0}, n_store_err{0}, n_writes{0};
  std::atomic<size_t> queued_total{0};  // alerts read ahead on all connections
  std::atomic<bool> stalled{false};
  mutable std::mutex err_mu;
  std::string last_store_error;

  // Live sessions, for disconnect_agent() and stop().
  mutable std::mutex reg_mu;
  std::unordered_map<uint64_t, std::weak_ptr<Session>> sessions;
  std::unordered_map<uint64_t, std::string> session_agent;
  uint64_t next_session = 1;

  // Writes of one agent never overlap (commit_agents), and its queued writes are taken in
  // the order queued, so its batches reach the store in the order read (the store's
  // exactly-once rule ignores seq <= highest stored, which is only safe when batches are
  // not reordered), also while a replaced connection's last write is still under way.
  //
  // Group commit (see committer): the connections' writes wait in one queue; two writer
  // threads ("hl-gw-store") each take what is queued (one write per agent, up to
  // kGroupAlerts alerts) and hand it to the store in one write_batches call, which the
  // store turns into one synced write. A coroutine waiting for its write holds no thread:
  // with a thread per waiting write (a pool), a thousand agents' small batches cost a
  // context switch or two each, most of the store threads' CPU.
  struct CommitJob {
    std::string agent;
    std::vector<Alert> alerts;
    std::function<void(WriteOutcome)> done;  // resumes the committer on its executor
  };
  static constexpr size_t kGroupAlerts = 16384;
  static constexpr int kCommitThreads = 2;
  std::mutex commit_mu;
  std::condition_variable commit_cv;
  std::deque<std::unique_ptr<CommitJob>> commit_queue;
  std::unordered_set<std::string> commit_agents;  // agents with a write being written (one at a time each)
  bool commit_stop = false;
  std::vector<std::thread> commit_threads;

  void commit_loop() {
    name_pool_thread();
    std::unique_lock l(commit_mu);
    for (;;) {
      std::vector<std::unique_ptr<CommitJob>> group;
      size_t n = 0;
      for (auto it = commit_queue.begin(); it != commit_queue.end() && n < kGroupAlerts;) {
        if (commit_agents.count((*it)->agent)) {  // this agent's earlier write is under way
          ++it;
          continue;
        }
        commit_agents.insert((*it)->agent);
        n += (*it)->alerts.size();
        group.push_back(std::move(*it));
        it = commit_queue.erase(it);
      }
      if (group.empty()) {
        if (commit_stop) break;
        commit_cv.wait(l);
        continue;
      }
      l.unlock();
      std::vector<WriteOutcome> outs(group.size());
      if (auto low = disk_low(); !low.empty()) {
        for (auto& o : outs) o.error = make_error(ErrorCode::unavailable, low);
      } else {
        std::vector<AlertStore::BatchRef> refs;
        refs.reserve(group.size());
        for (auto& j : group) refs.push_back({&j->agent, &j->alerts});
        auto rs = store.write_batches(refs);
        for (size_t i = 0; i < outs.size(); ++i) {
          if (i < rs.size() && rs[i]) {
            outs[i].ok = true;
            outs[i].result = *rs[i];
          } else {
            outs[i].error = i < rs.size() ? rs[i].error() : make_error(ErrorCode::storage_error, "store returned no result");
          }
        }
      }
      for (size_t i = 0; i < group.size(); ++i) {
        group[i]->alerts = {};
        group[i]->done(std::move(outs[i]));
      }
      l.lock();
      for (auto& j : group) commit_agents.erase(j->agent);
      commit_cv.notify_all();  // a write of one of these agents may be waiting
    }
    // Stopping: what is still queued is answered as not stored (the agents resend it).
    for (auto& j : commit_queue) {
      WriteOutcome o;
      o.error = make_error(ErrorCode::unavailable, "collector stopping");
      j->done(std::move(o));
    }
    commit_queue.clear();
  }

  // Queues one connection's write; resumes the awaiting coroutine with its outcome. The job
  // travels through the initiation as a raw pointer (see on_pool).
  auto group_write(std::string agent, std::vector<Alert> alerts) {
    auto* job = new CommitJob{std::move(agent), std::move(alerts), {}};
    return net::async_initiate<const net::use_awaitable_t<>&, void(WriteOutcome)>(
        [this](auto handler, CommitJob* j) {
          auto ex = net::get_associated_executor(handler);
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          j->done = [h, ex](WriteOutcome r) {
            net::post(ex, [h, r = std::move(r)]() mutable { std::move(*h)(std::move(r)); });
          };
          {
            std::lock_guard lk(commit_mu);
            commit_queue.emplace_back(j);
          }
          commit_cv.notify_one();
        },
        net::use_awaitable, job);
  }

  std::vector<std::thread> threads;
  // Declared last: destroyed first, while what their pending handlers reference is alive.
  net::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  net::thread_pool pool;

  // "" when there is room (or no guard); else the reason, naming the directory.
  std::string disk_low() const {
    if (opts.store_dir.empty() || opts.min_free_bytes == 0) return {};
    struct statvfs sv{};
    if (::statvfs(opts.store_dir.c_str(), &sv) != 0) return {};
    uint64_t free_bytes = static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
    if (free_bytes >= opts.min_free_bytes) return {};
    return "disk almost full: " + std::to_string(free_bytes >> 20) + " MiB free on " + opts.store_dir.string() +
           ", below the " + std::to_string(opts.min_free_bytes >> 20) + " MiB the collector keeps in reserve";
  }

  Status configure_tls() {
    boost::system::error_code ec;
    ssl_ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                        ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(ssl_ctx.native_handle(), TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(ssl_ctx.native_handle(), "ECDHE+AESGCM:ECDHE+CHACHA20");
    // No TLS 1.3 session tickets (OpenSSL sends two after every handshake by default): agents
    // never resume a session, so each ticket was an encryption and a record for nothing.
    SSL_CTX_set_num_tickets(ssl_ctx.native_handle(), 0);
    ssl_ctx.use_certificate_chain_file(opts.cert_file.string(), ec);
    if (ec) return make_error(ErrorCode::invalid_argument, "gateway: certificate " + opts.cert_file.string() + ": " + ec.message());
    ssl_ctx.use_private_key_file(opts.key_file.string(), ssl::context::pem, ec);
    if (ec) return make_error(ErrorCode::invalid_argument, "gateway: key " + opts.key_file.string() + ": " + ec.message());
    if (opts.registry) {
      // Ask for a client certificate (agents that have not enrolled yet have none: allowed,
      // they may only enroll or use the shared token); a certificate that does not verify
      // against our CA fails the handshake.
      ssl_ctx.load_verify_file(opts.cert_file.string(), ec);
      if (ec) return make_error(ErrorCode::invalid_argument, "gateway: CA " + opts.cert_file.string() + ": " + ec.message());
      ssl_ctx.set_verify_mode(ssl::verify_peer);
      std::string sid = "halong-gateway";
      SSL_CTX_set_session_id_context(ssl_ctx.native_handle(), reinterpret_cast<const unsigned char*>(sid.data()),
                                     static_cast<unsigned>(sid.size()));
    }
    return {};
  }

  void send(Session& s, const wire::Message& m) {
    s.outq.push_back(wire::encode(m));
    s.wake.cancel();
  }
  void fail(Session& s, ErrorCode code, const std::string& msg, websocket::close_code cc = websocket::close_code::policy_error,
            uint64_t retry_after_ms = 0) {
    send(s, wire::ErrorMsg{std::string(to_string(code)), msg, retry_after_ms});
    s.close_reason = websocket::close_reason(cc);
    s.closing = true;
    s.wake_all();
  }

  net::awaitable<void> accept_loop() {
    for (;;) {
      net::any_io_executor ex = net::make_strand(ioc);
      tcp::socket sock(ex);
      auto [ec] = co_await acceptor->async_accept(sock, tuple_awaitable);
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor->is_open()) co_return;
        spdlog::warn("gateway: accept failed: {}", ec.message());
        net::steady_timer t(ioc, std::chrono::milliseconds(100));  // EMFILE and friends: do not spin
        co_await t.async_wait(tuple_awaitable);
        continue;
      }
      ++n_accepted;
      beast::error_code nd;
      sock.set_option(tcp::no_delay(true), nd);
      std::shared_ptr<Session> s;
      {
        std::lock_guard lk(reg_mu);
        s = std::make_shared<Session>(std::move(sock), ssl_ctx, next_session++);
        sessions[s->id] = s;
      }
      net::co_spawn(ex, run_session(s), net::detached);
    }
  }

  void unregister(const Session& s) {
    std::lock_guard lk(reg_mu);
    sessions.erase(s.id);
    session_agent.erase(s.id);
  }

  net::awaitable<void> writer(std::shared_ptr<Session> s) {
    for (;;) {
      while (s->outq.empty() && !s->closing) {
        s->wake.expires_at(net::steady_timer::time_point::max());
        co_await s->wake.async_wait(tuple_awaitable);
      }
      if (s->dead || (s->outq.empty() && s->closing)) break;
      std::string frame = std::move(s->outq.front());
      s->outq.pop_front();
      s->ws.text(true);
      auto [ec, n] = co_await s->ws.async_write(net::buffer(frame), tuple_awaitable);
      if (ec) {
        s->dead = true;
        s->closing = true;
        break;
      }
    }
    if (!s->dead) {
      beast::get_lowest_layer(s->ws).expires_after(std::chrono::seconds(2));
      auto [ec] = co_await s->ws.async_close(s->close_reason, tuple_awaitable);
      (void)ec;
    }
    s->close_now();
  }

  net::awaitable<void> run_session(std::shared_ptr<Session> s) {
    struct Guard {
      Impl* self;
      Session* s;
      ~Guard() {
        --self->n_active;
        self->unregister(*s);
      }
    } guard{this, s.get()};
    ++n_active;
    auto peer = [&] {
      beast::error_code ec;
      auto ep = beast::get_lowest_layer(s->ws).socket().remote_endpoint(ec);
      return ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
    }();

    auto& lowest = beast::get_lowest_layer(s->ws);
    lowest.expires_after(opts.handshake_timeout);
    auto [hec] = co_await s->ws.next_layer().async_handshake(ssl::stream_base::server, tuple_awaitable);
    if (hec) {
      ++n_tls_fail;
      spdlog::warn("gateway: TLS handshake with {} failed: {}", peer, hec.message());
      s->close_now();
      co_return;
    }
    PeerIdentity peer_id = peer_identity(s->ws.next_layer().native_handle());
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    {
      http::request_parser<http::string_body> parser;
      parser.header_limit(8 * 1024);
      parser.body_limit(0);
      auto [ec, n] = co_await http::async_read(s->ws.next_layer(), buf, parser, tuple_awaitable);
      if (ec) {
        ++n_proto;
        spdlog::warn("gateway: bad upgrade request from {}: {}", peer, ec.message());
        s->close_now();
        co_return;
      }
      req = parser.release();
    }
    if (!websocket::is_upgrade(req) || req.target() != "/agent/v1") {
      ++n_proto;
      http::response<http::string_body> res{http::status::not_found, req.version()};
      res.set(http::field::content_type, "text/plain");
      res.keep_alive(false);
      res.body() = "halong gateway: agents connect with a WebSocket upgrade on /agent/v1\n";
      res.prepare_payload();
      auto [ec, n] = co_await http::async_write(s->ws.next_layer(), res, tuple_awaitable);
      (void)ec;
      s->close_now();
      co_return;
    }
    lowest.expires_never();
    websocket::stream_base::timeout to{};
    to.handshake_timeout = opts.handshake_timeout;
    to.idle_timeout = opts.idle_timeout;
    to.keep_alive_pings = true;
    s->ws.set_option(to);
    s->ws.read_message_max(opts.max_frame_bytes + 128 * 1024);  // read_frame enforces the limit itself
    s->ws.auto_fragment(false);
    if (auto [ec] = co_await s->ws.async_accept(req, tuple_awaitable); ec) {
      ++n_proto;
      spdlog::warn("gateway: WebSocket upgrade from {} failed: {}", peer, ec.message());
      s->close_now();
      co_return;
    }
    net::co_spawn(s->ws.get_executor(), writer(s), net::detached);

    // hello, within the handshake timeout
    net::steady_timer hello_timer(s->ws.get_executor());
    hello_timer.expires_after(opts.handshake_timeout);
    hello_timer.async_wait([s](boost::system::error_code ec) {
      if (!ec && s->agent_id.empty()) s->close_now();
    });
    buf.clear();
    auto rec = co_await read_frame(*s, buf);
    hello_timer.cancel();
    if (rec) {
      read_failed(*s, peer, rec);
      co_return;
    }
    auto hello_msg = wire::decode(beast::buffers_to_string(buf.data()));
    buf.clear();
    if (!hello_msg) {
      ++n_proto;
      spdlog::warn("gateway: {}: {}", peer, hello_msg.error().message);
      fail(*s, ErrorCode::parse_error, hello_msg.error().message);
      co_return;
    }
    if (auto* en = std::get_if<wire::EnrollRequest>(&*hello_msg)) {
      co_await handle_enroll(*s, peer, *en);
      co_return;
    }
    auto* hello = std::get_if<wire::Hello>(&*hello_msg);
    if (!hello) {
      ++n_proto;
      fail(*s, ErrorCode::invalid_argument, "wire: expected hello or enroll first");
      co_return;
    }
    if (hello->protocol != wire::kProtocolVersion) {
      ++n_proto;
      fail(*s, ErrorCode::unsupported, "wire: protocol " + std::to_string(hello->protocol) + " not supported (this collector speaks " +
                                           std::to_string(wire::kProtocolVersion) + ")");
      co_return;
    }
    if (!peer_id.agent_id.empty()) {
      // Mutual TLS: identity and agency from the certificate; it must be the agent's
      // current certificate and the agent must not be revoked.
      auto check = [this, id = peer_id.agent_id, fp = peer_id.fingerprint] {
        WriteOutcome o;
        auto r = opts.registry->certificate_valid(id, fp);
        if (!r) o.error = r.error();
        else o.ok = *r;
        return o;
      };
      auto valid = co_await on_pool(pool, std::move(check));
      if (!valid.ok) {
        ++n_auth_fail;
        spdlog::warn("gateway: {} presented the certificate of agent '{}', which is revoked or superseded{}", peer, peer_id.agent_id,
                     valid.error.message.empty() ? "" : ": " + valid.error.message);
        fail(*s, ErrorCode::forbidden, "agent " + peer_id.agent_id + " is revoked or its certificate is superseded");
        co_return;
      }
      hello->agent.id = peer_id.agent_id;
      hello->agent.agency = peer_id.agency;
    } else if (opts.enrollment_token.empty() || !token_equal(hello->token, opts.enrollment_token)) {
      ++n_auth_fail;
      spdlog::warn("gateway: {} (agent '{}') presented {}", peer, hello->agent.id,
                   opts.enrollment_token.empty() ? "no client certificate" : "a wrong enrollment token");
      fail(*s, ErrorCode::unauthorized,
           opts.enrollment_token.empty() ? "a client certificate is required: enroll the agent first"
                                         : "enrollment token rejected by the collector");
      co_return;
    }
    if (!valid_agent_id(hello->agent.id)) {
      ++n_proto;
      fail(*s, ErrorCode::invalid_argument, "hello.agent.id must be 1-128 characters of [A-Za-z0-9._-]");
      co_return;
    }
    AgentRef agent = hello->agent;
    std::string agent_ruleset = hello->ruleset_version;
    s->ruleset_version = agent_ruleset;
    s->agent_id = agent.id;
    kick_others(agent.id, s->id);
    auto read_cursor = [this, id = agent.id] {
      WriteOutcome o;
      auto r = store.highest_seq(id);
      if (r) {
        o.ok = true;
        o.result.highest_seq = *r;
      } else {
        o.error = r.error();
      }
      return o;
    };
    // (g++ 12: no temporaries with destructors inside a co_await full-expression)
    auto hs = co_await on_pool(pool, std::move(read_cursor));
    if (!hs.ok) {
      ++n_store_err;
      spdlog::error("gateway: store cannot read agent '{}' cursor: {}", agent.id, hs.error.message);
      fail(*s, ErrorCode::unavailable, "collector store unavailable: " + hs.error.message,
           websocket::close_code::try_again_later, opts.retry_after_ms);
      co_return;
    }
    spdlog::info("gateway: agent '{}' connected from {} (highest stored seq {})", agent.id, peer, hs.result.highest_seq);
    wire::Welcome welcome;
    welcome.agent_id = agent.id;
    welcome.highest_seq = hs.result.highest_seq;
    welcome.agency = agent.agency;
    auto rs = current_ruleset();
    if (rs) welcome.ruleset_version = rs->version;
    send(*s, welcome);
    if (rs && rs->version != agent_ruleset) {  // agents that connect later get it too
      s->ruleset_version = rs->version;         // offered; a failure report clears it
      send(*s, *rs);
    }
    if (opts.health) opts.health->on_connect(agent.id);
    struct HealthGuard {
      HealthTracker* h;
      std::string id;
      ~HealthGuard() {
        if (h) h->on_disconnect(id);
      }
    } health_guard{opts.health, agent.id};

    net::co_spawn(s->ws.get_executor(), committer(s), net::detached);
    while (!s->closing) {
      // Bounded read-ahead: with this much queued for the store, stop reading (TCP then
      // pushes back on the agent, whose own window is bounded too).
      for (;;) {
        if (s->closing) break;
        const bool full = s->queued.size() >= std::max<size_t>(1, opts.max_queued_batches) ||
                          s->queued_alerts >= std::max<size_t>(1, opts.max_queued_alerts);
        // Over the total of all connections: wait only while this one has something queued
        // (so every connection still makes progress); the committers of the others bring
        // the total down without knowing who waits, hence the short poll.
        const bool total_full = !s->queued.empty() && queued_total.load() >= opts.max_queued_alerts_total;
        if (!full && !total_full) break;
        s->room.expires_after(full ? std::chrono::hours(24 * 365) : std::chrono::milliseconds(5));
        co_await s->room.async_wait(tuple_awaitable);
      }
      if (s->closing) break;
      auto ec = co_await read_frame(*s, buf);
      if (ec) {
        read_failed(*s, peer, ec);
        break;
      }
      if (s->closing) break;
      auto msg = decode_frame(frame_view(buf));
      buf.clear();
      // A connection does not keep a big batch's buffer between frames: a thousand agents
      // after an outage would each hold their largest frame (~0.3 MiB) for good. Freed, the
      // memory serves the next connection that reads one.
      if (buf.capacity() > kKeepReadBytes) buf.shrink_to_fit();
      if (opts.health) opts.health->on_frame(agent.id);
      if (!msg) {
        ++n_proto;
        spdlog::warn("gateway: agent '{}' from {}: {}", agent.id, peer, msg.error().message);
        fail(*s, ErrorCode::parse_error, msg.error().message);
        break;
      }
      if (auto* b = std::get_if<wire::AlertBatch>(&*msg)) {
        if (auto st = prepare_batch(*b, agent); !st) {
          ++n_proto;
          spdlog::warn("gateway: agent '{}' from {}: {}", agent.id, peer, st.error().message);
          fail(*s, ErrorCode::invalid_argument, st.error().message);
          break;
        }
        // Read ahead: the committer writes what is queued (several batches in one store
        // write) while this loop goes on reading; acks still follow the durable write.
        s->queued_alerts += b->alerts.size();
        queued_total += b->alerts.size();
        s->queued.push_back(QueuedBatch{b->batch, std::move(b->alerts)});
        s->commit_wake.cancel();
      } else if (auto* h = std::get_if<wire::Heartbeat>(&*msg)) {
        if (opts.health) opts.health->on_heartbeat(agent.id, h->stats_json);
        if (heartbeat_sink) heartbeat_sink(agent.id, h->stats_json);
      } else if (auto* r = std::get_if<wire::RulesetStatus>(&*msg)) {
        if (r->ok)
          spdlog::info("gateway: agent '{}' runs ruleset {}", agent.id, r->version);
        else
          spdlog::warn("gateway: agent '{}' refused ruleset {}: {}", agent.id, r->version, r->message);
        s->ruleset_version = r->ok ? r->version : std::string();
        if (opts.health) opts.health->on_ruleset_status(agent.id, r->version, r->ok, r->message);
        if (ruleset_sink) ruleset_sink(agent.id, *r);
      } else {
        ++n_proto;
        fail(*s, ErrorCode::invalid_argument, "wire: unexpected message from an agent");
        break;
      }
    }
    s->closing = true;
    s->wake_all();
    spdlog::info("gateway: agent '{}' ({}) disconnected", agent.id, peer);
  }

  // One per connection: hands everything the reader queued to the store in ONE write_batch
  // (one synced write for several batches of this agent; the store's group commit merges
  // it with other agents' writes), then acks each batch in order. Exactly one write per
  // connection is in flight, so one agent's alerts reach the store in the order read.
  net::awaitable<void> committer(std::shared_ptr<Session> s) {
    std::vector<std::pair<uint64_t, uint64_t>> batch_nos;  // (batch number, highest seq up to its end)
    for (;;) {
      while (s->queued.empty() && !s->closing) {
        s->commit_wake.expires_at(net::steady_timer::time_point::max());
        co_await s->commit_wake.async_wait(tuple_awaitable);
      }
      if (s->closing) break;
      batch_nos.clear();
      uint64_t upto = 0;
      auto last_seq = [&upto](const std::vector<Alert>& v) {
        if (!v.empty()) upto = std::max(upto, v.back().seq);  // seqs increase within a batch
        return upto;
      };
      std::vector<Alert> alerts = std::move(s->queued.front().alerts);
      batch_nos.emplace_back(s->queued.front().batch, last_seq(alerts));
      s->queued.pop_front();
      while (!s->queued.empty() && alerts.size() + s->queued.front().alerts.size() <= opts.max_write_alerts) {
        auto& q = s->queued.front();
        batch_nos.emplace_back(q.batch, last_seq(q.alerts));
        alerts.insert(alerts.end(), std::make_move_iterator(q.alerts.begin()), std::make_move_iterator(q.alerts.end()));
        s->queued.pop_front();
      }
      const size_t taken = std::min(s->queued_alerts, alerts.size());
      s->queued_alerts -= taken;
      queued_total -= taken;
      s->room.cancel();
      auto out = co_await group_write(s->agent_id, std::move(alerts));
      if (!out.ok) {
        ++n_store_err;
        bool was = stalled.exchange(true);
        {
          std::lock_guard lk(err_mu);
          last_store_error = out.error.message;
        }
        if (!was) spdlog::error("gateway: ingestion stalled, store refused a batch of agent '{}': {}", s->agent_id, out.error.message);
        if (!s->closing)
          fail(*s, ErrorCode::unavailable, "collector cannot store alerts now: " + out.error.message,
               websocket::close_code::try_again_later, opts.retry_after_ms);
        break;
      }
      if (stalled.exchange(false)) spdlog::warn("gateway: ingestion resumed");
      n_batches += batch_nos.size();
      ++n_writes;
      n_alerts += out.result.stored;
      n_dups += out.result.duplicates;
      // Every batch of this write is durable. Each ack covers its own batch (everything up to
      // its last seq is stored); the last one carries the store's highest seq, as a lone
      // batch's ack always did.
      for (size_t i = 0; i < batch_nos.size(); ++i) {
        uint64_t hs = i + 1 == batch_nos.size() ? out.result.highest_seq : std::min(batch_nos[i].second, out.result.highest_seq);
        send(*s, wire::Ack{batch_nos[i].first, hs});
      }
    }
    s->queued.clear();
    queued_total -= s->queued_alerts;
    s->queued_alerts = 0;
    s->room.cancel();
  }

  // Every alert gets the connection's identity; seqs must be > 0 and strictly increasing.
  Status prepare_batch(wire::AlertBatch& b, const AgentRef& agent) {
    uint64_t prev = 0;
    for (auto& a : b.alerts) {
      if (a.seq == 0 || a.seq <= prev)
        return make_error(ErrorCode::invalid_argument, "alerts.batch " + std::to_string(b.batch) +
                                                           ": seq must be > 0 and strictly increasing (got " +
                                                           std::to_string(a.seq) + " after " + std::to_string(prev) + ")");
      prev = a.seq;
      a.agent.id = agent.id;
      if (a.agent.hostname.empty()) a.agent.hostname = agent.hostname;
      if (!agent.agency.empty() || a.agent.agency.empty()) a.agent.agency = agent.agency;  // the certificate's agency wins
      a.id = agent.id + ":" + std::to_string(a.seq);
    }
    return {};
  }

  // Reads one whole message into buf. A message over max_frame_bytes is not read further:
  // the agent gets error{resource_exhausted} and close 1009 (message_too_big is returned).
  net::awaitable<beast::error_code> read_frame(Session& s, beast::flat_buffer& buf) {
    for (;;) {
      auto [ec, n] = co_await s.ws.async_read_some(buf, 64 * 1024, tuple_awaitable);
      if (ec) co_return ec;
      if (buf.size() > opts.max_frame_bytes) co_return beast::error_code(websocket::error::message_too_big);
      if (s.ws.is_message_done()) co_return beast::error_code{};
    }
  }

  void read_failed(Session& s, const std::string& peer, const beast::error_code& ec) {
    if (ec == websocket::error::message_too_big) {
      ++n_proto;
      spdlog::warn("gateway: {} sent a frame over the {} byte limit; connection closed (1009)", peer, opts.max_frame_bytes);
      fail(s, ErrorCode::resource_exhausted, "frame over the " + std::to_string(opts.max_frame_bytes) + " byte limit",
           websocket::close_code::too_big);
      return;
    } else if (ec != websocket::error::closed && ec != net::error::operation_aborted && ec != net::error::eof &&
               ec != ssl::error::stream_truncated) {
      spdlog::info("gateway: {} read failed: {}", peer, ec.message());
    }
    s.dead = true;
    s.closing = true;
    s.wake.cancel();
  }

  net::awaitable<void> handle_enroll(Session& s, const std::string& peer, const wire::EnrollRequest& en) {
    if (!opts.registry) {
      ++n_proto;
      fail(s, ErrorCode::unsupported, "this collector does not enroll agents (no registry configured)");
      co_return;
    }
    struct Out {
      bool ok = false;
      EnrollResult r;
      Error error;
    };
    ServerCertificate ca{opts.cert_file, opts.key_file, "", false};
    auto job = [this, en, ca] {
      Out o;
      auto r = opts.registry->enroll(en.token, en.hostname, en.csr_pem, ca);
      if (r) {
        o.ok = true;
        o.r = std::move(*r);
      } else {
        o.error = r.error();
      }
      return o;
    };
    auto out = co_await on_pool_t<Out>(pool, std::move(job));
    if (!out.ok) {
      ++n_auth_fail;
      spdlog::warn("gateway: enrollment from {} ('{}') refused: {}", peer, en.hostname, out.error.message);
      fail(s, out.error.code, out.error.message);
      co_return;
    }
    ++n_enrolled;
    spdlog::info("gateway: enrolled agent '{}' (agency {}, host '{}') from {}", out.r.agent.id, out.r.agent.agency, en.hostname, peer);
    wire::Enrolled e{out.r.agent.id, out.r.agent.agency, out.r.cert_pem, out.r.ca_pem};
    send(s, e);
    s.closing = true;
    s.wake.cancel();
  }

  net::awaitable<void> watch_registry() {
    net::steady_timer t(ioc);
    for (;;) {
      t.expires_after(opts.registry_poll);
      auto [ec] = co_await t.async_wait(tuple_awaitable);
      if (ec || stopped) co_return;
      std::vector<std::string> connected;
      {
        std::lock_guard lk(reg_mu);
        for (auto& [id, a] : session_agent) connected.push_back(a);
      }
      if (connected.empty()) continue;
      auto job = [this] {
        Out2 o;
        auto r = opts.registry->revoked_agents();
        if (r) o.ids = std::move(*r);
        return o;
      };
      auto revoked = co_await on_pool_t<Out2>(pool, std::move(job));
      for (auto& id : revoked.ids)
        if (std::find(connected.begin(), connected.end(), id) != connected.end()) {
          spdlog::warn("gateway: agent '{}' is revoked: disconnecting it", id);
          disconnect(id);
        }
    }
  }
  struct Out2 {
    std::vector<std::string> ids;
  };

  size_t disconnect(const std::string& agent_id) {
    std::vector<std::shared_ptr<Session>> hit;
    {
      std::lock_guard lk(reg_mu);
      for (auto& [id, a] : session_agent)
        if (a == agent_id)
          if (auto sp = sessions[id].lock()) hit.push_back(sp);
    }
    for (auto& sp : hit) net::post(sp->ws.get_executor(), [sp] { sp->close_now(); });
    return hit.size();
  }

  void kick_others(const std::string& agent, uint64_t keep) {
    std::vector<std::shared_ptr<Session>> old;
    {
      std::lock_guard lk(reg_mu);
      for (auto& [id, a] : session_agent)
        if (a == agent && id != keep)
          if (auto sp = sessions[id].lock()) old.push_back(sp);
      session_agent[keep] = agent;
    }
    for (auto& o : old) net::post(o->ws.get_executor(), [o] { o->close_now(); });
  }
};

Gateway::Gateway(GatewayOptions opts, AlertStore& store) : impl_(std::make_shared<Impl>(std::move(opts), store)) {}
Gateway::~Gateway() { stop(); }

void Gateway::set_heartbeat_sink(HeartbeatSink sink) { impl_->heartbeat_sink = std::move(sink); }
void Gateway::set_ruleset_status_sink(RulesetStatusSink sink) { impl_->ruleset_sink = std::move(sink); }

size_t Gateway::push_ruleset(wire::RulesetPush rs) {
  auto& m = *impl_;
  auto shared = std::make_shared<const wire::RulesetPush>(std::move(rs));
  {
    std::lock_guard lk(m.rules_mu);
    m.ruleset = shared;
  }
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lk(m.reg_mu);
    for (auto& [id, a] : m.session_agent)
      if (auto sp = m.sessions[id].lock()) live.push_back(sp);
  }
  for (auto& sp : live)
    net::post(sp->ws.get_executor(), [&m, sp, shared] {
      if (!sp->closing && !sp->agent_id.empty() && sp->ruleset_version != shared->version) {
        sp->ruleset_version = shared->version;
        m.send(*sp, *shared);
      }
    });
  spdlog::info("gateway: ruleset {} pushed to {} connected agents", shared->version, live.size());
  return live.size();
}

Status Gateway::start() {
  auto& m = *impl_;
  if (m.started.exchange(true)) return make_error(ErrorCode::invalid_argument, "gateway: already started");
  if (auto s = m.configure_tls(); !s) return s;
  boost::system::error_code ec;
  auto addr = net::ip::make_address(m.opts.address, ec);
  if (ec) return make_error(ErrorCode::invalid_argument, "gateway: bad listen address '" + m.opts.address + "': " + ec.message());
  tcp::endpoint ep(addr, m.opts.port);
  m.acceptor.emplace(m.ioc);
  m.acceptor->open(ep.protocol(), ec);
  if (!ec) m.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) m.acceptor->bind(ep, ec);
  if (!ec) m.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return make_error(ErrorCode::io_error, "gateway: cannot listen on " + m.opts.address + ":" + std::to_string(m.opts.port) + ": " +
                                               ec.message());
  m.bound_port = m.acceptor->local_endpoint().port();
  net::co_spawn(m.ioc, m.accept_loop(), net::detached);
  if (m.opts.registry) net::co_spawn(m.ioc, m.watch_registry(), net::detached);
  if (m.opts.health) net::co_spawn(m.ioc, m.sweep_health(), net::detached);
  for (int i = 0; i < Impl::kCommitThreads; ++i) m.commit_threads.emplace_back([&m] { m.commit_loop(); });
  for (int i = 0; i < std::max(1, m.opts.io_threads); ++i)
    m.threads.emplace_back([&m] {
      ::pthread_setname_np(::pthread_self(), "hl-gw-io");  // for per-thread CPU accounting (top -H, bench)
      m.ioc.run();
    });
  spdlog::info("gateway: listening on {}:{} (wss, path /agent/v1)", m.opts.address, m.bound_port);
  return {};
}

void Gateway::stop() {
  auto& m = *impl_;
  if (!m.started || m.stopped.exchange(true)) return;
  m.ioc.stop();
  for (auto& t : m.threads) t.join();
  m.threads.clear();
  // No io thread runs now: close the listener and every socket from here.
  boost::system::error_code ec;
  if (m.acceptor) m.acceptor->close(ec);
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lk(m.reg_mu);
    for (auto& [id, w] : m.sessions)
      if (auto s = w.lock()) live.push_back(s);
  }
  for (auto& s : live) s->close_now();
  {
    std::lock_guard lk(m.commit_mu);
    m.commit_stop = true;
  }
  m.commit_cv.notify_all();
  for (auto& t : m.commit_threads) t.join();
  m.commit_threads.clear();
  m.pool.stop();
  m.pool.join();
}

uint16_t Gateway::port() const { return impl_->bound_port; }

GatewayStats Gateway::stats() const {
  auto& m = *impl_;
  GatewayStats s;
  s.connections_accepted = m.n_accepted;
  s.connections_active = m.n_active;
  s.tls_failures = m.n_tls_fail;
  s.auth_failures = m.n_auth_fail;
  s.protocol_errors = m.n_proto;
  s.batches_stored = m.n_batches;
  s.store_writes = m.n_writes;
  s.alerts_stored = m.n_alerts;
  s.alerts_duplicate = m.n_dups;
  s.store_errors = m.n_store_err;
  s.queued_alerts = m.queued_total;
  s.enrollments = m.n_enrolled;
  s.ingest_stalled = m.stalled;
  std::lock_guard lk(m.err_mu);
  s.last_store_error = m.last_store_error;
  return s;
}

std::vector<std::string> Gateway::connected_agents() const {
  std::lock_guard lk(impl_->reg_mu);
  std::vector<std::string> out;
  for (auto& [id, a] : impl_->session_agent) out.push_back(a);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

size_t Gateway::disconnect_agent(const std::string& agent_id) { return impl_->disconnect(agent_id); }

Status Gateway::revoke_agent(const std::string& agent_id) {
  if (!impl_->opts.registry) return make_error(ErrorCode::unsupported, "gateway: no registry configured");
  if (auto s = impl_->opts.registry->revoke_agent(agent_id); !s) return s;
  size_t n = impl_->disconnect(agent_id);
  spdlog::warn("gateway: agent '{}' revoked{}", agent_id, n ? "; disconnected" : "");
  return {};
}

}  // namespace halong::collector
