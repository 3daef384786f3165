#include <sys/stat.h>

#include <set>

#include <boost/asio/executor_work_guard.hpp>

#include <catch2/catch.hpp>

#include "core/wire.hpp"
#include "transport_fixture.hpp"

using namespace halong;
using namespace halong::testing;

namespace {

uint64_t stored_for(collector::AlertStore& store, const std::string& agent) {
  auto h = store.highest_seq(agent);
  return h ? *h : 0;
}

std::unique_ptr<agent::Uplink> make_uplink(const agent::UplinkOptions& o) {
  auto u = agent::Uplink::create(o);
  REQUIRE(u.ok());
  return std::move(*u);
}

}  // namespace

TEST_CASE("collector creates a 0600 key and a self-signed certificate on first start and reuses them", "[collector][gateway][tls]") {
  TempDir d("cert");
  auto c1 = collector::ensure_server_certificate(d.path);
  REQUIRE(c1.ok());
  REQUIRE(c1->created);
  struct stat st{};
  REQUIRE(::stat(c1->key_file.c_str(), &st) == 0);
  REQUIRE((st.st_mode & 0777) == 0600);
  REQUIRE(c1->fingerprint_sha256.size() == 64);
  auto fp = collector::certificate_fingerprint(c1->cert_file);
  REQUIRE(fp.ok());
  REQUIRE(*fp == c1->fingerprint_sha256);

  auto c2 = collector::ensure_server_certificate(d.path);
  REQUIRE(c2.ok());
  REQUIRE_FALSE(c2->created);
  REQUIRE(c2->fingerprint_sha256 == c1->fingerprint_sha256);

  ::chmod(c1->key_file.c_str(), 0644);
  auto c3 = collector::ensure_server_certificate(d.path);
  REQUIRE_FALSE(c3.ok());
  REQUIRE_THAT(c3.error().message, Catch::Contains("chmod 600"));
}

TEST_CASE("agent ships alerts in batches and each is acked after the store has it", "[transport][loopback]") {
  TempDir d;
  collector::MemoryStore mem;
  FaultStore store(mem);
  Collector col(d.path / "collector");
  REQUIRE(col.start(store).ok());
  auto o = agent_options(col, col.port(), d.path / "spool");
  auto up = make_uplink(o);
  REQUIRE(up->start().ok());
  const int n = 1234;
  for (int i = 0; i < n; ++i) REQUIRE(up->submit(make_alert(2000000 + static_cast<uint64_t>(i % 7))).ok());
  REQUIRE(up->flush_and_wait(std::chrono::seconds(20)).ok());
  REQUIRE(mem.alert_count() == n);
  REQUIRE(stored_for(mem, "agent-1") == n);
  auto st = up->status();
  REQUIRE(st.alerts_acked == n);
  REQUIRE(st.spool.depth == 0);
  // Every batch acked, each in a store write (several may share one: read-ahead).
  REQUIRE(st.batches_acked >= static_cast<uint64_t>(n / o.batch_size));
  REQUIRE(st.batches_acked == st.batches_sent);
  REQUIRE(store.write_calls >= 1);
  REQUIRE(store.write_calls <= st.batches_acked);
  auto a = mem.get("agent-1:17");
  REQUIRE(a.ok());
  REQUIRE(a->seq == 17);
  REQUIRE(a->agent.hostname == "host-agent-1");
  REQUIRE(a->alert.signature_id == 2000000 + 16 % 7);
  auto gs = col.gw->stats();
  REQUIRE(gs.alerts_stored == n);
  REQUIRE(gs.alerts_duplicate == 0);
  up->stop();
  col.stop();
}

TEST_CASE("alerts whose log line is not UTF-8 are delivered with U+FFFD, not refused on every resend",
          "[transport][loopback][utf8]") {
  // A Latin-1 or Windows-1258 log file gives lines that are not UTF-8. JSON (and a WebSocket
  // text frame) must be: before, the collector refused such a batch, the agent resent it on
  // reconnect, and everything spooled behind it waited for ever.
  TempDir d;
  collector::MemoryStore mem;
  Collector col(d.path / "collector");
  REQUIRE(col.start(mem).ok());
  auto up = make_uplink(agent_options(col, col.port(), d.path / "spool"));
  REQUIRE(up->start().ok());
  Alert bad = make_alert(2000001);
  bad.log = LogContext{"/var/log/app.log", 42, "user caf\xE9 login from \xFF\xFE host", "raw"};
  bad.fields["user"] = "caf\xE9";
  bad.alert.signature = "truncated \xE2\x82";
  REQUIRE(up->submit(bad).ok());
  REQUIRE(up->submit(make_alert(2000002)).ok());  // behind it in the spool
  REQUIRE(up->flush_and_wait(std::chrono::seconds(20)).ok());
  REQUIRE(mem.alert_count() == 2);
  auto a = mem.get("agent-1:1");
  REQUIRE(a.ok());
  REQUIRE(a->log->line == "user caf\xEF\xBF\xBD login from \xEF\xBF\xBD\xEF\xBF\xBD host");
  REQUIRE(a->fields.at("user") == "caf\xEF\xBF\xBD");
  REQUIRE(a->alert.signature == "truncated \xEF\xBF\xBD\xEF\xBF\xBD");
  REQUIRE(a->log->offset == 42);  // where the original bytes are
  REQUIRE(col.gw->stats().protocol_errors == 0);
  up->stop();
  col.stop();
}

TEST_CASE("while a store write is in flight the gateway reads ahead and stores the queued batches in one write, acking each only after it",
          "[transport][loopback]") {
  TempDir d;
  collector::MemoryStore mem;
  FaultStore store(mem);
  store.write_delay_ms = 300;  // a slow synced write
  Collector col(d.path / "collector");
  REQUIRE(col.start(store).ok());
  RawClient c;
  REQUIRE_FALSE(c.connect(col.port()));
  REQUIRE_FALSE(c.send(wire::encode(raw_hello("ra-1"))));
  boost::system::error_code ec;
  auto w = wire::decode(c.read(ec));
  REQUIRE(w.ok());
  REQUIRE(std::holds_alternative<wire::Welcome>(*w));
  // Six batches of 10 back to back: the first goes to the store alone, the other five
  // arrive while it is in flight and must share the next write.
  const int kBatches = 6, kPer = 10;
  uint64_t seq = 0;
  for (int b = 1; b <= kBatches; ++b) {
    std::vector<std::string> json;
    for (int i = 0; i < kPer; ++i) {
      Alert a = make_alert(7);
      a.seq = ++seq;
      json.push_back(to_json_string(a));
    }
    std::vector<std::string_view> views(json.begin(), json.end());
    REQUIRE_FALSE(c.send(wire::encode_alert_batch_raw(static_cast<uint64_t>(b), views)));
  }
  for (int b = 1; b <= kBatches; ++b) {
    auto m = wire::decode(c.read(ec));
    REQUIRE_FALSE(ec);
    REQUIRE(m.ok());
    auto* ack = std::get_if<wire::Ack>(&*m);
    REQUIRE(ack);
    REQUIRE(ack->batch == static_cast<uint64_t>(b));               // in order
    REQUIRE(ack->highest_seq >= static_cast<uint64_t>(b * kPer));  // covers its whole batch
    // Durable before the ack: the store already holds everything the ack claims.
    REQUIRE(stored_for(mem, "ra-1") >= ack->highest_seq);
  }
  REQUIRE(mem.alert_count() == static_cast<uint64_t>(kBatches * kPer));
  REQUIRE(store.write_calls < static_cast<uint64_t>(kBatches));  // read-ahead merged some
  REQUIRE(store.max_write_alerts > static_cast<uint64_t>(kPer));
  auto gs = col.gw->stats();
  REQUIRE(gs.batches_stored == static_cast<uint64_t>(kBatches));
  REQUIRE(gs.store_writes == store.write_calls);
  col.stop();
}

TEST_CASE("the gateway stops reading an agent whose queued batches reach the read-ahead bound", "[transport][loopback]") {
  TempDir d;
  collector::MemoryStore mem;
  FaultStore store(mem);
  store.write_delay_ms = 400;
  Collector col(d.path / "collector");
  auto go = col.options();
  go.max_queued_batches = 2;
  go.max_write_alerts = 1'000'000;
  REQUIRE(col.start(store, go).ok());
  RawClient c;
  REQUIRE_FALSE(c.connect(col.port()));
  REQUIRE_FALSE(c.send(wire::encode(raw_hello("ra-2"))));
  boost::system::error_code ec;
  REQUIRE(std::holds_alternative<wire::Welcome>(*wire::decode(c.read(ec))));
  const int kBatches = 8;
  for (int b = 1; b <= kBatches; ++b) {
    Alert a = make_alert(9);
    a.seq = static_cast<uint64_t>(b);
    REQUIRE_FALSE(c.send(wire::encode_alert_batch_raw(static_cast<uint64_t>(b), {to_json_string(a)})));
  }
  for (int b = 1; b <= kBatches; ++b) {
    auto m = wire::decode(c.read(ec));
    REQUIRE_FALSE(ec);
    REQUIRE(std::get_if<wire::Ack>(&*m));
  }
  // One write in flight plus at most 2 queued (+1 read while deciding): never all 8 at once.
  REQUIRE(store.max_write_alerts <= 3);
  REQUIRE(store.write_calls >= 3);
  REQUIRE(mem.alert_count() == static_cast<uint64_t>(kBatches));
  col.stop();
}

TEST_CASE("the read-ahead of all connections together is bounded and every connection still progresses",
          "[transport][loopback]") {
  TempDir d;
  collector::MemoryStore mem;
  FaultStore store(mem);
  store.write_delay_ms = 60;
  Collector col(d.path / "collector");
  auto go = col.options();
  go.max_queued_alerts_total = 1;  // as soon as anything is queued anywhere, no connection reads a second batch
  REQUIRE(col.start(store, go).ok());
  const int kClients = 3, kBatches = 6;
  std::vector<std::unique_ptr<RawClient>> clients;
  boost::system::error_code ec;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::make_unique<RawClient>());
    REQUIRE_FALSE(clients.back()->connect(col.port()));
    REQUIRE_FALSE(clients.back()->send(wire::encode(raw_hello("cap-" + std::to_string(c)))));
    REQUIRE(std::holds_alternative<wire::Welcome>(*wire::decode(clients.back()->read(ec))));
  }
  for (int b = 1; b <= kBatches; ++b)
    for (auto& c : clients) {
      Alert a = make_alert(b);
      a.seq = static_cast<uint64_t>(b);
      REQUIRE_FALSE(c->send(wire::encode_alert_batch_raw(static_cast<uint64_t>(b), {to_json_string(a)})));
    }
  for (auto& c : clients)
    for (int b = 1; b <= kBatches; ++b) {
      auto m = wire::decode(c->read(ec));
      REQUIRE_FALSE(ec);
      REQUIRE(m.ok());
      REQUIRE(std::get_if<wire::Ack>(&*m));
    }
  REQUIRE(mem.alert_count() == static_cast<uint64_t>(kClients * kBatches));
  // Without the bound, a connection's queued batches are merged into one write (see the
  // read-ahead test): here no connection ever had two batches queued.
  CHECK(store.max_write_alerts == 1);
  CHECK(col.gw->stats().queued_alerts == 0);
  col.stop();
}

TEST_CASE("a wrong token is refused with a clear unauthorized error", "[transport][loopback]") {
  TempDir d;
  collector::MemoryStore mem;
  Collector col(d.path / "collector");
  REQUIRE(col.start(mem).ok());
  auto o = agent_options(col, col.port(), d.path / "spool");
  o.token = "not-the-token";
  auto up = make_uplink(o);
  REQUIRE(up->start().ok());
  REQUIRE(up->submit(make_alert(1)).ok());
  auto r = up->flush_and_wait(std::chrono::seconds(10));
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().code == ErrorCode::unauthorized);
  REQUIRE_THAT(r.error().message, Catch::Contains("token rejected"));
  REQUIRE(mem.alert_count() == 0);
  REQUIRE(col.gw->stats().auth_failures >= 1);
  REQUIRE(up->spool().stats().depth == 1);  // kept for when the token is fixed
}

TEST_CASE("agent refuses a collector whose certificate does not match the pinned fingerprint", "[transport][loopback][tls]") {
  TempDir d;
  collector::MemoryStore mem;
  Collector col(d.path / "collector");
  REQUIRE(col.start(mem).ok());
  auto o = agent_options(col, col.port(), d.path / "spool");
  o.pinned_sha256 = std::string(64, 'a');
  auto up = make_uplink(o);
  REQUIRE(up->start().ok());
  REQUIRE(up->submit(make_alert(1)).ok());
  auto r = up->flush_and_wait(std::chrono::seconds(10));
  REQUIRE_FALSE(r.ok());
  REQUIRE_THAT(r.error().message, Catch::Contains("not the pinned"));
  REQUIRE(mem.alert_count() == 0);
}

TEST_CASE("agent verifies the collector with a CA file too", "[transport][loopback][tls]") {
  TempDir d;
  collector::MemoryStore mem;
  Collector col(d.path / "collector");
  REQUIRE(col.start(mem).ok());
  auto o = agent_options(col, col.port(), d.path / "spool");
  o.pinned_sha256.clear();
  o.ca_file = col.cert.cert_file;
  o.host = "127.0.0.1";
  auto up = make_uplink(o);
  REQUIRE(up->start().ok());
  REQUIRE(up->submit(make_alert(1)).ok());
  REQUIRE(up->flush_and_wait(std::chrono::seconds(10)).ok());
  REQUIRE(mem.alert_count() == 1);
}

TEST_CASE("agent retries with backoff while the collector is away and then delivers everything", "[transport][loopback]") {
  TempDir d;
  collector::MemoryStore mem;
  Collector col(d.path / "collector");
  uint16_t port = free_port();
  auto o = agent_options(col, port, d.path / "spool");
  auto up = make_uplink(o);
  REQUIRE(up->start().ok());
  for (int i = 0; i < 500; ++i) REQUIRE(up->submit(make_alert(5)).ok());
  auto r = up->flush_and_wait(ms(500));
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().code == ErrorCode::unavailable);
  REQUIRE_THAT(r.error().message, Catch::Contains("not reachable"));
  REQUIRE(up->status().connect_failures >= 2);
  REQUIRE(col.start(mem, port).ok());
  REQUIRE(up->flush_and_wait(std::chrono::seconds(10)).ok());
  REQUIRE(mem.alert_count() == 500);
}

TEST_CASE("agent resends unacked batches after a collector restart and the store keeps each alert once", "[transport][loopback]") {
  TempDir d;
  collector::MemoryStore mem;
  FaultStore store(mem);
  store.write_delay_ms = 2;
  Collector col(d.path / "collector");
  REQUIRE(col.start(store).ok());
  uint16_t port = col.port();
  auto o = agent_options(col, port, d.path / "spool");
  o.batch_size = 50;
  auto up = make_uplink(o);
  REQUIRE(up->start().ok());
  const int n = 5000;
  std::thread producer([&] {
    for (int i = 0; i < n; ++i) {
      (void)up->submit(make_alert(9));
      if (i % 500 == 0) std::this_thread::sleep_for(ms(5));
    }
  });
  for (int k = 0; k < 3; ++k) {
    std::this_thread::sleep_for(ms(60));
    col.stop();  // mid-stream: some batches written, not acked
    std::this_thread::sleep_for(ms(50));
    REQUIRE(col.start(store, port).ok());
  }
  producer.join();
  REQUIRE(up->flush_and_wait(std::chrono::seconds(20)).ok());
  REQUIRE(mem.alert_count() == n);
  REQUIRE(stored_for(mem, "agent-1") == n);
  auto page = mem.query([] {
    collector::AlertQuery q;
    q.limit = n + 10;
    return q;
  }());
  REQUIRE(page.ok());
  std::set<uint64_t> seqs;
  for (auto& a : page->alerts) seqs.insert(a.seq);
  REQUIRE(seqs.size() == static_cast<size_t>(n));
  REQUIRE(*seqs.begin() == 1);
  REQUIRE(*seqs.rbegin() == static_cast<uint64_t>(n));
}

TEST_CASE("garbage and truncated frames close only that connection", "[transport][loopback][faults]") {
  TempDir d;
  collector::MemoryStore mem;
  Collector col(d.path / "collector");
  REQUIRE(col.start(mem).ok());
  auto o = agent_options(col, col.port(), d.path / "spool");
  auto up = make_uplink(o);
  REQUIRE(up->start().ok());
  REQUIRE(up->submit(make_alert(1)).ok());
  REQUIRE(up->flush_and_wait(std::chrono::seconds(10)).ok());

  // Not JSON at all, before hello.
  {
    RawClient c;
    REQUIRE_FALSE(c.connect(col.port()));
    REQUIRE_FALSE(c.send("\x01\x02 garbage {{{"));
    boost::system::error_code ec;
    auto reply = c.read(ec);
    REQUIRE_FALSE(ec);
    auto m = wire::decode(reply);
    REQUIRE(m.ok());
    auto* e = std::get_if<wire::ErrorMsg>(&*m);
    REQUIRE(e);
    REQUIRE(e->code == "parse_error");
    c.read(ec);
    REQUIRE(ec);  // closed by the collector
  }
  // A valid hello, then a truncated batch.
  {
    RawClient c;
    REQUIRE_FALSE(c.connect(col.port()));
    REQUIRE_FALSE(c.send(wire::encode(raw_hello("raw-1"))));
    boost::system::error_code ec;
    auto w = wire::decode(c.read(ec));
    REQUIRE(w.ok());
    REQUIRE(std::holds_alternative<wire::Welcome>(*w));
    std::string batch = wire::encode_alert_batch_raw(1, {to_json_string(make_alert(3))});
    REQUIRE_FALSE(c.send(batch.substr(0, batch.size() / 2)));
    auto e = wire::decode(c.read(ec));
    REQUIRE(e.ok());
    REQUIRE(std::holds_alternative<wire::ErrorMsg>(*e));
    c.read(ec);
    REQUIRE(ec);
  }
  // Plain HTTP on the wrong path.
  {
    RawClient c;
    REQUIRE(c.connect(col.port(), "/other"));
  }
  // The real agent is unaffected.
  for (int i = 0; i < 10; ++i) REQUIRE(up->submit(make_alert(2)).ok());
  REQUIRE(up->flush_and_wait(std::chrono::seconds(10)).ok());
  REQUIRE(mem.alert_count() == 11);
  REQUIRE(col.gw->stats().protocol_errors >= 3);
}

TEST_CASE("an oversized frame is refused with close code 1009", "[transport][loopback][faults]") {
  TempDir d;
  collector::MemoryStore mem;
  Collector col(d.path / "collector");
  auto go = col.options();
  go.max_frame_bytes = 64 * 1024;
  REQUIRE(col.start(mem, go).ok());
  RawClient c;
  REQUIRE_FALSE(c.connect(col.port()));
  REQUIRE_FALSE(c.send(wire::encode(raw_hello("raw-2"))));
  boost::system::error_code ec;
  REQUIRE(wire::decode(c.read(ec)).ok());
  std::string big(200 * 1024, 'x');
  (void)c.send(big);
  auto e = wire::decode(c.read(ec));
  REQUIRE(e.ok());
  REQUIRE(std::get<wire::ErrorMsg>(*e).code == "resource_exhausted");
  c.read(ec);
  REQUIRE(ec == boost::beast::websocket::error::closed);
  REQUIRE(c.ws->reason().code == boost::beast::websocket::close_code::too_big);
  for (int i = 0; i < 100 && col.gw->stats().protocol_errors == 0; ++i) std::this_thread::sleep_for(ms(10));
  REQUIRE(col.gw->stats().protocol_errors == 1);
}

TEST_CASE("a client that is not TLS is refused and counted", "[transport][loopback][faults]") {
  TempDir d;
  collector::MemoryStore mem;
  Collector col(d.path / "collector");
  REQUIRE(col.start(mem).ok());
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s(ioc);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), col.port()});
  std::string req = "GET /agent/v1 HTTP/1.1\r\nHost: x\r\n\r\n";
  boost::asio::write(s, boost::asio::buffer(req));
  timeval tv{5, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[256];
  boost::system::error_code ec;
  while (!ec) s.read_some(boost::asio::buffer(buf), ec);
  for (int i = 0; i < 50 && col.gw->stats().tls_failures == 0; ++i) std::this_thread::sleep_for(ms(10));
  REQUIRE(col.gw->stats().tls_failures == 1);
}

TEST_CASE("a store that refuses writes gets a retry-after, a stall flag, and ingestion resumes", "[transport][loopback][faults]") {
  TempDir d;
  collector::MemoryStore mem;
  FaultStore store(mem);
  Collector col(d.path / "collector");
  REQUIRE(col.start(store).ok());
  auto o = agent_options(col, col.port(), d.path / "spool");
  auto up = make_uplink(o);
  REQUIRE(up->start().ok());
  store.fail_writes = true;
  for (int i = 0; i < 300; ++i) REQUIRE(up->submit(make_alert(4)).ok());
  REQUIRE_FALSE(up->flush_and_wait(ms(600)).ok());
  REQUIRE(col.gw->stats().ingest_stalled);
  REQUIRE_THAT(col.gw->stats().last_store_error, Catch::Contains("No space"));
  REQUIRE_THAT(up->status().last_error, Catch::Contains("cannot store"));
  REQUIRE(mem.alert_count() == 0);
  store.fail_writes = false;
  REQUIRE(up->flush_and_wait(std::chrono::seconds(10)).ok());
  REQUIRE(mem.alert_count() == 300);
  REQUIRE_FALSE(col.gw->stats().ingest_stalled);
}

TEST_CASE("a second connection of the same agent replaces the first", "[transport][loopback]") {
  TempDir d;
  collector::MemoryStore mem;
  Collector col(d.path / "collector");
  REQUIRE(col.start(mem).ok());
  RawClient c1;
  REQUIRE_FALSE(c1.connect(col.port()));
  REQUIRE_FALSE(c1.send(wire::encode(raw_hello("dup"))));
  boost::system::error_code ec;
  REQUIRE(wire::decode(c1.read(ec)).ok());
  RawClient c2;
  REQUIRE_FALSE(c2.connect(col.port()));
  REQUIRE_FALSE(c2.send(wire::encode(raw_hello("dup"))));
  REQUIRE(wire::decode(c2.read(ec)).ok());
  c1.read(ec);
  REQUIRE(ec);  // the old one is closed
  REQUIRE(col.gw->connected_agents() == std::vector<std::string>{"dup"});
  REQUIRE(col.gw->disconnect_agent("dup") == 1);
  c2.read(ec);
  REQUIRE(ec);
}

TEST_CASE("a full spool drops by policy, counts it, and the agent raises its own alert about it", "[transport][spool]") {
  TempDir d;
  collector::MemoryStore mem;
  Collector col(d.path / "collector");
  uint16_t port = free_port();  // no collector yet: everything stays in the spool
  auto o = agent_options(col, port, d.path / "spool");
  o.spool.max_bytes = 128u << 10;
  o.spool.segment_bytes = 16u << 10;
  auto up = make_uplink(o);
  REQUIRE(up->start().ok());
  for (int i = 0; i < 1000; ++i) (void)up->submit(make_alert(6));
  auto st = up->status();
  REQUIRE(st.dropped > 0);
  REQUIRE(st.spool.dropped_oldest == st.dropped);
  REQUIRE(col.start(mem, port).ok());
  REQUIRE(up->flush_and_wait(std::chrono::seconds(10)).ok());
  REQUIRE(up->flush_and_wait(std::chrono::seconds(10)).ok());  // the self-alert is raised on the first ack
  collector::AlertQuery q;
  q.sid = agent::kSpoolOverflowSid;
  auto page = mem.query(q);
  REQUIRE(page.ok());
  REQUIRE(page->alerts.size() == 1);
  REQUIRE_THAT(page->alerts[0].alert.signature, Catch::Contains("alerts dropped"));
  REQUIRE(page->alerts[0].alert.engine == "halong");
  REQUIRE(mem.alert_count() == 1000 + 1 - st.dropped);
}

TEST_CASE("uplinks sharing a caller's io_context each deliver exactly once, through a collector restart",
          "[transport][loopback]") {
  // The agent simulator's mode (bench/ingest): many uplinks, no thread of their own, the
  // io_context run by two threads (each uplink keeps to its strand).
  TempDir d;
  collector::MemoryStore mem;
  Collector col(d.path / "collector");
  REQUIRE(col.start(mem).ok());
  uint16_t port = col.port();
  boost::asio::io_context ioc(2);
  auto work = boost::asio::make_work_guard(ioc);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back([&ioc] { ioc.run(); });
  const int agents = 8, per = 700;
  std::vector<std::unique_ptr<agent::Uplink>> ups;
  for (int i = 0; i < agents; ++i) {
    auto o = agent_options(col, port, d.path / ("spool-" + std::to_string(i)), "agent-" + std::to_string(i));
    o.batch_size = 50;
    o.io_context = &ioc;
    ups.push_back(make_uplink(o));
    REQUIRE(ups.back()->start().ok());
  }
  for (int k = 0; k < per; ++k) {
    for (auto& u : ups) REQUIRE(u->submit(make_alert(static_cast<uint64_t>(7 + k % 3))).ok());
    if (k == per / 2) {
      col.stop();
      REQUIRE(col.start(mem, port).ok());
    }
  }
  for (auto& u : ups) REQUIRE(u->flush_and_wait(std::chrono::seconds(20)).ok());
  REQUIRE(mem.alert_count() == static_cast<uint64_t>(agents * per));
  for (int i = 0; i < agents; ++i) {
    REQUIRE(stored_for(mem, "agent-" + std::to_string(i)) == static_cast<uint64_t>(per));
    REQUIRE(ups[static_cast<size_t>(i)]->status().alerts_acked >= static_cast<uint64_t>(per / 2));
  }
  // Stopped and destroyed while the io_context still runs: nothing of them may be left.
  for (auto& u : ups) u->stop();
  ups.clear();
  work.reset();
  for (auto& t : threads) t.join();
  REQUIRE(ioc.stopped());
  col.stop();
}
