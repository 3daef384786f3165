#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>

#include "api_fixture.hpp"
#include "collector/api/http_server.hpp"
#include "collector/api/token.hpp"
#include "collector/store/alert_bus.hpp"

#include <boost/beast/websocket.hpp>
#include <thread>

#include <boost/beast/ssl.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>

using namespace halong;
using namespace halong::collector;
using namespace halong::collector::test;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {
// One request over a fresh loopback connection.
api::Response fetch(uint16_t port, http::verb v, const std::string& target, const std::string& token,
                    const std::string& body = "") {
  net::io_context ioc;
  boost::beast::tcp_stream s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  api::Request req{v, target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  req.body() = body;
  req.prepare_payload();
  http::write(s, req);
  boost::beast::flat_buffer buf;
  api::Response res;
  boost::beast::error_code ec;
  http::read(s, buf, res, ec);
  s.socket().shutdown(tcp::socket::shutdown_both, ec);
  return res;
}
}  // namespace

TEST_CASE("http server serves the API on a loopback port chosen by the system and stops cleanly",
          "[collector][api][http]") {
  ApiFixture f(30);
  api::ServerOptions so;
  so.address = "127.0.0.1";
  so.port = 0;
  so.body_limit = 4096;
  api::HttpServer server(*f.handler, so);
  REQUIRE(server.start().ok());
  REQUIRE(server.port() != 0);
  auto h = fetch(server.port(), http::verb::get, "/healthz", "");
  CHECK(h.result() == http::status::ok);
  auto list = fetch(server.port(), http::verb::get, "/api/v1/alerts?limit=5", kAdmin);
  REQUIRE(list.result() == http::status::ok);
  CHECK(boost::json::parse(list.body()).at("alerts").as_array().size() == 5);
  auto unauth = fetch(server.port(), http::verb::get, "/api/v1/alerts", "");
  CHECK(unauth.result() == http::status::unauthorized);
  auto big = fetch(server.port(), http::verb::patch, "/api/v1/alerts/" + f.alerts[0].id, kAdmin, std::string(10000, 'x'));
  CHECK(big.result() == http::status::payload_too_large);
  CHECK(error_code(big) == "resource_exhausted");
  // Keep-alive: two requests on one connection.
  {
    net::io_context ioc;
    boost::beast::tcp_stream s(ioc);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
    for (int i = 0; i < 2; ++i) {
      api::Request req{http::verb::get, "/healthz", 11};
      req.keep_alive(true);
      http::write(s, req);
      boost::beast::flat_buffer buf;
      api::Response res;
      http::read(s, buf, res);
      CHECK(res.result() == http::status::ok);
    }
  }
  server.stop();
  server.stop();  // idempotent
  // The listener is closed: the same port can be bound again. (Connecting to it is no test:
  // a loopback connect to a free ephemeral port can connect to itself.)
  api::ServerOptions again;
  again.port = server.port();
  api::HttpServer second(*f.handler, again);
  auto restarted = second.start();
  INFO((restarted.ok() ? std::string("ok") : restarted.error().message));
  CHECK(restarted.ok());
  CHECK(fetch(second.port(), http::verb::get, "/healthz", "").result() == http::status::ok);
}

TEST_CASE("http server reports an address it cannot bind", "[collector][api][http]") {
  ApiFixture f(0);
  api::HttpServer a(*f.handler, {});
  REQUIRE(a.start().ok());
  api::ServerOptions so;
  so.port = a.port();
  api::HttpServer b(*f.handler, so);
  auto st = b.start();
  REQUIRE(!st.ok());
  CHECK(st.error().code == ErrorCode::io_error);
  CHECK(st.error().message.find(std::to_string(a.port())) != std::string::npos);
}

TEST_CASE("api token is created once with 0600 rights and read back on the next start", "[collector][api]") {
  TempDir d;
  auto dir = (d.path / "data").string();
  auto t1 = api::ensure_api_token(dir);
  REQUIRE(t1.ok());
  CHECK(t1->first.size() == 64);
  CHECK(t1->second == dir + "/api-token");
  struct stat st {};
  REQUIRE(::stat(t1->second.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto t2 = api::ensure_api_token(dir);
  REQUIRE(t2.ok());
  CHECK(t2->first == t1->first);
  // A token file others can read is refused, not silently used or fixed.
  ::chmod(t1->second.c_str(), 0644);
  auto t3 = api::ensure_api_token(dir);
  REQUIRE(!t3.ok());
  CHECK(t3.error().message.find("api-token") != std::string::npos);
}

TEST_CASE("the live stream pushes new matching alerts and incidents within the caller's agencies",
          "[collector][api][http][stream]") {
  ApiFixture f(0);
  AlertBus bus;
  PublishingStore pub(*f.store, bus);
  api::ApiOptions ao;
  ao.bus = &bus;
  api::ApiHandler handler(pub, f.auth, f.audit.get(), ao);
  api::HttpServer server(handler, {});
  REQUIRE(server.start().ok());

  auto connect = [&](const std::string& token, const std::string& target) {
    auto ioc = std::make_shared<net::io_context>();
    auto ws = std::make_shared<boost::beast::websocket::stream<boost::beast::tcp_stream>>(*ioc);
    boost::beast::get_lowest_layer(*ws).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
    ws->set_option(boost::beast::websocket::stream_base::decorator([token](boost::beast::websocket::request_type& r) {
      r.set(http::field::authorization, "Bearer " + token);
    }));
    ws->handshake("127.0.0.1", target);
    return std::make_pair(ioc, ws);
  };
  auto [ioc_admin, admin] = connect(kAdmin, "/api/v1/stream?agent=web-01");
  auto [ioc_lan, lan] = connect(kAnalyst, "/api/v1/stream");
  for (int i = 0; i < 100 && bus.subscribers() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(bus.subscribers() == 2);

  auto alerts = make_fixture(40);
  store_all(pub, alerts);
  size_t web = 0, tttt = 0;
  for (auto& a : alerts) {
    web += a.agent.id == "web-01";
    tttt += a.agent.agency == "so-tttt";
  }
  // Reads until `alerts_wanted` alert events arrived (incident events are counted apart).
  auto drain = [](auto& ws, size_t alerts_wanted, auto check) {
    size_t got = 0;
    while (got < alerts_wanted) {
      boost::beast::flat_buffer buf;
      boost::beast::get_lowest_layer(*ws).expires_after(std::chrono::seconds(5));
      ws->read(buf);
      auto v = boost::json::parse(boost::beast::buffers_to_string(buf.data()));
      check(v);
      if (v.at("type") == "alert") ++got;
    }
    return got;
  };
  CHECK(drain(admin, web, [](const boost::json::value& v) {
          if (v.at("type") == "alert") CHECK(v.at("alert").at("agent").at("id") == "web-01");
          else CHECK(v.at("incident").at("agent") == "web-01");
        }) == web);
  CHECK(drain(lan, tttt, [](const boost::json::value& v) {
          if (v.at("type") == "alert") CHECK(v.at("alert").at("agent").at("agency") == "so-tttt");
          else CHECK(v.at("incident").at("agency") == "so-tttt");
        }) == tttt);
  // An analyst's change to a stored alert reaches the stream as a triage change.
  const Alert* w = nullptr;
  for (auto& a : alerts)
    if (a.agent.id == "web-01") w = &a;
  REQUIRE(w != nullptr);
  const std::string wid = w->agent.id + ":" + std::to_string(w->seq);
  api::Request patch{http::verb::patch, "/api/v1/alerts/" + wid, 11};
  patch.set(http::field::authorization, "Bearer " + kAdmin);
  patch.set(http::field::content_type, "application/json");
  patch.body() = R"({"status":"acknowledged","assignee":"lan"})";
  patch.prepare_payload();
  REQUIRE(handler.handle(patch).result_int() == 200);
  bool seen = false;
  for (int i = 0; i < 20 && !seen; ++i) {
    boost::beast::flat_buffer buf;
    boost::beast::get_lowest_layer(*admin).expires_after(std::chrono::seconds(5));
    admin->read(buf);
    auto v = boost::json::parse(boost::beast::buffers_to_string(buf.data()));
    if (v.at("type") != "alert") continue;
    CHECK(v.at("change") == "triage");
    CHECK(v.at("alert").at("id").as_string() == wid);
    CHECK(v.at("alert").at("triage").at("status") == "acknowledged");
    seen = true;
  }
  CHECK(seen);
  // Without credentials the upgrade is refused.
  net::io_context ioc;
  boost::beast::websocket::stream<boost::beast::tcp_stream> anon(ioc);
  boost::beast::get_lowest_layer(anon).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
  boost::beast::error_code ec;
  anon.handshake("127.0.0.1", "/api/v1/stream", ec);
  CHECK(ec);
  server.stop();
}

namespace {
// A throwaway self-signed certificate for 127.0.0.1 (EC P-256), PEM cert + key.
std::pair<std::string, std::string> self_signed() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, key, EVP_sha256());
  auto pem = [](auto write) {
    BIO* b = BIO_new(BIO_s_mem());
    write(b);
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    std::string s(data, static_cast<size_t>(n));
    BIO_free(b);
    return s;
  };
  std::string cert = pem([&](BIO* b) { PEM_write_bio_X509(b, x); });
  std::string pkey = pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
  X509_free(x);
  EVP_PKEY_free(key);
  return {cert, pkey};
}
}  // namespace

TEST_CASE("http server serves the API over TLS with the given certificate and refuses plain HTTP off loopback",
          "[collector][api][http][tls]") {
  ApiFixture f(5);
  auto [cert, key] = self_signed();
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  ctx->use_certificate_chain(net::buffer(cert));
  ctx->use_private_key(net::buffer(key), net::ssl::context::pem);
  api::ServerOptions so;
  so.tls = ctx;
  api::HttpServer server(*f.handler, so);
  REQUIRE(server.start().ok());

  net::io_context ioc;
  net::ssl::context cctx(net::ssl::context::tls_client);
  cctx.add_certificate_authority(net::buffer(cert));
  cctx.set_verify_mode(net::ssl::verify_peer);
  boost::beast::ssl_stream<boost::beast::tcp_stream> s(ioc, cctx);
  boost::beast::get_lowest_layer(s).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
  s.handshake(net::ssl::stream_base::client);
  api::Request req{http::verb::get, "/api/v1/alerts?limit=2", 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::authorization, "Bearer " + kAdmin);
  http::write(s, req);
  boost::beast::flat_buffer buf;
  api::Response res;
  http::read(s, buf, res);
  CHECK(res.result() == http::status::ok);
  CHECK(boost::json::parse(res.body()).at("alerts").as_array().size() == 2);
  // A plain-HTTP client gets nothing from the TLS port.
  auto plain = [&] {
    net::io_context io2;
    boost::beast::tcp_stream t(io2);
    t.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
    api::Request r{http::verb::get, "/healthz", 11};
    http::write(t, r);
    boost::beast::flat_buffer b;
    api::Response out;
    boost::beast::error_code ec;
    t.expires_after(std::chrono::seconds(5));
    http::read(t, b, out, ec);
    return ec;
  }();
  CHECK(plain);
  server.stop();

  api::ServerOptions open;
  open.address = "0.0.0.0";
  api::HttpServer refused(*f.handler, open);
  auto st = refused.start();
  REQUIRE(!st.ok());
  CHECK(st.error().message.find("TLS") != std::string::npos);
}
