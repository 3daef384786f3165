#include "collector/app/server.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "collector/api/api_handler.hpp"
#include "collector/api/auth.hpp"
#include "collector/api/http_server.hpp"
#include "collector/api/token.hpp"
#include "collector/app/secrets.hpp"
#include "collector/gateway/certs.hpp"
#include "collector/gateway/gateway.hpp"
#include "collector/store/audit_log.hpp"
#include "collector/store/rocks_store.hpp"

namespace halong::collector {

namespace fs = std::filesystem;

struct CollectorServer::Impl {
  CollectorConfig cfg;
  CollectorPaths paths;
  std::unique_ptr<RocksStore> store;
  std::unique_ptr<AuditLog> audit;
  api::TokenAuthenticator auth;
  std::unique_ptr<api::ApiHandler> handler;
  std::unique_ptr<api::HttpServer> http;
  std::unique_ptr<Gateway> gateway;
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
  auto store = RocksStore::open(paths.store_dir);
  if (!store) return store.error();
  impl->store = std::move(*store);
  impl->audit = std::make_unique<AuditLog>(*impl->store);

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
  impl->handler = std::make_unique<api::ApiHandler>(*impl->store, impl->auth, impl->audit.get(), aopt);

  auto gw_addr = split_host_port(c.gateway_listen);
  if (!gw_addr) return gw_addr.error();
  GatewayOptions gopt;
  gopt.address = gw_addr->first;
  gopt.port = gw_addr->second;
  gopt.cert_file = cert->cert_file;
  gopt.key_file = cert->key_file;
  gopt.enrollment_token = enroll;
  impl->gateway = std::make_unique<Gateway>(gopt, *impl->store);
  auto gs = impl->gateway->start();
  if (!gs) return make_error(gs.error().code, "agent gateway on " + c.gateway_listen + ": " + gs.error().message);

  auto api_addr = split_host_port(c.api_listen);
  if (!api_addr) return api_addr.error();
  api::ServerOptions sopt;
  sopt.address = api_addr->first;
  sopt.port = api_addr->second;
  impl->http = std::make_unique<api::HttpServer>(*impl->handler, sopt);
  auto hs = impl->http->start();
  if (!hs) return make_error(hs.error().code, "API on " + c.api_listen + ": " + hs.error().message);

  auto w1 = write_addr_file(fs::path(c.data_dir) / "gateway.addr", gopt.address, impl->gateway->port());
  if (!w1) return w1.error();
  auto w2 = write_addr_file(fs::path(c.data_dir) / "api.addr", sopt.address, impl->http->port());
  if (!w2) return w2.error();

  spdlog::info("agent gateway listening on {}:{} (TLS WebSocket /agent/v1)", gopt.address, impl->gateway->port());
  spdlog::info("API listening on http://{}:{}/api/v1 (bearer token in {})", sopt.address, impl->http->port(),
               paths.api_token_file);
  spdlog::info("enrollment token in {}", paths.enroll_token_file);
  return std::unique_ptr<CollectorServer>(new CollectorServer(std::move(impl)));
}

CollectorServer::CollectorServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CollectorServer::~CollectorServer() { stop(); }

void CollectorServer::stop() {
  if (!impl_) return;
  if (impl_->http) impl_->http->stop();
  if (impl_->gateway) impl_->gateway->stop();
}

uint16_t CollectorServer::api_port() const { return impl_->http->port(); }
uint16_t CollectorServer::gateway_port() const { return impl_->gateway->port(); }
const CollectorPaths& CollectorServer::paths() const { return impl_->paths; }

}  // namespace halong::collector
