#include "collector/api/http_server.hpp"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <boost/beast/websocket.hpp>
#include <deque>
#include <functional>
#include <map>
#include <mutex>

#include "collector/api/errors.hpp"
#include "collector/store/alert_bus.hpp"

namespace halong::collector::api {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

namespace websocket = beast::websocket;

// Live connections, so that stop() can close them (their sockets must not outlive stop()).
struct Registry {
  std::atomic<size_t> live{0};
  std::mutex mu;
  std::map<uint64_t, std::function<void()>> closers;
  uint64_t next = 1;
  uint64_t add(std::function<void()> c) {
    std::lock_guard l(mu);
    closers[next] = std::move(c);
    return next++;
  }
  void remove(uint64_t id) {
    std::lock_guard l(mu);
    closers.erase(id);
  }
  void close_all() {
    std::vector<std::function<void()>> cs;
    {
      std::lock_guard l(mu);
      for (auto& [id, c] : closers) cs.push_back(c);
    }
    for (auto& c : cs) c();
  }
};

template <class Self, class Lowest>
std::function<void()> closer_for(const std::shared_ptr<Self>& self, Lowest lowest) {
  std::weak_ptr<Self> weak = self;
  return [weak, lowest] {
    if (auto s = weak.lock())
      net::post(lowest(*s).get_executor(), [s, lowest] {
        beast::error_code ec;
        lowest(*s).socket().close(ec);
      });
  };
}

// One live-stream client: accepts the upgrade, subscribes to the bus, sends matching events
// as JSON text frames from a bounded queue (a client that cannot keep up is closed, never
// allowed to grow memory), reads only to notice the close.
template <class Stream>
class WsSession : public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  static constexpr size_t kMaxQueue = 1024;
  WsSession(Stream&& s, AlertBus& bus, StreamFilter f, Registry& reg)
      : ws_(std::move(s)), bus_(bus), filter_(std::move(f)), reg_(reg) {
    ++reg_.live;
  }
  ~WsSession() {
    if (sub_) bus_.unsubscribe(sub_);
    if (reg_id_) reg_.remove(reg_id_);
    --reg_.live;
  }
  void run(Request req) {
    reg_id_ = reg_.add(closer_for(this->shared_from_this(), [](WsSession& w) -> beast::tcp_stream& {
      return beast::get_lowest_layer(w.ws_);
    }));
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "halong-collector"); }));
    ws_.read_message_max(64 * 1024);
    beast::get_lowest_layer(ws_).expires_never();
    auto self = this->shared_from_this();
    ws_.async_accept(req, [self](beast::error_code ec) {
      if (ec) return;
      std::weak_ptr<WsSession> weak = self;
      self->sub_ = self->bus_.subscribe([weak](const BusEvent& e) {
        auto s = weak.lock();
        if (!s || !ApiHandler::stream_matches(s->filter_, e)) return;
        auto msg = std::make_shared<std::string>(ApiHandler::stream_message(e));
        net::post(s->ws_.get_executor(), [s, msg] { s->enqueue(msg); });
      });
      self->read();
    });
  }

 private:
  void read() {
    ws_.async_read(in_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->closed_ = true;
        if (self->sub_) self->bus_.unsubscribe(self->sub_);
        self->sub_ = 0;
        return;
      }
      self->in_.consume(self->in_.size());
      self->read();
    });
  }
  void enqueue(std::shared_ptr<std::string> msg) {
    if (closed_) return;
    if (queue_.size() >= kMaxQueue) {
      closed_ = true;
      ws_.async_close(websocket::close_reason(websocket::close_code::policy_error, "client too slow"),
                      [self = this->shared_from_this()](beast::error_code) {});
      return;
    }
    queue_.push_back(std::move(msg));
    if (queue_.size() == 1) write();
  }
  void write() {
    ws_.text(true);
    ws_.async_write(net::buffer(*queue_.front()), [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->closed_ = true;
        self->queue_.clear();
        return;
      }
      self->queue_.pop_front();
      if (!self->queue_.empty()) self->write();
    });
  }

  websocket::stream<Stream> ws_;
  AlertBus& bus_;
  StreamFilter filter_;
  Registry& reg_;
  uint64_t reg_id_ = 0;
  beast::flat_buffer in_;
  std::deque<std::shared_ptr<std::string>> queue_;
  uint64_t sub_ = 0;
  bool closed_ = false;
};

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One HTTP connection (Stream = beast::tcp_stream, or TlsStream after a TLS handshake).
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  template <class... Args>
  Session(ApiHandler& h, const ServerOptions& o, Registry& reg, tcp::socket&& s, Args&... ctx)
      : stream_(std::move(s), ctx...), handler_(h), opt_(o), reg_(reg) {
    ++reg_.live;
  }
  ~Session() {
    if (reg_id_) reg_.remove(reg_id_);
    --reg_.live;
  }
  void run() {
    reg_id_ = reg_.add(closer_for(this->shared_from_this(), [](Session& x) -> beast::tcp_stream& {
      return beast::get_lowest_layer(x.stream_);
    }));
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        beast::get_lowest_layer(self->stream_).expires_after(self->opt_.read_timeout);
        self->stream_.async_handshake(net::ssl::stream_base::server, [self](beast::error_code ec) {
          if (!ec) self->read();  // a failed handshake just drops the connection
        });
      } else {
        self->read();
      }
    });
  }

 private:
  auto self() { return this->shared_from_this(); }
  void read() {
    parser_.emplace();
    parser_->body_limit(opt_.body_limit);
    parser_->header_limit(16 * 1024);
    beast::get_lowest_layer(stream_).expires_after(first_ ? opt_.read_timeout : opt_.idle_timeout);
    first_ = false;
    http::async_read_header(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_header, self()));
  }
  // Headers first: the ruleset upload may carry a larger body than any other request.
  void on_header(beast::error_code ec, std::size_t n) {
    if (ec) return on_read(ec, n);
    const auto& h = parser_->get();
    std::string_view target = h.target();
    if (h.method() == http::verb::post && target.substr(0, target.find('?')) == opt_.large_body_path)
      parser_->body_limit(std::max(opt_.body_limit, opt_.large_body_limit));
    if (parser_->is_done()) return on_read({}, 0);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, self()));
  }
  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted) return close();
    if (ec == http::error::body_limit) {
      Request req;
      req.version(11);
      req.keep_alive(false);
      auto res = error_response(req, make_error(ErrorCode::resource_exhausted,
                                                "request body over " + std::to_string(opt_.body_limit) + " bytes"));
      res.result(http::status::payload_too_large);
      return send(std::move(res));
    }
    if (ec) {
      Request req;
      req.version(11);
      req.keep_alive(false);
      return send(error_response(req, make_error(ErrorCode::invalid_argument, "malformed HTTP request: " + ec.message())));
    }
    beast::get_lowest_layer(stream_).expires_after(opt_.read_timeout);
    if (websocket::is_upgrade(parser_->get())) {
      const Request& req = parser_->get();
      auto f = handler_.stream_filter(req);
      if (!f) return send(error_response(req, f.error()));
      std::string_view target = req.target();
      if (target.substr(0, target.find('?')) != "/api/v1/stream")
        return send(error_response(req, make_error(ErrorCode::not_found, "no WebSocket at " + std::string(target))));
      std::make_shared<WsSession<Stream>>(std::move(stream_), *handler_.bus(), std::move(*f), reg_)->run(parser_->release());
      return;
    }
    send(handler_.handle(parser_->get()));
  }
  void send(Response&& res) {
    auto sp = std::make_shared<Response>(std::move(res));
    res_ = sp;
    http::async_write(stream_, *sp, beast::bind_front_handler(&Session::on_write, self(), sp->need_eof()));
  }
  void on_write(bool close_after, beast::error_code ec, std::size_t) {
    res_.reset();
    if (ec || close_after) return close();
    read();
  }
  void close() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
      stream_.async_shutdown([self = self()](beast::error_code) {});
    } else {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<Response> res_;
  ApiHandler& handler_;
  const ServerOptions& opt_;
  Registry& reg_;
  uint64_t reg_id_ = 0;
  bool first_ = true;
};

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  ApiHandler& handler;
  ServerOptions opt;
  net::io_context ioc;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  Registry reg;
  uint16_t port = 0;
  bool running = false;

  Impl(ApiHandler& h, ServerOptions o) : handler(h), opt(std::move(o)), ioc(std::max(1, opt.threads)), acceptor(net::make_strand(ioc)) {}

  void accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        if (reg.live.load() >= opt.max_connections) {
          beast::error_code ignore;
          s.close(ignore);
        } else {
          if (opt.tls) std::make_shared<Session<TlsStream>>(handler, opt, reg, std::move(s), *opt.tls)->run();
          else std::make_shared<Session<beast::tcp_stream>>(handler, opt, reg, std::move(s))->run();
        }
      }
      accept();
    });
  }
};

HttpServer::HttpServer(ApiHandler& handler, ServerOptions opt) : impl_(std::make_unique<Impl>(handler, std::move(opt))) {}
HttpServer::~HttpServer() { stop(); }

Status HttpServer::start() {
  auto& m = *impl_;
  if (m.running) return make_error(ErrorCode::conflict, "HTTP server already started");
  beast::error_code ec;
  auto addr = net::ip::make_address(m.opt.address, ec);
  if (ec) return make_error(ErrorCode::invalid_argument, "bad listen address '" + m.opt.address + "'");
  if (!m.opt.tls && !addr.is_loopback() && !m.opt.allow_plain_http)
    return make_error(ErrorCode::invalid_argument, "plain HTTP on " + m.opt.address +
                                                       " refused: serve the API over TLS, or listen on loopback only");
  tcp::endpoint ep{addr, m.opt.port};
  const std::string where = m.opt.address + ":" + std::to_string(m.opt.port);
  m.acceptor.open(ep.protocol(), ec);
  if (!ec) m.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) m.acceptor.bind(ep, ec);
  if (!ec) m.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignore;
    m.acceptor.close(ignore);
    return make_error(ErrorCode::io_error, "cannot listen on " + where + ": " + ec.message());
  }
  m.port = m.acceptor.local_endpoint().port();
  m.accept();
  m.running = true;
  for (int i = 0; i < std::max(1, m.opt.threads); ++i) m.threads.emplace_back([&m] { m.ioc.run(); });
  spdlog::debug("api: listening on {}:{}", m.opt.address, m.port);
  return {};
}

uint16_t HttpServer::port() const { return impl_->port; }

void HttpServer::stop() {
  auto& m = *impl_;
  if (!m.running) return;
  m.running = false;
  net::post(m.acceptor.get_executor(), [&m] {
    beast::error_code ec;
    m.acceptor.close(ec);
  });
  // Close every connection (in-flight handlers finish with operation_aborted), wait for
  // the sessions to end, then stop the loop.
  m.reg.close_all();
  for (int i = 0; i < 200 && m.reg.live.load() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  m.ioc.stop();
  for (auto& t : m.threads) t.join();
  m.threads.clear();
  // No thread runs the loop any more: close the acceptor here (the posted close may not have
  // run), then run what is still queued (closes, aborted reads) so every session and its
  // socket is gone when stop() returns and the port can be bound again.
  beast::error_code ec;
  m.acceptor.close(ec);
  m.reg.close_all();
  m.ioc.restart();
  m.ioc.poll();
}

}  // namespace halong::collector::api
