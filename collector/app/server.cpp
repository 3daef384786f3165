#include "collector/app/server.hpp"

#include <sys/stat.h>

#include <filesystem>

#include <boost/asio/ssl/context.hpp>
#include <boost/json.hpp>
#include <atomic>
#include <map>
#include <thread>
#include <mutex>
#include <fstream>

#include <spdlog/spdlog.h>

#include "collector/api/api_handler.hpp"
#include "collector/api/auth.hpp"
#include "collector/api/http_server.hpp"
#include "collector/api/token.hpp"
#include "collector/app/audit_inbox.hpp"
#include "collector/app/rulesets.hpp"
#include "collector/app/secrets.hpp"
#include "collector/gateway/certs.hpp"
#include "collector/gateway/gateway.hpp"
#include "collector/gateway/health.hpp"
#include "collector/gateway/registry.hpp"
#include "collector/store/alert_bus.hpp"
#include "collector/store/audit_log.hpp"
#include "collector/store/retention.hpp"
#include "collector/api/users.hpp"
#include "collector/store/rocks_store.hpp"

namespace halong::collector {

namespace fs = std::filesystem;

struct CollectorServer::Impl {
  CollectorConfig cfg;
  CollectorPaths paths;
  std::unique_ptr<RocksStore> store;
  std::unique_ptr<AuditLog> audit;
  AlertBus bus;
  std::unique_ptr<PublishingStore> publishing;   // the store as gateway and API see it: new alerts reach the live stream
  std::unique_ptr<api::UserDirectory> users;
  api::TokenAuthenticator auth;                  // static tokens (the data-dir admin token)
  std::unique_ptr<api::DirectoryAuthenticator> dir_auth;
  std::unique_ptr<RetentionWorker> retention;
  std::unique_ptr<api::ApiHandler> handler;
  std::unique_ptr<api::HttpServer> http;
  std::unique_ptr<Registry> registry;
  std::unique_ptr<HealthTracker> health;
  std::unique_ptr<Gateway> gateway;
  std::mutex offline_mu;
  std::thread ruleset_watch;
  std::atomic<bool> stopping{false};
  std::mutex ruleset_mu;          // one ruleset stored / pushed at a time (API and watcher)
  std::string ruleset_version;    // the version last pushed to the agents
};

namespace {

Status write_addr_file(const fs::path& p, const std::string& host, uint16_t port) {
  std::ofstream out(p, std::ios::trunc);
  out << host << ":" << port << "\n";
  if (!out) return make_error(ErrorCode::io_error, p.string() + ": cannot write");
  return {};
}

// docs/api/openapi.yaml from the installed docs or the source tree.
std::string find_openapi() {
  for (const char* p : {"/usr/share/doc/halong-collector/api/openapi.yaml", "docs/api/openapi.yaml",
                        HALONG_SOURCE_DIR "/docs/api/openapi.yaml"}) {
    auto s = api::load_openapi(p);
    if (!s.empty()) return s;
  }
  return {};
}

// Pushes the current stored ruleset to every agent when it changed (the gateway also gives
// it to agents that connect later).
void push_current_ruleset(CollectorServer::Impl& im) {
  std::lock_guard lk(im.ruleset_mu);
  if (!im.gateway) return;
  auto cur = current_ruleset(im.cfg.data_dir);
  if (!cur) {
    spdlog::warn("rulesets: {}", cur.error().message);
    return;
  }
  if (!*cur || (*cur)->version == im.ruleset_version) return;
  im.ruleset_version = (*cur)->version;
  size_t n = im.gateway->push_ruleset(std::move(**cur));
  spdlog::info("ruleset {} is current; sent to {} connected agents", im.ruleset_version, n);
}

// Changes made from the command line while the collector runs enter the audit trail here.
void drain_inbox(CollectorServer::Impl& im) {
  auto n = drain_audit_inbox(im.cfg.data_dir, *im.audit);
  if (!n) spdlog::error("audit inbox: {}", n.error().message);
  else if (*n) spdlog::info("audit: {} change(s) made from the command line recorded", *n);
}

}  // namespace

Result<std::unique_ptr<CollectorServer>> CollectorServer::start(const CollectorConfig& c) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = c;
  auto& paths = impl->paths;
  paths.data_dir = c.data_dir;
  std::error_code ec;
  fs::create_directories(c.data_dir, ec);
  if (ec) return make_error(ErrorCode::io_error, c.data_dir + ": cannot create data directory: " + ec.message());
  ::chmod(c.data_dir.c_str(), 0700);

  paths.store_dir = (fs::path(c.data_dir) / "store").string();
  RocksOptions ro;
  ro.memtable_mb = c.store_memtable_mb;
  auto store = RocksStore::open(paths.store_dir, ro);
  if (!store) return store.error();
  impl->store = std::move(*store);
  impl->audit = std::make_unique<AuditLog>(*impl->store);
  impl->publishing = std::make_unique<PublishingStore>(*impl->store, impl->bus);
  auto now = [] {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  impl->users = std::make_unique<api::UserDirectory>(*impl->store, now);
  if (c.retention_days > 0) {
    impl->retention = std::make_unique<RetentionWorker>(*impl->store, static_cast<int64_t>(c.retention_days) * 86'400'000'000LL, now);
    impl->retention->start(std::chrono::minutes(10));
  }

  auto cert = ensure_server_certificate(c.data_dir);
  if (!cert) return cert.error();
  paths.cert_file = cert->cert_file.string();
  paths.fingerprint = cert->fingerprint_sha256;
  if (cert->created) spdlog::info("created the collector certificate {} (SHA-256 {})", paths.cert_file, paths.fingerprint);

  auto api_token = api::ensure_api_token(c.data_dir);
  if (!api_token) return api_token.error();
  paths.api_token_file = api_token->second;
  impl->auth.add(api_token->first, api::Principal{"admin", api::Role::admin, std::nullopt});

  std::string enroll = c.enroll_token;
  paths.enroll_token_file = (fs::path(c.data_dir) / "enroll-token").string();
  if (enroll.empty()) {
    auto t = ensure_secret_file(paths.enroll_token_file);
    if (!t) return t.error();
    enroll = *t;
  }

  api::ApiOptions aopt;
  aopt.openapi_yaml = find_openapi();
  aopt.users = impl->users.get();
  aopt.bus = &impl->bus;
  aopt.secure_cookies = c.api_tls;
  // /api/v1/agents: enrolled agents from the registry, health from the heartbeats.
  aopt.agents = [raw = impl.get()]() {
    boost::json::array out;
    if (!raw->registry || !raw->health) return out;
    std::map<std::string, boost::json::object> by_id;
    if (auto recs = raw->registry->agents()) {
      for (const auto& r : *recs)
        by_id[r.id] = boost::json::object{{"id", r.id},          {"agency", r.agency},   {"hostname", r.hostname},
                                          {"enrolled", true},     {"revoked", r.revoked}, {"state", "offline"},
                                          {"connected", false},   {"reasons", boost::json::array{"never connected"}}};
    }
    for (const auto& h : raw->health->all()) {
      auto& o = by_id[h.agent_id];
      if (o.empty()) {
        // Not enrolled (shared enrollment token): its agency is the one its alerts carry.
        std::string agency;
        AlertQuery q;
        q.agent = h.agent_id;
        q.limit = 1;
        if (auto page = raw->store->query(q); page && !page->alerts.empty()) agency = page->alerts.front().agent.agency;
        o = boost::json::object{{"id", h.agent_id}, {"agency", agency}, {"enrolled", false}, {"revoked", false}};
      }
      o["state"] = std::string(to_string(h.state));
      o["connected"] = h.connected;
      boost::json::array reasons;
      for (const auto& r : h.reasons) reasons.emplace_back(r);
      o["reasons"] = std::move(reasons);
      if (h.last_seen_us) o["last_seen"] = format_timestamp(h.last_seen_us);
      o["ruleset_version"] = h.ruleset_version;
      boost::system::error_code ec;
      auto st = boost::json::parse(h.stats_json, ec);
      o["stats"] = ec ? boost::json::value(boost::json::object{}) : st;
    }
    for (auto& [id, o] : by_id) out.emplace_back(std::move(o));
    return out;
  };
  // Rules from the centre through the API: the same validation and storage as
  // `halong-collector rules push`, then an immediate push.
  aopt.rulesets = [raw = impl.get()]() {
    boost::json::object o;
    boost::json::array versions;
    std::string current;
    if (auto list = list_rulesets(raw->cfg.data_dir)) {
      for (const auto& r : *list) {
        boost::json::array files;
        for (const auto& f : r.files) files.emplace_back(f);
        versions.emplace_back(boost::json::object{{"version", r.version}, {"current", r.current}, {"files", std::move(files)}});
        if (r.current) current = r.version;
      }
    } else {
      o["warning"] = list.error().message;
    }
    o["current"] = current.empty() ? boost::json::value(nullptr) : boost::json::value(current);
    o["versions"] = std::move(versions);
    return o;
  };
  aopt.push_ruleset = [raw = impl.get()](const api::RuleFileList& files) -> Result<api::RulesetPushOutcome> {
    api::RulesetPushOutcome out;
    auto rep = validate_ruleset(files);
    out.report = rep.text;
    out.loaded = rep.loaded;
    out.skipped = rep.skipped;
    out.errors = rep.errors;
    if (rep.errors) return out;
    {
      std::lock_guard lk(raw->ruleset_mu);
      if (auto cur = current_ruleset(raw->cfg.data_dir); cur && *cur) out.previous = (*cur)->version;
      auto v = store_ruleset(raw->cfg.data_dir, files);
      if (!v) return v.error();
      out.version = *v;
    }
    out.accepted = true;
    push_current_ruleset(*raw);
    return out;
  };
  // The gateway's counters on /metrics, and its ingest state on /healthz (a collector whose
  // store refuses writes, e.g. out of disk, says so there: status "degraded").
  aopt.extra_metrics = [raw = impl.get()]() {
    std::string m;
    if (!raw->gateway) return m;
    const auto s = raw->gateway->stats();
    auto put = [&](const char* name, const char* type, const char* help, uint64_t v) {
      m += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           std::to_string(v) + "\n";
    };
    put("halong_gateway_ingest_stalled", "gauge", "1 while the store refuses writes (disk full...)", s.ingest_stalled ? 1 : 0);
    put("halong_gateway_connections_active", "gauge", "agent connections open", s.connections_active);
    put("halong_gateway_connections_total", "counter", "agent connections accepted", s.connections_accepted);
    put("halong_gateway_tls_failures_total", "counter", "TLS handshakes refused", s.tls_failures);
    put("halong_gateway_auth_failures_total", "counter", "agents refused (token, revoked, superseded)", s.auth_failures);
    put("halong_gateway_protocol_errors_total", "counter", "garbage, truncated, oversized or unexpected frames", s.protocol_errors);
    put("halong_gateway_enrollments_total", "counter", "agents enrolled", s.enrollments);
    put("halong_gateway_batches_stored_total", "counter", "agent batches stored", s.batches_stored);
    put("halong_gateway_store_writes_total", "counter", "store writes (several batches of an agent may share one)", s.store_writes);
    put("halong_gateway_queued_alerts", "gauge", "alerts read ahead on all connections, waiting for the store", s.queued_alerts);
    put("halong_gateway_alerts_stored_total", "counter", "alerts stored from agents", s.alerts_stored);
    put("halong_gateway_alerts_duplicate_total", "counter", "alerts received again and ignored", s.alerts_duplicate);
    put("halong_gateway_store_errors_total", "counter", "store writes that failed", s.store_errors);
    return m;
  };
  aopt.health = [raw = impl.get()]() {
    boost::json::object o;
    if (!raw->gateway) return o;
    const auto s = raw->gateway->stats();
    o["ingest"] = s.ingest_stalled ? "stalled" : "ok";
    if (s.ingest_stalled) {
      o["status"] = "degraded";
      o["reason"] = s.last_store_error;
    }
    return o;
  };
  impl->dir_auth = std::make_unique<api::DirectoryAuthenticator>(*impl->users, impl->auth);
  impl->handler = std::make_unique<api::ApiHandler>(*impl->publishing, *impl->dir_auth, impl->audit.get(), aopt);

  auto gw_addr = split_host_port(c.gateway_listen);
  if (!gw_addr) return gw_addr.error();
  GatewayOptions gopt;
  gopt.address = gw_addr->first;
  gopt.port = gw_addr->second;
  gopt.cert_file = cert->cert_file;
  gopt.key_file = cert->key_file;
  gopt.enrollment_token = enroll;
  gopt.store_dir = paths.store_dir;  // disk guard: refuse (retry-after) before RocksDB hits a full disk
  gopt.min_free_bytes = c.min_free_mb << 20;
  auto reg = Registry::open(c.data_dir);
  if (!reg) return reg.error();
  impl->registry = std::move(*reg);
  gopt.registry = impl->registry.get();
  impl->health = std::make_unique<HealthTracker>();
  gopt.health = impl->health.get();
  // An agent that goes silent raises an alert of the collector's own (sid 9100002), stored
  // like any other so analysts see it in their queue.
  Impl* raw = impl.get();
  gopt.on_agent_offline = [raw](const std::string& agent_id) {
    std::lock_guard lk(raw->offline_mu);
    auto seq = raw->store->highest_seq("collector");
    if (!seq) return;
    Alert a;
    a.seq = *seq + 1;
    a.id = "collector:" + std::to_string(a.seq);
    a.timestamp_us = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    a.agent = AgentRef{"collector", "", ""};
    if (auto rec = raw->registry->agent(agent_id)) a.agent.agency = rec->agency;
    a.source = "health";
    a.alert.signature_id = 9100002;
    a.alert.rev = 1;
    a.alert.signature = "HALONG HEALTH agent offline: " + agent_id;
    a.alert.category = "Agent health";
    a.alert.severity = 2;
    a.alert.engine = "halong";
    a.fields["agent_id"] = agent_id;
    auto r = raw->store->write_batch("collector", {a});
    if (!r) spdlog::warn("could not store the offline alert for agent {}: {}", agent_id, r.error().message);
  };
  impl->gateway = std::make_unique<Gateway>(gopt, *impl->publishing);
  auto gs = impl->gateway->start();
  if (!gs) return make_error(gs.error().code, "agent gateway on " + c.gateway_listen + ": " + gs.error().message);

  auto api_addr = split_host_port(c.api_listen);
  if (!api_addr) return api_addr.error();
  api::ServerOptions sopt;
  sopt.address = api_addr->first;
  sopt.port = api_addr->second;
  if (c.api_tls) {
    // HTTPS with the collector's own certificate (the one agents trust); TLS 1.2 minimum.
    auto ctx = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
    boost::system::error_code ec2;
    ctx->set_options(boost::asio::ssl::context::default_workarounds | boost::asio::ssl::context::no_sslv2 |
                         boost::asio::ssl::context::no_sslv3 | boost::asio::ssl::context::no_tlsv1 |
                         boost::asio::ssl::context::no_tlsv1_1,
                     ec2);
    ctx->use_certificate_chain_file(cert->cert_file.string(), ec2);
    if (!ec2) ctx->use_private_key_file(cert->key_file.string(), boost::asio::ssl::context::pem, ec2);
    if (ec2) return make_error(ErrorCode::invalid_argument, "api.tls: cannot use " + cert->cert_file.string() + ": " + ec2.message());
    sopt.tls = std::move(ctx);
  }
  impl->http = std::make_unique<api::HttpServer>(*impl->handler, sopt);
  auto hs = impl->http->start();
  if (!hs) return make_error(hs.error().code, "API on " + c.api_listen + ": " + hs.error().message);

  // Rules from the centre: the current stored ruleset goes to every agent; a new one
  // (`halong-collector rules push`, another process) is noticed within a second.
  push_current_ruleset(*impl);
  drain_inbox(*impl);
  impl->ruleset_watch = std::thread([raw2 = impl.get()] {
    while (!raw2->stopping.load()) {
      for (int i = 0; i < 10 && !raw2->stopping.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (raw2->stopping.load()) break;
      push_current_ruleset(*raw2);
      drain_inbox(*raw2);
    }
  });

  auto w1 = write_addr_file(fs::path(c.data_dir) / "gateway.addr", gopt.address, impl->gateway->port());
  if (!w1) return w1.error();
  auto w2 = write_addr_file(fs::path(c.data_dir) / "api.addr", sopt.address, impl->http->port());
  if (!w2) return w2.error();

  spdlog::info("agent gateway listening on {}:{} (TLS WebSocket /agent/v1)", gopt.address, impl->gateway->port());
  spdlog::info("API listening on {}://{}:{}/api/v1 (bearer token in {})", c.api_tls ? "https" : "http", sopt.address, impl->http->port(),
               paths.api_token_file);
  spdlog::info("enrollment token in {}", paths.enroll_token_file);
  return std::unique_ptr<CollectorServer>(new CollectorServer(std::move(impl)));
}

CollectorServer::CollectorServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CollectorServer::~CollectorServer() { stop(); }

void CollectorServer::stop() {
  if (!impl_) return;
  if (impl_->retention) impl_->retention->stop();
  impl_->stopping.store(true);
  if (impl_->ruleset_watch.joinable()) impl_->ruleset_watch.join();
  if (impl_->http) impl_->http->stop();
  if (impl_->gateway) impl_->gateway->stop();
}

uint16_t CollectorServer::api_port() const { return impl_->http->port(); }
uint16_t CollectorServer::gateway_port() const { return impl_->gateway->port(); }
const CollectorPaths& CollectorServer::paths() const { return impl_->paths; }

}  // namespace halong::collector
