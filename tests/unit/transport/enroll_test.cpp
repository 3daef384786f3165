#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "agent/uplink/enroll.hpp"
#include "collector/gateway/registry.hpp"
#include "transport_fixture.hpp"

using namespace halong;
using namespace halong::testing;

namespace {

struct Clock {
  std::atomic<int64_t> now{1'800'000'000'000'000};
  collector::NowFn fn() {
    return [this] { return now.load(); };
  }
};

// A collector with a registry (enrollment + mTLS), no shared token.
struct SecureCollector {
  Clock clock;
  Collector col;
  std::unique_ptr<collector::Registry> reg;
  explicit SecureCollector(const fs::path& dir) : col(dir) {
    auto r = collector::Registry::open(dir, clock.fn());
    REQUIRE(r.ok());
    reg = std::move(*r);
  }
  Status start(collector::AlertStore& store) {
    auto o = col.options();
    o.enrollment_token.clear();
    o.registry = reg.get();
    o.registry_poll = ms(100);
    return col.start(store, o);
  }
  std::string token(const std::string& agency, uint32_t uses = 1, std::chrono::seconds ttl = std::chrono::hours(24)) {
    auto t = reg->create_token(agency, ttl, uses, col.cert.fingerprint_sha256);
    REQUIRE(t.ok());
    return *t;
  }
};

agent::EnrollOptions enroll_opts(uint16_t port, const std::string& token, const fs::path& dir) {
  agent::EnrollOptions e;
  e.port = port;
  e.token = token;
  e.dir = dir;
  e.hostname = "pc-" + dir.filename().string();
  e.timeout = ms(5000);
  return e;
}

agent::UplinkOptions mtls_options(const agent::Enrollment& en, uint16_t port, const fs::path& spool) {
  agent::UplinkOptions o;
  o.port = port;
  o.agent = AgentRef{en.agent_id, "pc", ""};
  o.pinned_sha256 = en.collector_fingerprint;
  o.ca_file = en.ca_file;
  o.client_cert_file = en.cert_file;
  o.client_key_file = en.key_file;
  o.batch_size = 50;
  o.flush_interval = ms(10);
  o.backoff_initial = ms(50);
  o.backoff_max = ms(300);
  o.heartbeat_interval = ms(0);
  o.spool.dir = spool;
  o.spool.fsync = agent::FsyncPolicy::never;
  return o;
}

}  // namespace

TEST_CASE("an agent enrolls with a one-time token and then delivers over mutual TLS with its certificate's identity",
          "[transport][enroll][tls]") {
  TempDir d("enroll");
  collector::MemoryStore mem;
  SecureCollector sc(d.path / "collector");
  REQUIRE(sc.start(mem).ok());
  auto token = sc.token("so-tttt");
  auto en = agent::enroll(enroll_opts(sc.col.port(), token, d.path / "agent"));
  REQUIRE(en.ok());
  REQUIRE(en->agency == "so-tttt");
  REQUIRE(en->agent_id.rfind("ag-", 0) == 0);
  struct stat st{};
  REQUIRE(::stat(en->key_file.c_str(), &st) == 0);
  REQUIRE((st.st_mode & 0777) == 0600);
  auto loaded = agent::load_enrollment(d.path / "agent");
  REQUIRE(loaded.ok());
  REQUIRE(loaded->agent_id == en->agent_id);
  REQUIRE(sc.col.gw->stats().enrollments == 1);

  auto o = mtls_options(*en, sc.col.port(), d.path / "spool");
  o.agent.agency = "claimed-other-agency";  // ignored: the certificate says who we are
  auto up = agent::Uplink::create(o);
  REQUIRE(up.ok());
  REQUIRE((*up)->start().ok());
  for (int i = 0; i < 120; ++i) REQUIRE((*up)->submit(make_alert(77)).ok());
  REQUIRE((*up)->flush_and_wait(std::chrono::seconds(10)).ok());
  REQUIRE(mem.alert_count() == 120);
  auto a = mem.get(en->agent_id + ":5");
  REQUIRE(a.ok());
  REQUIRE(a->agent.agency == "so-tttt");

  auto agents = sc.reg->agents();
  REQUIRE(agents.ok());
  REQUIRE(agents->size() == 1);
  REQUIRE(agents->front().hostname == "pc-agent");
}

TEST_CASE("a used, expired, revoked or unknown token cannot enroll", "[transport][enroll]") {
  TempDir d("enroll");
  collector::MemoryStore mem;
  SecureCollector sc(d.path / "collector");
  REQUIRE(sc.start(mem).ok());
  uint16_t port = sc.col.port();

  auto once = sc.token("so-a", 1);
  REQUIRE(agent::enroll(enroll_opts(port, once, d.path / "a1")).ok());
  auto reused = agent::enroll(enroll_opts(port, once, d.path / "a2"));
  REQUIRE_FALSE(reused.ok());
  REQUIRE(reused.error().code == ErrorCode::unauthorized);
  REQUIRE_THAT(reused.error().message, Catch::Contains("already used"));

  auto twice = sc.token("so-b", 2);
  REQUIRE(agent::enroll(enroll_opts(port, twice, d.path / "b1")).ok());
  REQUIRE(agent::enroll(enroll_opts(port, twice, d.path / "b2")).ok());
  REQUIRE_FALSE(agent::enroll(enroll_opts(port, twice, d.path / "b3")).ok());

  auto shortlived = sc.token("so-c", 5, std::chrono::seconds(3600));
  sc.clock.now += 3601LL * 1'000'000;
  auto expired = agent::enroll(enroll_opts(port, shortlived, d.path / "c1"));
  REQUIRE_FALSE(expired.ok());
  REQUIRE_THAT(expired.error().message, Catch::Contains("expired"));

  auto revoked = sc.token("so-d", 5);
  auto list = sc.reg->tokens();
  REQUIRE(list.ok());
  REQUIRE(sc.reg->revoke_token(list->back().id).ok());
  auto r = agent::enroll(enroll_opts(port, revoked, d.path / "d1"));
  REQUIRE_FALSE(r.ok());
  REQUIRE_THAT(r.error().message, Catch::Contains("revoked"));

  std::string forged = "hlt1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA." + sc.col.cert.fingerprint_sha256;
  auto unknown = agent::enroll(enroll_opts(port, forged, d.path / "e1"));
  REQUIRE_FALSE(unknown.ok());
  REQUIRE(unknown.error().code == ErrorCode::unauthorized);
  REQUIRE(sc.reg->agents()->size() == 3);
}

TEST_CASE("enrollment refuses a collector whose certificate is not the one in the token", "[transport][enroll][tls]") {
  TempDir d("enroll");
  collector::MemoryStore mem;
  SecureCollector sc(d.path / "collector");
  REQUIRE(sc.start(mem).ok());
  auto t = sc.reg->create_token("so-a", std::chrono::hours(1), 1, std::string(64, 'b'));
  REQUIRE(t.ok());
  auto r = agent::enroll(enroll_opts(sc.col.port(), *t, d.path / "a"));
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().code == ErrorCode::forbidden);
  REQUIRE_THAT(r.error().message, Catch::Contains("not the one in the token"));
  REQUIRE(sc.reg->agents()->empty());
}

TEST_CASE("a revoked agent is disconnected at once and cannot send another alert", "[transport][enroll][revoke]") {
  TempDir d("enroll");
  collector::MemoryStore mem;
  SecureCollector sc(d.path / "collector");
  REQUIRE(sc.start(mem).ok());
  auto en = agent::enroll(enroll_opts(sc.col.port(), sc.token("so-a"), d.path / "agent"));
  REQUIRE(en.ok());
  auto up = agent::Uplink::create(mtls_options(*en, sc.col.port(), d.path / "spool"));
  REQUIRE(up.ok());
  REQUIRE((*up)->start().ok());
  REQUIRE((*up)->submit(make_alert(1)).ok());
  REQUIRE((*up)->flush_and_wait(std::chrono::seconds(10)).ok());
  REQUIRE(sc.col.gw->connected_agents() == std::vector<std::string>{en->agent_id});

  REQUIRE(sc.col.gw->revoke_agent(en->agent_id).ok());
  for (int i = 0; i < 100 && !sc.col.gw->connected_agents().empty(); ++i) std::this_thread::sleep_for(ms(10));
  REQUIRE(sc.col.gw->connected_agents().empty());
  REQUIRE((*up)->submit(make_alert(2)).ok());
  auto r = (*up)->flush_and_wait(std::chrono::seconds(5));
  REQUIRE_FALSE(r.ok());
  REQUIRE_THAT(r.error().message, Catch::Contains("revoked"));
  REQUIRE(mem.alert_count() == 1);
}

TEST_CASE("an agent revoked from another process (the CLI) is disconnected by the registry watch", "[transport][enroll][revoke]") {
  TempDir d("enroll");
  collector::MemoryStore mem;
  SecureCollector sc(d.path / "collector");
  REQUIRE(sc.start(mem).ok());
  auto en = agent::enroll(enroll_opts(sc.col.port(), sc.token("so-a"), d.path / "agent"));
  REQUIRE(en.ok());
  auto up = agent::Uplink::create(mtls_options(*en, sc.col.port(), d.path / "spool"));
  REQUIRE(up.ok());
  REQUIRE((*up)->start().ok());
  REQUIRE((*up)->submit(make_alert(1)).ok());
  REQUIRE((*up)->flush_and_wait(std::chrono::seconds(10)).ok());
  // A second Registry on the same directory stands for `halong-collector agent revoke`.
  auto cli = collector::Registry::open(d.path / "collector");
  REQUIRE(cli.ok());
  REQUIRE((*cli)->revoke_agent(en->agent_id).ok());
  for (int i = 0; i < 200 && !sc.col.gw->connected_agents().empty(); ++i) std::this_thread::sleep_for(ms(10));
  REQUIRE(sc.col.gw->connected_agents().empty());
}

TEST_CASE("a client certificate from another CA is refused at the TLS handshake, and no certificate means enroll first",
          "[transport][enroll][tls][faults]") {
  TempDir d("enroll");
  collector::MemoryStore mem, other_mem;
  SecureCollector sc(d.path / "collector");
  SecureCollector other(d.path / "other");
  REQUIRE(sc.start(mem).ok());
  REQUIRE(other.start(other_mem).ok());
  auto foreign = agent::enroll(enroll_opts(other.col.port(), other.token("so-x"), d.path / "foreign"));
  REQUIRE(foreign.ok());
  auto o = mtls_options(*foreign, sc.col.port(), d.path / "spool");
  o.pinned_sha256 = sc.col.cert.fingerprint_sha256;
  o.ca_file.clear();
  auto up = agent::Uplink::create(o);
  REQUIRE(up.ok());
  REQUIRE((*up)->start().ok());
  REQUIRE((*up)->submit(make_alert(1)).ok());
  REQUIRE_FALSE((*up)->flush_and_wait(ms(800)).ok());
  REQUIRE(sc.col.gw->stats().tls_failures >= 1);
  REQUIRE(mem.alert_count() == 0);
  (*up)->stop();

  RawClient c;  // no certificate at all
  REQUIRE_FALSE(c.connect(sc.col.port()));
  REQUIRE_FALSE(c.send(wire::encode(raw_hello("sneaky", ""))));
  boost::system::error_code ec;
  auto m = wire::decode(c.read(ec));
  REQUIRE(m.ok());
  auto& e = std::get<wire::ErrorMsg>(*m);
  REQUIRE(e.code == "unauthorized");
  REQUIRE_THAT(e.message, Catch::Contains("enroll"));
}
