// Fault test (issue 5 (e)) against the real `halong-collector serve` process: garbage,
// oversized and truncated frames, a client that is not TLS, a client whose certificate is not
// from the collector's CA and a client with neither certificate nor token are refused and
// logged, while simulated agents stream on: their alerts all arrive, counted through the API.
#include <catch2/catch.hpp>

#include "core/alert.hpp"
#include "fault_harness.hpp"

using namespace halong;
using namespace halong::testing;
using namespace std::chrono_literals;

namespace {

// The collector's error message in reply to a bad frame; "" when none came.
wire::ErrorMsg read_error(RawClient& c) {
  boost::system::error_code ec;
  auto reply = c.read(ec);
  INFO("read: " << ec.message());
  REQUIRE_FALSE(ec);
  auto m = wire::decode(reply);
  REQUIRE(m.ok());
  auto* e = std::get_if<wire::ErrorMsg>(&*m);
  REQUIRE(e);
  return *e;
}

void expect_closed(RawClient& c) {
  boost::system::error_code ec;
  for (int i = 0; i < 10 && !ec; ++i) c.read(ec);  // anything still queued, then the close
  REQUIRE(ec);
}

void hello(RawClient& c, const std::string& id) {
  REQUIRE_FALSE(c.send(wire::encode(raw_hello(id))));
  boost::system::error_code ec;
  auto w = wire::decode(c.read(ec));
  REQUIRE_FALSE(ec);
  REQUIRE(w.ok());
  REQUIRE(std::holds_alternative<wire::Welcome>(*w));
}

}  // namespace

TEST_CASE("fault (e): garbage, oversized and truncated frames and clients without a valid certificate are refused and logged by "
          "the real collector while streaming agents are unaffected",
          "[transport][faults][process][frames]") {
  TempDir d("fault-e");
  RealCollector c{d.path / "collector"};
  c.start();
  const int agents = 4;
  const uint64_t per_agent = 4'000;
  SimOptions so;
  so.agents = agents;
  so.count = per_agent;
  so.rate_per_agent = 1'000;  // >= 4 s of streaming while the bad clients come and go
  Child ag;
  start_sim(ag, c.gateway_port, c.fingerprint(), d.path / "agents", so);
  REQUIRE(wait_until([&] { return c.newest_seq("sim-0") > 0; }, 60s));
  const uint16_t port = c.gateway_port;

  // 1. Not JSON at all, before hello: parse_error, closed, logged with the decoder's reason.
  std::string garbage_reason;
  {
    RawClient rc;
    REQUIRE_FALSE(rc.connect(port));
    REQUIRE_FALSE(rc.send("\x01\x02 garbage {{{"));
    auto e = read_error(rc);
    REQUIRE(e.code == "parse_error");
    garbage_reason = e.message;
    expect_closed(rc);
  }
  // 2. A valid hello, then a batch cut in half: refused, closed, logged for that agent.
  {
    RawClient rc;
    REQUIRE_FALSE(rc.connect(port));
    hello(rc, "raw-truncated");
    std::string batch = wire::encode_alert_batch_raw(1, {to_json_string(make_alert(3))});
    REQUIRE_FALSE(rc.send(batch.substr(0, batch.size() / 2)));
    auto e = read_error(rc);
    REQUIRE(e.code == "parse_error");
    expect_closed(rc);
  }
  // 3. A frame over the collector's 16 MiB limit: resource_exhausted and close 1009.
  {
    RawClient rc;
    REQUIRE_FALSE(rc.connect(port));
    hello(rc, "raw-oversized");
    (void)rc.send(std::string(wire::kMaxFrameBytes + (128u << 10), 'x'));
    auto e = read_error(rc);
    REQUIRE(e.code == "resource_exhausted");
    boost::system::error_code ec;
    rc.read(ec);
    REQUIRE(ec == boost::beast::websocket::error::closed);
    REQUIRE(rc.ws->reason().code == boost::beast::websocket::close_code::too_big);
  }
  // 4. A WebSocket frame truncated on the wire: the header announces 64 KiB, 1 KiB follows,
  //    then the connection is cut. Only that connection is affected.
  {
    RawClient rc;
    REQUIRE_FALSE(rc.connect(port));
    hello(rc, "raw-cut");
    std::string frame = {'\x81', '\xFE', '\xFF', '\xFF', '\x11', '\x22', '\x33', '\x44'};  // text, masked, len 65535
    frame += std::string(1024, 'a');
    boost::system::error_code ec;
    boost::asio::write(rc.ws->next_layer(), boost::asio::buffer(frame), ec);
    REQUIRE_FALSE(ec);
    boost::beast::get_lowest_layer(*rc.ws).socket().close(ec);
  }
  const size_t tls_logged_before = c.log_count("TLS handshake with");
  // 5. Not TLS at all.
  {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket s(ioc);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    std::string req = "GET /agent/v1 HTTP/1.1\r\nHost: x\r\n\r\n";
    boost::asio::write(s, boost::asio::buffer(req));
    timeval tv{10, 0};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[256];
    boost::system::error_code ec;
    while (!ec) s.read_some(boost::asio::buffer(buf), ec);
    REQUIRE(ec);  // closed by the collector
  }
  // 6. A client certificate that the collector's CA did not sign (a self-signed one).
  {
    auto foreign = collector::ensure_server_certificate(d.path / "foreign");
    REQUIRE(foreign.ok());
    RawClient rc;
    rc.ctx.use_certificate_chain_file(foreign->cert_file.string());
    rc.ctx.use_private_key_file(foreign->key_file.string(), boost::asio::ssl::context::pem);
    auto ec = rc.connect(port);
    if (!ec) {  // TLS 1.3: the client may finish first; the server's alert comes with the first read
      (void)rc.send(wire::encode(raw_hello("foreign")));
      boost::system::error_code rec;
      auto reply = rc.read(rec);
      REQUIRE(rec);
    }
  }
  REQUIRE(wait_until([&] { return c.log_count("TLS handshake with") >= tls_logged_before + 2; }, 20s));
  // 7. No certificate and a wrong token: unauthorized.
  {
    RawClient rc;
    REQUIRE_FALSE(rc.connect(port));
    REQUIRE_FALSE(rc.send(wire::encode(raw_hello("raw-intruder", "not-the-token"))));
    auto e = read_error(rc);
    REQUIRE(e.code == "unauthorized");
    expect_closed(rc);
  }

  REQUIRE(ag.running());  // the bad clients came and went while the agents streamed
  int st = ag.wait(120s);
  INFO("agents: " << slurp(d.path / "agents" / "agents.err") << "\ncollector:\n" << c.log());
  REQUIRE(st == 0);
  REQUIRE(c.running());
  // Logged, one clear line each.
  REQUIRE(c.log_count(garbage_reason) >= 1);
  REQUIRE(c.log_count("agent 'raw-truncated'") >= 1);
  REQUIRE(c.log_count("over the " + std::to_string(wire::kMaxFrameBytes) + " byte limit") == 1);
  REQUIRE(c.log_count("TLS handshake with") >= tls_logged_before + 2);
  REQUIRE(c.log_count("(agent 'raw-intruder') presented a wrong enrollment token") == 1);
  // Counted, where the collector's API exposes the gateway's counters (/metrics).
  {
    auto m = c.get("/metrics");
    REQUIRE(m.status == 200);
    double tls = metric_value(m.body, "tls_failures"), proto = metric_value(m.body, "protocol_errors"),
           auth = metric_value(m.body, "auth_failures");
    if (tls < 0 || proto < 0 || auth < 0) {
      WARN("the collector's /metrics does not expose the gateway's tls_failures/protocol_errors/auth_failures counters; "
           "only the log lines were checked");
    } else {
      REQUIRE(tls >= 2);    // not TLS, foreign certificate
      REQUIRE(proto >= 3);  // garbage, truncated batch, oversized frame
      REQUIRE(auth >= 1);   // no certificate, wrong token
    }
  }
  // Nothing of theirs is stored; every alert of the real agents is, exactly once.
  REQUIRE(c.stats_total("agent=raw-truncated") == 0);
  REQUIRE(c.stats_total("agent=raw-oversized") == 0);
  REQUIRE(c.stats_total("agent=raw-cut") == 0);
  c.check_exactly_once(agents, per_agent);
  c.stop();
}
