// HttpServer: puts an ApiHandler on a socket. Shaped like Beast's advanced_server example:
// listener -> session, a strand per connection, read timeouts, a body limit, graceful stop.
// HTTPS when given a TLS context; plain HTTP only on loopback (or when explicitly allowed).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "collector/api/api_handler.hpp"
#include "core/result.hpp"

namespace halong::collector::api {

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;                         // 0 = any free port (see HttpServer::port())
  int threads = 2;
  std::chrono::seconds read_timeout{30};     // per request (headers + body)
  std::chrono::seconds idle_timeout{60};     // keep-alive connection with no request
  size_t body_limit = 1 << 20;               // bytes; larger bodies get 413
  // POST of a whole ruleset (ET Open is ~30 MB of rule text): only this path may send a
  // body up to large_body_limit; authentication is checked by the handler as for any route.
  size_t large_body_limit = 64u << 20;
  std::string large_body_path = "/api/v1/rulesets";
  size_t max_connections = 1024;
  // HTTPS with the collector's certificate when set (the context holds certificate and key).
  // Without it the server refuses any non-loopback address unless allow_plain_http.
  std::shared_ptr<boost::asio::ssl::context> tls;
  bool allow_plain_http = false;
};

class HttpServer {
 public:
  HttpServer(ApiHandler& handler, ServerOptions opt);
  ~HttpServer();  // stops
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the I/O threads. io_error naming the address when it cannot bind.
  Status start();
  // The bound port (after start).
  uint16_t port() const;
  // Stops accepting, closes connections, joins the threads. Idempotent.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace halong::collector::api
