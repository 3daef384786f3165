// An ApiHandler over a real RocksStore (temporary directory) with three callers: an admin,
// an analyst of agency so-tttt and an auditor.
#pragma once

#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "../collector_store/store_fixture.hpp"
#include "collector/api/api_handler.hpp"
#include "collector/api/auth.hpp"
#include "collector/store/audit_log.hpp"

namespace halong::collector::test {

namespace http = boost::beast::http;

inline const std::string kAdmin = std::string(40, 'a');
inline const std::string kAnalyst = std::string(40, 'b');
inline const std::string kAuditor = std::string(40, 'c');

struct ApiFixture {
  TempDir dir;
  std::unique_ptr<RocksStore> store;
  std::unique_ptr<AuditLog> audit;
  api::TokenAuthenticator auth;
  std::unique_ptr<api::ApiHandler> handler;
  int64_t now = kBase + 1'000'000'000;
  std::vector<Alert> alerts;

  explicit ApiFixture(size_t n = 200) {
    RocksOptions o;
    o.sync = false;
    o.block_cache_mb = 8;
    store = std::move(RocksStore::open(dir.path.string(), o).value());
    audit = std::make_unique<AuditLog>(*store);
    auth.add(kAdmin, {"root", api::Role::admin, std::nullopt});
    auth.add(kAnalyst, {"lan", api::Role::analyst, std::vector<std::string>{"so-tttt"}});
    auth.add(kAuditor, {"kiem", api::Role::auditor, std::nullopt});
    api::ApiOptions ao;
    ao.now_us = [this] { return now; };
    ao.openapi_yaml = api::load_openapi(std::string(HALONG_SOURCE_DIR) + "/docs/api/openapi.yaml");
    handler = std::make_unique<api::ApiHandler>(*store, auth, audit.get(), ao);
    alerts = make_fixture(n);
    store_all(*store, alerts);
  }

  api::Response call(http::verb v, const std::string& target, const std::string& token = kAdmin,
                     const std::string& body = "") {
    api::Request req{v, target, 11};
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    return handler->handle(req);
  }
  static boost::json::value body(const api::Response& r) { return boost::json::parse(r.body()); }
};

// The error code of a JSON error response.
inline std::string error_code(const api::Response& r) {
  auto v = boost::json::parse(r.body());
  return std::string(v.at("error").at("code").as_string());
}

}  // namespace halong::collector::test
