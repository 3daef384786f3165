// ApiHandler: the collector's HTTP API as a transport-free function handle(Request) ->
// Response, tested without sockets; HttpServer (http_server.hpp) puts it on a socket.
// Routes and their contract: docs/api/openapi.yaml (a test checks both list the same paths).
#pragma once

#include <atomic>
#include <functional>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <vector>

#include "collector/api/auth.hpp"
#include "collector/api/http_types.hpp"
#include "collector/store/alert_store.hpp"

namespace halong::collector {
class AuditLog;
class AlertBus;
struct BusEvent;
}

namespace halong::collector::api {

class UserDirectory;

// What POST /api/v1/rulesets did with a ruleset (collector/app validates and stores it).
struct RulesetPushOutcome {
  bool accepted = false;
  std::string version;   // the stored version, when accepted
  std::string previous;  // the version that was current before ("" if none)
  std::string report;    // per file: loaded, skipped with the reason, errors with file:line
  size_t loaded = 0, skipped = 0, errors = 0;
};
using RuleFileList = std::vector<std::pair<std::string, std::string>>;  // (file name, content)

struct ApiOptions {
  std::function<int64_t()> now_us;  // injected clock; default: system clock
  std::string openapi_yaml;         // served at /api/v1/openapi.yaml (empty: 404)
  size_t bulk_max = 10000;          // most alerts one bulk update may change
  // What /healthz adds to {"status":"ok"} (the gateway's ingest state...); it may set
  // "status" to "degraded". Called per request; empty function: just {"status":"ok"}.
  std::function<boost::json::object()> health;
  // Extra lines appended to /metrics (gateway counters...), called per scrape.
  std::function<std::string()> extra_metrics;
  // The agents the collector knows, with their health (collector/app wires the gateway's
  // registry and HealthTracker here): one JSON object per agent, each with at least "id"
  // and "agency" (scoping). Empty function: /api/v1/agents answers 503.
  std::function<boost::json::array()> agents;
  // Users, API tokens and sessions (login/logout/users/tokens routes); null = those routes
  // answer 503 unavailable. Must outlive the handler.
  UserDirectory* users = nullptr;
  bool secure_cookies = false;      // set Secure on the session cookie (API served over TLS)
  // Live stream source (GET /api/v1/stream); null = the stream answers 503. Publish into it
  // by wrapping the store in a PublishingStore (collector/store/alert_bus.hpp).
  AlertBus* bus = nullptr;
  // Rules from the centre (GET/POST /api/v1/rulesets); empty functions: 503 unavailable.
  // `rulesets` lists the stored versions and the current one; `push_ruleset` validates a
  // ruleset whole and, when it has no error, stores it and pushes it to the agents.
  std::function<boost::json::object()> rulesets;
  std::function<Result<RulesetPushOutcome>(const RuleFileList& files)> push_ruleset;
};

// What one live-stream client asked for, within what it may see.
struct StreamFilter {
  Principal who;
  AlertQuery query;  // scope already applied
};

struct Route {
  std::string method;   // "GET", "PATCH", "POST"
  std::string pattern;  // "/api/v1/alerts/{id}"
  bool auth = true;
};

class ApiHandler {
 public:
  // store and auth must outlive the handler; audit may be null (changes then are not
  // recorded, for tests of the skeleton only).
  ApiHandler(AlertStore& store, Authenticator& auth, AuditLog* audit, ApiOptions opt = {});
  ~ApiHandler();

  // Never throws; every error is a JSON body {"error":{"code","message"}}.
  Response handle(const Request& req);

  // The WebSocket route: authenticates the upgrade request and parses its filter (same
  // query parameters as /api/v1/alerts). An error is answered as a JSON error response.
  Result<StreamFilter> stream_filter(const Request& req);
  static bool stream_matches(const StreamFilter& f, const BusEvent& e);
  static std::string stream_message(const BusEvent& e);  // {"type":"alert"|"incident",...}
  AlertBus* bus() const;

  // Every route the router serves (the OpenAPI test compares these with the document).
  static const std::vector<Route>& routes();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Loads docs/api/openapi.yaml from a source or install tree; empty string when absent.
std::string load_openapi(const std::string& path);

}  // namespace halong::collector::api
