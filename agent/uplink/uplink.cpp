#include "agent/uplink/uplink.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include "core/wire.hpp"

namespace halong::agent {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);
using namespace net::experimental::awaitable_operators;

Result<std::string> normalize_fingerprint(std::string_view fp) {
  std::string out;
  for (char c : fp) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c)))
      return make_error(ErrorCode::invalid_argument, "fingerprint must be hex digits (':' allowed), got '" + std::string(fp) + "'");
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (out.size() != 64)
    return make_error(ErrorCode::invalid_argument, "fingerprint must be a SHA-256 (64 hex digits), got " + std::to_string(out.size()));
  return out;
}

namespace {

using WsStream = websocket::stream<ssl::stream<beast::tcp_stream>>;

std::string cert_sha256(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!cert || X509_digest(cert, EVP_sha256(), md, &n) != 1) return {};
  static const char* k = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < n; ++i) {
    s.push_back(k[md[i] >> 4]);
    s.push_back(k[md[i] & 15]);
  }
  return s;
}

struct SessionEnd {
  std::string error;            // why it ended (empty on stop)
  bool welcomed = false;        // got as far as the welcome
  bool auth = false;            // refused our credentials
  uint64_t retry_after_ms = 0;  // the collector asked us to wait
};

struct InFlight {
  uint64_t batch;
  uint64_t last_seq;
  size_t count;
  Clock::time_point sent;
};

uint64_t rss_bytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

class Uplink::Impl : public std::enable_shared_from_this<Uplink::Impl> {
 public:
  using Exec = net::strand<net::io_context::executor_type>;
  explicit Impl(UplinkOptions o)
      : opts(std::move(o)),
        own_ioc(opts.io_context ? nullptr : std::make_unique<net::io_context>(1)),
        ioc(opts.io_context ? *opts.io_context : *own_ioc),
        ex(net::make_strand(ioc)) {}

  UplinkOptions opts;
  std::unique_ptr<Spool> spool;
  std::string pinned;
  StatsProvider stats_provider;
  RulesetHandler ruleset_handler;
  std::deque<std::string> control_out;  // io thread: frames to send before the next batch
  std::string running_ruleset;          // io thread
  Clock::time_point started_at = Clock::now();

  ssl::context ssl_ctx{ssl::context::tls_client};
  std::unique_ptr<net::io_context> own_ioc;  // null when running on opts.io_context
  net::io_context& ioc;
  Exec ex;                           // every handler of this uplink runs on this strand
  net::steady_timer wake{ex};        // wakes the writer
  net::steady_timer backoff_timer{ex};
  std::thread thread;                // own_ioc only
  std::atomic<bool> running{false}, stopping{false}, ever_started{false};
  std::atomic<bool> wake_pending{false};
  std::atomic<uint64_t> next_send_seq{1};   // mirror for submit()'s wake decision
  std::atomic<uint64_t> flush_target{0};

  // io thread only
  WsStream* current = nullptr;
  std::deque<InFlight> inflight;
  uint64_t batch_no = 0;
  std::string batch_frame;  // the writer's frame buffer, reused
  std::optional<Clock::time_point> first_unsent_at;
  Clock::time_point next_heartbeat{};
  std::mt19937_64 rng{std::random_device{}()};

  std::mutex overflow_mu;
  std::atomic<uint64_t> overflow_reported{0};  // dropped count already told in a self-alert
  Clock::time_point overflow_last{};          // under overflow_mu: at most one self-alert a minute

  // Raises the agent's own "spool full" alert when the spool dropped alerts since the last
  // one; retried on later submits/acks while the spool refuses it.
  void maybe_raise_overflow_alert() {
    uint64_t dropped = spool->dropped();
    std::unique_lock lk(overflow_mu, std::try_to_lock);
    if (!lk || dropped <= overflow_reported) return;
    if (overflow_last != Clock::time_point{} && Clock::now() - overflow_last < std::chrono::minutes(1)) return;
    Alert a;
    a.timestamp_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    a.agent = opts.agent;
    a.source = "agent";
    a.alert.signature_id = kSpoolOverflowSid;
    a.alert.rev = 1;
    a.alert.signature = "Halong agent spool full: " + std::to_string(dropped) + " alerts dropped (policy: keep " +
                        (spool->options().overflow == OverflowPolicy::drop_oldest ? "newest" : "oldest") + ")";
    a.alert.category = "Agent health";
    a.alert.severity = 1;
    a.alert.engine = "halong";
    if (spool->append(a)) {
      overflow_reported = dropped;
      overflow_last = Clock::now();
      spdlog::error("uplink: spool full: {} alerts dropped so far (spool cap {} bytes)", dropped, spool->options().max_bytes);
    }
  }

  mutable std::mutex mu;
  std::condition_variable cv;
  UplinkStatus st;
  bool loop_exited = false;

  Status configure_tls() {
    ssl_ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                        ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    SSL_CTX_set_min_proto_version(ssl_ctx.native_handle(), TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(ssl_ctx.native_handle(), "ECDHE+AESGCM:ECDHE+CHACHA20");
    boost::system::error_code ec;
    if (!opts.ca_file.empty()) {
      ssl_ctx.load_verify_file(opts.ca_file.string(), ec);
      if (ec) return make_error(ErrorCode::invalid_argument, "uplink: CA file " + opts.ca_file.string() + ": " + ec.message());
    }
    if (!opts.client_cert_file.empty()) {
      ssl_ctx.use_certificate_chain_file(opts.client_cert_file.string(), ec);
      if (ec) return make_error(ErrorCode::invalid_argument, "uplink: certificate " + opts.client_cert_file.string() + ": " + ec.message());
      ssl_ctx.use_private_key_file(opts.client_key_file.string(), ssl::context::pem, ec);
      if (ec) return make_error(ErrorCode::invalid_argument, "uplink: key " + opts.client_key_file.string() + ": " + ec.message());
    }
    ssl_ctx.set_verify_mode(ssl::verify_peer);
    return {};
  }

  void set_status(const std::function<void(UplinkStatus&)>& f) {
    {
      std::lock_guard lk(mu);
      f(st);
    }
    cv.notify_all();
  }

  void poke() {
    if (!wake_pending.exchange(true))
      net::post(ex, [this, keep = keep_alive()] {
        wake_pending = false;
        wake.cancel();
      });
  }

  std::string heartbeat_json() {
    boost::json::object o;
    if (stats_provider) {
      boost::system::error_code ec;
      auto v = boost::json::parse(stats_provider(), ec);
      if (!ec && v.is_object()) o = v.get_object();
    }
    auto sp = spool->stats();
    o["version"] = opts.version;
    o["uptime_s"] = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_at).count();
    o["spool_depth"] = sp.depth;
    o["spool_bytes"] = sp.bytes;
    o["spool_dropped"] = sp.dropped_oldest + sp.dropped_newest;
    o["alerts_raised"] = sp.appended;
    o["ruleset_version"] = running_ruleset;
    o["cpu_seconds"] = cpu_seconds();
    o["rss_bytes"] = rss_bytes();
    return boost::json::serialize(o);
  }

  // Writer: sends batches while the window has room; heartbeats; ack timeout.
  net::awaitable<void> writer(WsStream& ws, SessionEnd& end) {
    for (;;) {
      if (stopping || end.error.size()) break;
      auto now = Clock::now();
      if (!inflight.empty() && now - inflight.front().sent > opts.ack_timeout) {
        end.error = "no ack for batch " + std::to_string(inflight.front().batch) + " within " +
                    std::to_string(opts.ack_timeout.count()) + " ms";
        break;
      }
      if (!control_out.empty()) {
        std::string frame = std::move(control_out.front());
        control_out.pop_front();
        ws.text(true);
        auto [ec, n] = co_await ws.async_write(net::buffer(frame), tuple_awaitable);
        if (ec) {
          if (end.error.empty()) end.error = "send failed: " + ec.message();
          break;
        }
        continue;
      }
      if (opts.heartbeat_interval.count() > 0 && now >= next_heartbeat) {
        next_heartbeat = now + opts.heartbeat_interval;
        std::string frame = wire::encode(wire::Heartbeat{heartbeat_json()});
        ws.text(true);
        auto [ec, n] = co_await ws.async_write(net::buffer(frame), tuple_awaitable);
        if (ec) {
          if (end.error.empty()) end.error = "send failed: " + ec.message();
          break;
        }
        continue;
      }
      uint64_t last = spool->last_seq();
      uint64_t next = next_send_seq;
      Clock::time_point deadline = Clock::time_point::max();
      if (last >= next) {
        if (!first_unsent_at) first_unsent_at = now;
        if (inflight.size() < opts.max_inflight_batches) {
          uint64_t unsent = last - next + 1;
          if (unsent >= opts.batch_size || flush_target >= next || now - *first_unsent_at >= opts.flush_interval) {
            // The frame is built straight from the spool's read buffer into a buffer kept
            // from batch to batch (no copy per alert, no allocation per batch).
            uint64_t b = batch_no + 1, last_in = 0;
            wire::begin_alert_batch(batch_frame, b);
            auto count = spool->visit(next, opts.batch_size, 8u << 20, [&](uint64_t seq, std::string_view json) {
              wire::append_alert_raw(batch_frame, json, last_in == 0);
              last_in = seq;
            });
            if (!count) {
              end.error = count.error().message;
              break;
            }
            if (*count == 0) {  // deleted by the overflow policy
              next_send_seq = last + 1;
              first_unsent_at.reset();
              continue;
            }
            wire::end_alert_batch(batch_frame);
            batch_no = b;
            ws.text(true);
            auto [ec, n] = co_await ws.async_write(net::buffer(batch_frame), tuple_awaitable);
            if (ec) {
              if (end.error.empty()) end.error = "send failed: " + ec.message();
              break;
            }
            if (batch_frame.capacity() > (16u << 20)) std::string().swap(batch_frame);  // after a rare huge batch
            inflight.push_back({b, last_in, *count, Clock::now()});
            next_send_seq = last_in + 1;
            if (spool->last_seq() >= next_send_seq) first_unsent_at = Clock::now();
            else first_unsent_at.reset();
            set_status([](UplinkStatus& s) { ++s.batches_sent; });
            continue;
          }
          deadline = *first_unsent_at + opts.flush_interval;
        }
      } else {
        first_unsent_at.reset();
      }
      if (!inflight.empty()) deadline = std::min(deadline, inflight.front().sent + opts.ack_timeout);
      if (opts.heartbeat_interval.count() > 0) deadline = std::min(deadline, next_heartbeat);
      if (spool->options().fsync == FsyncPolicy::interval)
        deadline = std::min(deadline, now + spool->options().fsync_interval);
      wake.expires_at(deadline);
      co_await wake.async_wait(tuple_awaitable);
      if (spool->options().fsync == FsyncPolicy::interval) (void)spool->sync();
    }
    close_transport(ws);
  }

  net::awaitable<void> reader(WsStream& ws, SessionEnd& end) {
    beast::flat_buffer buf;
    for (;;) {
      auto [ec, n] = co_await ws.async_read(buf, tuple_awaitable);
      if (ec) {
        if (end.error.empty() && !stopping) end.error = "connection lost: " + ec.message();
        break;
      }
      auto msg = wire::decode(beast::buffers_to_string(buf.data()));
      buf.clear();
      if (!msg) {
        end.error = "collector sent a bad frame: " + msg.error().message;
        break;
      }
      if (auto* ack = std::get_if<wire::Ack>(&*msg)) {
        if (inflight.empty() || inflight.front().batch != ack->batch) {
          end.error = "collector acked batch " + std::to_string(ack->batch) + " out of order";
          break;
        }
        InFlight f = inflight.front();
        inflight.pop_front();
        if (auto s = spool->ack(ack->highest_seq); !s) spdlog::error("uplink: {}", s.error().message);
        if (spool->dropped() > overflow_reported) maybe_raise_overflow_alert();
        auto lat = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - f.sent).count();
        set_status([&](UplinkStatus& s) {
          ++s.batches_acked;
          s.alerts_acked += f.count;
          s.collector_highest_seq = ack->highest_seq;
          if (s.ack_latency_us.size() >= 1024) s.ack_latency_us.erase(s.ack_latency_us.begin(), s.ack_latency_us.begin() + 512);
          s.ack_latency_us.push_back(static_cast<uint32_t>(std::min<int64_t>(lat, UINT32_MAX)));
        });
        wake.cancel();
      } else if (auto* rp = std::get_if<wire::RulesetPush>(&*msg)) {
        spdlog::info("uplink: collector pushed ruleset {} ({} files)", rp->version, rp->files.size());
        if (ruleset_handler) {
          ruleset_handler(*rp);
        } else {
          control_out.push_back(wire::encode(wire::RulesetStatus{rp->version, false, "this agent does not take pushed rulesets"}));
          wake.cancel();
        }
      } else if (auto* e = std::get_if<wire::ErrorMsg>(&*msg)) {
        end.error = "collector refused: " + e->message + " (" + e->code + ")";
        end.retry_after_ms = e->retry_after_ms;
        end.auth = e->code == "unauthorized" || e->code == "forbidden";
        break;
      }
      // Other messages (ruleset push...) are not for this version: ignored.
    }
    close_transport(ws);
  }

  void close_transport(WsStream& ws) {
    beast::error_code ec;
    auto& sock = beast::get_lowest_layer(ws).socket();
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
    wake.cancel();
  }

  net::awaitable<SessionEnd> session() {
    SessionEnd end;
    std::string where = opts.host + ":" + std::to_string(opts.port);
    tcp::resolver resolver(ex);
    std::string service = std::to_string(opts.port);
    auto [rec, results] = co_await resolver.async_resolve(opts.host, service, tuple_awaitable);
    if (rec) {
      end.error = "cannot resolve " + opts.host + ": " + rec.message();
      co_return end;
    }
    WsStream ws(ex, ssl_ctx);
    current = &ws;
    struct Clear {
      Impl* m;
      ~Clear() { m->current = nullptr; }
    } clear{this};
    auto& lowest = beast::get_lowest_layer(ws);
    lowest.expires_after(opts.connect_timeout);
    if (auto [ec, ep] = co_await lowest.async_connect(results, tuple_awaitable); ec) {
      end.error = "collector " + where + " not reachable: " + ec.message();
      co_return end;
    }
    {
      // Frames are written whole: do not let Nagle hold the tail of one back for an ACK.
      beast::error_code nd;
      lowest.socket().set_option(tcp::no_delay(true), nd);
    }
    if (!SSL_set_tlsext_host_name(ws.next_layer().native_handle(), opts.host.c_str())) {}
    std::string seen_fp;
    bool pin_ok = pinned.empty();
    // A handshake cut before the server's certificate arrived (a collector killed or
    // restarting) is a transient failure to retry, not a pin mismatch.
    bool cert_seen = false;
    ws.next_layer().set_verify_callback([&](bool preverified, ssl::verify_context& ctx) {
      int depth = X509_STORE_CTX_get_error_depth(ctx.native_handle());
      if (depth != 0) return pinned.empty() ? preverified : true;
      X509* cert = X509_STORE_CTX_get_current_cert(ctx.native_handle());
      cert_seen = true;
      if (!pinned.empty()) {
        seen_fp = cert_sha256(cert);
        pin_ok = seen_fp == pinned;
        if (!pin_ok) return false;
        if (opts.ca_file.empty()) return true;
      }
      if (!preverified) return false;
      return ssl::host_name_verification(opts.host)(preverified, ctx);
    });
    lowest.expires_after(opts.connect_timeout);
    if (auto [ec] = co_await ws.next_layer().async_handshake(ssl::stream_base::client, tuple_awaitable); ec) {
      const bool mismatch = cert_seen && !pin_ok;
      if (mismatch)
        end.error = "collector " + where + " presented certificate " + seen_fp + ", not the pinned " + pinned;
      else
        end.error = "TLS handshake with " + where + " failed: " + ec.message();
      end.auth = mismatch;
      co_return end;
    }
    lowest.expires_never();
    websocket::stream_base::timeout to{};
    to.handshake_timeout = opts.connect_timeout;
    to.idle_timeout = std::max(opts.ack_timeout, std::chrono::milliseconds(opts.heartbeat_interval * 3));
    to.keep_alive_pings = true;
    ws.set_option(to);
    ws.read_message_max(wire::kMaxFrameBytes);
    // A batch goes out as one WebSocket frame, masked 64 KiB at a time: Beast's default
    // (auto-fragment into 4 KiB frames, 4 KiB mask buffer) cost one TLS record and one
    // send() per 4 KiB, about 40% of the agent's CPU for shipping (bench/ingest/NOTES.md).
    ws.auto_fragment(false);
    ws.write_buffer_bytes(64 * 1024);
    if (auto [ec] = co_await ws.async_handshake(opts.host, "/agent/v1", tuple_awaitable); ec) {
      end.error = "WebSocket upgrade at " + where + "/agent/v1 failed: " + ec.message();
      co_return end;
    }
    wire::Hello hello;
    hello.token = opts.token;
    hello.agent = opts.agent;
    hello.version = opts.version;
    hello.ruleset_version = running_ruleset;
    ws.text(true);
    std::string hello_frame = wire::encode(hello);
    if (auto [ec, n] = co_await ws.async_write(net::buffer(hello_frame), tuple_awaitable); ec) {
      end.error = "sending hello failed: " + ec.message();
      co_return end;
    }
    beast::flat_buffer buf;
    net::steady_timer hello_timer(ex);
    hello_timer.expires_after(opts.connect_timeout);
    auto answered = std::make_shared<bool>(false);  // a timer that fired just as the welcome came must not close
    hello_timer.async_wait([&ws, this, answered](boost::system::error_code ec) {
      if (!ec && !*answered) close_transport(ws);
    });
    auto [rec2, n2] = co_await ws.async_read(buf, tuple_awaitable);
    *answered = true;
    hello_timer.cancel();
    if (rec2) {
      end.error = "no welcome from " + where + ": " + rec2.message();
      co_return end;
    }
    auto msg = wire::decode(beast::buffers_to_string(buf.data()));
    if (!msg) {
      end.error = "bad welcome from " + where + ": " + msg.error().message;
      co_return end;
    }
    if (auto* e = std::get_if<wire::ErrorMsg>(&*msg)) {
      end.error = "collector " + where + " refused: " + e->message + " (" + e->code + ")";
      end.auth = e->code == "unauthorized" || e->code == "forbidden";
      end.retry_after_ms = e->retry_after_ms;
      co_return end;
    }
    auto* w = std::get_if<wire::Welcome>(&*msg);
    if (!w) {
      end.error = "collector " + where + " did not answer hello with welcome";
      co_return end;
    }
    end.welcomed = true;
    if (w->highest_seq > spool->last_seq()) {
      auto r = spool->rebase(w->highest_seq);
      if (!r) {
        end.error = r.error().message;
        co_return end;
      }
    }
    if (auto s = spool->ack(w->highest_seq); !s) spdlog::error("uplink: {}", s.error().message);
    next_send_seq = spool->acked_seq() + 1;
    inflight.clear();
    control_out.clear();
    first_unsent_at.reset();
    next_heartbeat = Clock::now();
    uint64_t pending = spool->last_seq() >= next_send_seq ? spool->last_seq() - next_send_seq + 1 : 0;
    spdlog::info("uplink: connected to collector {} as '{}'; it has stored up to seq {}; {} alerts to send", where,
                 opts.agent.id, w->highest_seq, pending);
    set_status([&](UplinkStatus& s) {
      s.connected = true;
      ++s.connects;
      s.collector_highest_seq = w->highest_seq;
      s.last_error.clear();
      s.auth_rejected = false;
    });
    co_await (reader(ws, end) && writer(ws, end));
    set_status([](UplinkStatus& s) { s.connected = false; });
    co_return end;
  }

  net::awaitable<void> run() {
    auto backoff = opts.backoff_initial;
    std::string last_logged;
    while (!stopping) {
      SessionEnd end = co_await session();
      if (stopping) break;
      if (end.welcomed) backoff = opts.backoff_initial;
      set_status([&](UplinkStatus& s) {
        s.last_error = end.error;
        s.auth_rejected = end.auth;
        if (!end.welcomed) ++s.connect_failures;
      });
      cv.notify_all();
      // jitter: uniformly in [backoff/2, backoff], and never below what the collector asked
      auto lo = backoff.count() / 2;
      std::uniform_int_distribution<long long> dist(lo, std::max<long long>(lo, backoff.count()));
      auto delay = std::chrono::milliseconds(std::max<long long>(dist(rng), static_cast<long long>(end.retry_after_ms)));
      if (end.retry_after_ms) delay += std::chrono::milliseconds(dist(rng) / 2);
      if (end.error != last_logged) {
        if (end.auth)
          spdlog::error("uplink: {}; retrying in {:.1f} s", end.error, delay.count() / 1000.0);
        else
          spdlog::warn("uplink: {}; retrying in {:.1f} s (further identical failures logged at debug)", end.error,
                       delay.count() / 1000.0);
        last_logged = end.error;
      } else {
        spdlog::debug("uplink: {}; retrying in {:.1f} s", end.error, delay.count() / 1000.0);
      }
      backoff = std::min(opts.backoff_max, backoff * 2);
      backoff_timer.expires_after(delay);
      co_await backoff_timer.async_wait(tuple_awaitable);
    }
  }

  // The loop, keeping the Impl alive while it runs (on a shared io_context the Uplink can be
  // destroyed before its last handlers have run).
  static net::awaitable<void> run_owned(std::shared_ptr<Impl> self) { co_await self->run(); }

  // What a posted handler holds: the Impl on a shared io_context (which outlives it); nothing
  // on its own one (joined before the Impl goes; holding it there would be a cycle).
  std::shared_ptr<Impl> keep_alive() { return own_ioc ? nullptr : shared_from_this(); }

  void mark_exited() {
    {
      std::lock_guard lk(mu);
      loop_exited = true;
    }
    cv.notify_all();
  }
};

Uplink::Uplink(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Uplink::~Uplink() { stop(); }

Result<std::unique_ptr<Uplink>> Uplink::create(UplinkOptions opts) {
  if (opts.port == 0) return make_error(ErrorCode::invalid_argument, "uplink: collector port is 0");
  if (opts.agent.id.empty()) return make_error(ErrorCode::invalid_argument, "uplink: agent id is empty");
  if (opts.batch_size == 0 || opts.batch_size > wire::kMaxBatchAlerts)
    return make_error(ErrorCode::invalid_argument, "uplink: batch_size must be 1.." + std::to_string(wire::kMaxBatchAlerts));
  if (opts.max_inflight_batches == 0) return make_error(ErrorCode::invalid_argument, "uplink: max_inflight_batches must be >= 1");
  if (opts.pinned_sha256.empty() && opts.ca_file.empty())
    return make_error(ErrorCode::invalid_argument, "uplink: no way to verify the collector: give a pinned fingerprint or a CA file");
  std::string pinned;
  if (!opts.pinned_sha256.empty()) {
    auto fp = normalize_fingerprint(opts.pinned_sha256);
    if (!fp) return fp.error();
    pinned = *fp;
  }
  auto impl = std::make_shared<Impl>(std::move(opts));
  impl->pinned = std::move(pinned);
  impl->running_ruleset = impl->opts.ruleset_version;
  if (auto s = impl->configure_tls(); !s) return s.error();
  auto sp = Spool::open(impl->opts.spool);
  if (!sp) return sp.error();
  impl->spool = std::move(*sp);
  impl->next_send_seq = impl->spool->acked_seq() + 1;
  return std::unique_ptr<Uplink>(new Uplink(std::move(impl)));
}

Status Uplink::start() {
  auto& m = *impl_;
  if (m.ever_started.exchange(true)) return m.running ? Status{} : make_error(ErrorCode::invalid_argument, "uplink: cannot restart after stop");
  m.running = true;
  if (!m.own_ioc) {
    net::co_spawn(m.ex, Impl::run_owned(impl_), [self = impl_](std::exception_ptr) { self->mark_exited(); });
  } else {
    net::co_spawn(m.ex, m.run(), net::detached);
    m.thread = std::thread([&m] {
      ::pthread_setname_np(::pthread_self(), "hl-uplink");  // for per-thread CPU accounting
      m.ioc.run();
      m.mark_exited();
    });
  }
  return {};
}

void Uplink::stop() {
  auto& m = *impl_;
  if (!m.running.exchange(false)) return;
  m.stopping = true;
  net::post(m.ex, [&m, keep = m.keep_alive()] {
    m.backoff_timer.cancel();
    m.wake.cancel();
    if (m.current) m.close_transport(*m.current);
  });
  {
    std::unique_lock lk(m.mu);
    // On a shared io_context the loop keeps its Impl alive, so giving up waiting is safe.
    if (!m.cv.wait_for(lk, std::chrono::seconds(3), [&] { return m.loop_exited; }) && m.own_ioc) m.ioc.stop();
  }
  if (m.thread.joinable()) m.thread.join();
  m.cv.notify_all();
  (void)m.spool->sync();
}

Result<uint64_t> Uplink::submit(Alert a) {
  auto& m = *impl_;
  a.agent.id = m.opts.agent.id;
  if (a.agent.hostname.empty()) a.agent.hostname = m.opts.agent.hostname;
  if (a.agent.agency.empty()) a.agent.agency = m.opts.agent.agency;
  auto r = m.spool->append(a);
  if (!r) {
    m.set_status([](UplinkStatus& s) { ++s.dropped; });
    return r.error();
  }
  {
    std::lock_guard lk(m.mu);
    ++m.st.submitted;
  }
  uint64_t next = m.next_send_seq;
  if (m.running && (*r == next || (*r >= next && (*r - next + 1) % m.opts.batch_size == 0))) m.poke();
  return *r;
}

Status Uplink::flush_and_wait(std::chrono::milliseconds timeout) {
  auto& m = *impl_;
  if (!m.running) return make_error(ErrorCode::invalid_argument, "uplink: not started");
  uint64_t target = m.spool->last_seq();
  uint64_t cur = m.flush_target;
  while (cur < target && !m.flush_target.compare_exchange_weak(cur, target)) {}
  m.poke();
  auto deadline = Clock::now() + timeout;
  std::unique_lock lk(m.mu);
  for (;;) {
    if (m.spool->acked_seq() >= target) return {};
    if (m.st.auth_rejected) return make_error(ErrorCode::unauthorized, "uplink: " + m.st.last_error);
    if (m.loop_exited) return make_error(ErrorCode::unavailable, "uplink: stopped");
    if (m.cv.wait_until(lk, deadline) == std::cv_status::timeout && Clock::now() >= deadline) {
      if (m.spool->acked_seq() >= target) return {};
      return make_error(ErrorCode::unavailable,
                        "uplink: " + std::to_string(target - std::min(target, m.spool->acked_seq())) +
                            " alerts not acknowledged by the collector within " + std::to_string(timeout.count()) + " ms" +
                            (m.st.last_error.empty() ? std::string() : "; last error: " + m.st.last_error));
    }
  }
}

UplinkStatus Uplink::status() const {
  std::lock_guard lk(impl_->mu);
  UplinkStatus s = impl_->st;
  s.spool = impl_->spool->stats();
  s.dropped = s.spool.dropped_newest + s.spool.dropped_oldest;
  return s;
}

void Uplink::set_stats_provider(StatsProvider p) { impl_->stats_provider = std::move(p); }
void Uplink::set_ruleset_handler(RulesetHandler h) { impl_->ruleset_handler = std::move(h); }

void Uplink::report_ruleset(const wire::RulesetStatus& status) {
  auto& m = *impl_;
  std::string frame = wire::encode(status);
  net::post(m.ex, [&m, keep = m.keep_alive(), status, frame = std::move(frame)]() mutable {
    if (status.ok) m.running_ruleset = status.version;
    if (m.current) {
      m.control_out.push_back(std::move(frame));
      m.wake.cancel();
    }
  });
}
Spool& Uplink::spool() { return *impl_->spool; }

}  // namespace halong::agent
