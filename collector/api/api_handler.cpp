#include "collector/api/api_handler.hpp"

#include <array>
#include <charconv>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <tuple>
#include <sstream>

#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "collector/api/errors.hpp"
#include "collector/api/query_parser.hpp"
#include "collector/api/report.hpp"
#include "collector/api/users.hpp"
#include "collector/store/alert_bus.hpp"
#include "collector/store/audit_log.hpp"
#include "collector/store/store_common.hpp"
#include "core/wire.hpp"
#include "collector/web/web_assets.hpp"

namespace halong::collector::api {

namespace http = boost::beast::http;
namespace json = boost::json;

const std::vector<Route>& ApiHandler::routes() {
  static const std::vector<Route> r = {
      {"GET", "/healthz", false},
      {"GET", "/metrics", true},
      {"GET", "/api/v1/openapi.yaml", false},
      {"POST", "/api/v1/login", false},
      {"POST", "/api/v1/logout", true},
      {"GET", "/api/v1/whoami", true},
      {"GET", "/api/v1/users", true},
      {"POST", "/api/v1/users", true},
      {"DELETE", "/api/v1/users/{id}", true},
      {"GET", "/api/v1/tokens", true},
      {"POST", "/api/v1/tokens", true},
      {"DELETE", "/api/v1/tokens/{id}", true},
      {"GET", "/api/v1/alerts", true},
      {"GET", "/api/v1/alerts/stats", true},
      {"POST", "/api/v1/alerts/bulk", true},
      {"GET", "/api/v1/alerts/{id}", true},
      {"PATCH", "/api/v1/alerts/{id}", true},
      {"GET", "/api/v1/incidents", true},
      {"GET", "/api/v1/incidents/{id}", true},
      {"PATCH", "/api/v1/incidents/{id}", true},
      {"GET", "/api/v1/stream", true},
      {"GET", "/api/v1/audit", true},
      {"GET", "/api/v1/audit/verify", true},
      {"GET", "/api/v1/agents", true},
      {"GET", "/api/v1/agents/{id}", true},
      {"GET", "/api/v1/reports/monthly", true},
      {"GET", "/api/v1/rulesets", true},
      {"POST", "/api/v1/rulesets", true},
  };
  return r;
}

std::string load_openapi(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct ApiHandler::Impl {
  AlertStore& store;
  Authenticator& auth;
  AuditLog* audit;
  ApiOptions opt;

  std::mutex metrics_mu;
  std::map<std::pair<std::string, unsigned>, uint64_t> requests;  // route, status -> count
  std::map<std::string, std::pair<double, uint64_t>> latency;      // route -> sum seconds, count
  std::map<std::string, std::array<uint64_t, 8>> latency_buckets;  // route -> cumulative buckets

  Impl(AlertStore& s, Authenticator& a, AuditLog* l, ApiOptions o) : store(s), auth(a), audit(l), opt(std::move(o)) {
    if (!opt.now_us)
      opt.now_us = [] {
        return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
      };
  }

  // ---- helpers ----
  static Response ok_json(const Request& req, const json::value& v, http::status s = http::status::ok) {
    return json_response(req, s, json::serialize(v));
  }
  static json::object alert_json(const Alert& a, const Triage& t) {
    auto o = to_json(a);
    o["triage"] = triage_to_json(t);
    return o;
  }
  Status record(const Principal& p, const std::string& action, const std::string& target, json::value before,
                json::value after) {
    if (!audit) return {};
    auto r = audit->append(opt.now_us(), p.user, action, target, std::move(before), std::move(after));
    if (!r) return r.error();
    return {};
  }
  static Result<TriageUpdate> parse_update(std::string_view body) {
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (ec || !v.is_object()) return make_error(ErrorCode::invalid_argument, "body must be a JSON object");
    TriageUpdate u;
    for (const auto& [k, val] : v.as_object()) {
      if (k == "status") {
        if (!val.is_string()) return make_error(ErrorCode::invalid_argument, "status must be a string");
        auto st = parse_triage_status(val.as_string());
        if (!st) return make_error(ErrorCode::invalid_argument, "status must be new|acknowledged|investigating|resolved|false_positive");
        u.status = *st;
      } else if (k == "assignee") {
        if (val.is_null()) u.assignee = "";
        else if (val.is_string() && val.as_string().size() <= 128) u.assignee = std::string(val.as_string());
        else return make_error(ErrorCode::invalid_argument, "assignee must be a user name (string, at most 128 bytes) or null");
      } else if (k == "comment") {
        if (!val.is_string() || val.as_string().empty() || val.as_string().size() > 10000)
          return make_error(ErrorCode::invalid_argument, "comment must be a non-empty string of at most 10000 bytes");
        u.comment = std::string(val.as_string());
      } else {
        return make_error(ErrorCode::invalid_argument, "unknown field '" + std::string(k) + "' (status, assignee, comment)");
      }
    }
    if (!u.status && !u.assignee && !u.comment)
      return make_error(ErrorCode::invalid_argument, "nothing to change: give status, assignee or comment");
    return u;
  }
  static Status need_write(const Principal& p) {
    if (!p.can_write()) return make_error(ErrorCode::forbidden, "role " + std::string(to_string(p.role)) + " cannot change anything");
    return {};
  }
  static void scope_query(const Principal& p, AlertQuery& q) {
    if (p.agencies) q.scope = p.agencies;
  }

  // ---- routes ----
  Response alerts_list(const Request& req, const Principal& p) {
    auto pq = parse_alert_query(req.target());
    if (!pq) return error_response(req, pq.error());
    scope_query(p, pq->query);
    auto page = store.query(pq->query);
    if (!page) return error_response(req, page.error());
    json::array arr;
    for (size_t i = 0; i < page->alerts.size(); ++i) arr.push_back(alert_json(page->alerts[i], page->triage[i]));
    json::object o{{"alerts", std::move(arr)}};
    o["next_cursor"] = page->next_cursor.empty() ? json::value(nullptr) : json::value(page->next_cursor);
    return ok_json(req, o);
  }
  Response alerts_stats(const Request& req, const Principal& p) {
    auto pq = parse_alert_query(req.target(), true);
    if (!pq) return error_response(req, pq.error());
    scope_query(p, pq->query);
    auto st = store.stats(pq->query, pq->stats);
    if (!st) return error_response(req, st.error());
    json::array by, hist;
    for (auto& [k, n] : st->by) by.push_back(json::object{{"value", k}, {"count", n}});
    for (auto& [t, n] : st->histogram)
      hist.push_back(json::object{{"start", format_timestamp(t)}, {"start_us", t}, {"count", n}});
    return ok_json(req, json::object{{"total", st->total}, {"by", std::move(by)}, {"histogram", std::move(hist)},
                                     {"bucket_seconds", pq->stats.bucket_us / 1'000'000}});
  }
  Result<std::pair<Alert, Triage>> visible_alert(const Principal& p, const std::string& id) {
    auto a = store.get(id);
    if (!a) return a.error();
    if (!p.sees_agency(a->agent.agency)) return make_error(ErrorCode::not_found, "no alert " + id);
    auto t = store.get_triage(id);
    if (!t) return t.error();
    return std::make_pair(std::move(*a), std::move(*t));
  }
  Response alert_get(const Request& req, const Principal& p, const std::string& id) {
    auto r = visible_alert(p, id);
    if (!r) return error_response(req, r.error());
    return ok_json(req, alert_json(r->first, r->second));
  }
  Result<Triage> update_one(const Principal& p, const std::string& id, const TriageUpdate& u) {
    auto r = visible_alert(p, id);
    if (!r) return r.error();
    auto ch = store.update_triage(id, u, p.user, opt.now_us());
    if (!ch) return ch.error();
    if (auto s = record(p, "alert.update", id, triage_to_json(ch->first), triage_to_json(ch->second)); !s) return s.error();
    return std::move(ch->second);
  }
  Response alert_patch(const Request& req, const Principal& p, const std::string& id) {
    if (auto s = need_write(p); !s) return error_response(req, s.error());
    auto u = parse_update(req.body());
    if (!u) return error_response(req, u.error());
    auto t = update_one(p, id, *u);
    if (!t) return error_response(req, t.error());
    auto a = store.get(id);
    if (!a) return error_response(req, a.error());
    return ok_json(req, alert_json(*a, *t));
  }
  Response alerts_bulk(const Request& req, const Principal& p) {
    if (auto s = need_write(p); !s) return error_response(req, s.error());
    auto pq = parse_alert_query(req.target());
    if (!pq) return error_response(req, pq.error());
    auto u = parse_update(req.body());
    if (!u) return error_response(req, u.error());
    scope_query(p, pq->query);
    AlertQuery q = pq->query;
    q.limit = 1000;
    q.cursor.clear();
    std::vector<std::string> ids;
    for (;;) {
      auto page = store.query(q);
      if (!page) return error_response(req, page.error());
      for (auto& a : page->alerts) ids.push_back(a.id);
      if (ids.size() > opt.bulk_max)
        return error_response(req, make_error(ErrorCode::resource_exhausted,
                                              "the filter matches more than " + std::to_string(opt.bulk_max) +
                                                  " alerts; narrow it (nothing was changed)"));
      if (page->next_cursor.empty()) break;
      q.cursor = page->next_cursor;
    }
    size_t updated = 0;
    for (const auto& id : ids) {
      auto t = update_one(p, id, *u);
      if (!t) {
        if (t.error().code == ErrorCode::not_found) continue;  // deleted meanwhile by retention
        return error_response(req, t.error());
      }
      ++updated;
    }
    return ok_json(req, json::object{{"matched", ids.size()}, {"updated", updated}});
  }
  Response incidents_list(const Request& req, const Principal& p) {
    auto pq = parse_alert_query(req.target());
    if (!pq) return error_response(req, pq.error());
    scope_query(p, pq->query);
    auto list = store.list_incidents(pq->query);
    if (!list) return error_response(req, list.error());
    json::array arr;
    for (auto& i : *list) arr.push_back(incident_to_json(i));
    return ok_json(req, json::object{{"incidents", std::move(arr)}});
  }
  Result<Incident> visible_incident(const Principal& p, const std::string& id_text) {
    uint64_t id = 0;
    auto [ptr, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
    if (ec != std::errc() || ptr != id_text.data() + id_text.size())
      return make_error(ErrorCode::invalid_argument, "incident id must be a number: '" + id_text + "'");
    auto i = store.get_incident(id);
    if (!i) return i.error();
    if (!p.sees_agency(i->agency)) return make_error(ErrorCode::not_found, "no incident " + id_text);
    return i;
  }
  Response incident_get(const Request& req, const Principal& p, const std::string& id) {
    auto i = visible_incident(p, id);
    if (!i) return error_response(req, i.error());
    return ok_json(req, incident_to_json(*i));
  }
  Response incident_patch(const Request& req, const Principal& p, const std::string& id) {
    if (auto s = need_write(p); !s) return error_response(req, s.error());
    auto u = parse_update(req.body());
    if (!u) return error_response(req, u.error());
    auto i = visible_incident(p, id);
    if (!i) return error_response(req, i.error());
    auto ch = store.update_incident(i->id, *u, p.user, opt.now_us());
    if (!ch) return error_response(req, ch.error());
    json::object after = incident_to_json(ch->second);
    if (u->comment) after["comment"] = *u->comment;
    if (auto s = record(p, "incident.update", id, incident_to_json(ch->first), after); !s)
      return error_response(req, s.error());
    return ok_json(req, incident_to_json(ch->second));
  }
  Response audit_list(const Request& req, const Principal& p) {
    if (!audit) return error_response(req, make_error(ErrorCode::unavailable, "no audit log configured"));
    if (p.role == Role::analyst)
      return error_response(req, make_error(ErrorCode::forbidden, "the audit log is for admins and auditors"));
    AuditFilter f;
    auto u = boost::urls::parse_origin_form(req.target());
    if (!u) return error_response(req, make_error(ErrorCode::invalid_argument, "malformed request target"));
    for (auto prm : u->params()) {
      std::string k = prm.key, v = prm.value;
      auto num = [&](auto& out) {
        auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
        return ec == std::errc() && ptr == v.data() + v.size() && !v.empty();
      };
      if (k == "actor") f.actor = v;
      else if (k == "action") f.action = v;
      else if (k == "target") f.target = v;
      else if (k == "from" || k == "to") {
        auto t = parse_timestamp(v);
        int64_t n = 0;
        if (num(n)) t = n;
        if (!t) return error_response(req, make_error(ErrorCode::invalid_argument, "query parameter '" + k + "': not a time"));
        (k == "from" ? f.from_us : f.to_us) = *t;
      } else if (k == "before") {
        if (!num(f.before_seq)) return error_response(req, make_error(ErrorCode::invalid_argument, "query parameter 'before': not a record number"));
      } else if (k == "limit") {
        if (!num(f.limit) || f.limit == 0 || f.limit > 1000)
          return error_response(req, make_error(ErrorCode::invalid_argument, "query parameter 'limit': must be 1..1000"));
      } else {
        return error_response(req, make_error(ErrorCode::invalid_argument, "query parameter '" + k + "': unknown parameter"));
      }
    }
    auto list = audit->list(f);
    if (!list) return error_response(req, list.error());
    json::array arr;
    for (auto& r : *list) arr.push_back(audit_to_json(r));
    return ok_json(req, json::object{{"records", std::move(arr)}});
  }
  Response audit_verify(const Request& req, const Principal& p) {
    if (!audit) return error_response(req, make_error(ErrorCode::unavailable, "no audit log configured"));
    if (p.role == Role::analyst)
      return error_response(req, make_error(ErrorCode::forbidden, "the audit log is for admins and auditors"));
    auto v = audit->verify();
    if (!v) return error_response(req, v.error());
    json::object o{{"ok", v->ok}, {"records", v->records}};
    if (!v->ok) {
      o["broken_seq"] = v->broken_seq;
      o["reason"] = v->reason;
    }
    return ok_json(req, o);
  }
  // ---- people ----
  static Result<json::object> body_object(const Request& req) {
    boost::system::error_code ec;
    auto v = json::parse(req.body(), ec);
    if (ec || !v.is_object()) return make_error(ErrorCode::invalid_argument, "body must be a JSON object");
    return v.as_object();
  }
  static Result<std::string> str_field(const json::object& o, const char* k, bool required = true) {
    auto* v = o.if_contains(k);
    if (!v || v->is_null()) {
      if (required) return make_error(ErrorCode::invalid_argument, std::string("missing field '") + k + "'");
      return std::string();
    }
    if (!v->is_string()) return make_error(ErrorCode::invalid_argument, std::string("field '") + k + "' must be a string");
    return std::string(v->as_string());
  }
  Response login(const Request& req) {
    if (!opt.users) return error_response(req, make_error(ErrorCode::unavailable, "password login is not configured"));
    auto o = body_object(req);
    if (!o) return error_response(req, o.error());
    auto user = str_field(*o, "user");
    auto pw = str_field(*o, "password");
    if (!user) return error_response(req, user.error());
    if (!pw) return error_response(req, pw.error());
    auto s = opt.users->login(*user, *pw);
    if (!s) return error_response(req, s.error());
    auto p = opt.users->principal_of(*user);
    if (!p) return error_response(req, p.error());
    auto res = ok_json(req, json::object{{"user", p->user}, {"role", to_string(p->role)}, {"csrf_token", s->csrf}});
    res.set(http::field::set_cookie, "halong_session=" + s->id + "; Path=/; HttpOnly; SameSite=Strict" +
                                         (opt.secure_cookies ? "; Secure" : ""));
    return res;
  }
  Response logout(const Request& req) {
    if (opt.users) {
      auto sid = cookie_value(req[http::field::cookie], "halong_session");
      if (!sid.empty()) opt.users->logout(sid);
    }
    auto res = ok_json(req, json::object{{"status", "logged out"}});
    res.set(http::field::set_cookie, "halong_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    return res;
  }
  static json::object user_json(const User& u) {
    json::object o{{"name", u.name}, {"role", to_string(u.role)}, {"created", format_timestamp(u.created_us)}};
    if (u.agencies) {
      json::array a;
      for (auto& s : *u.agencies) a.emplace_back(s);
      o["agencies"] = std::move(a);
    } else {
      o["agencies"] = "all";
    }
    return o;
  }
  Response users_route(const Request& req, const Principal& p, const std::string& method, const std::string& id) {
    if (!opt.users) return error_response(req, make_error(ErrorCode::unavailable, "users are not configured"));
    if (p.role != Role::admin) return error_response(req, make_error(ErrorCode::forbidden, "only admins manage users"));
    if (method == "GET") {
      auto list = opt.users->list_users();
      if (!list) return error_response(req, list.error());
      json::array arr;
      for (auto& u : *list) arr.push_back(user_json(u));
      return ok_json(req, json::object{{"users", std::move(arr)}});
    }
    if (method == "DELETE") {
      auto before = opt.users->get_user(id);
      if (!before) return error_response(req, before.error());
      if (auto s = opt.users->delete_user(id); !s) return error_response(req, s.error());
      if (auto s = record(p, "user.delete", id, user_json(*before), nullptr); !s) return error_response(req, s.error());
      return ok_json(req, json::object{{"deleted", id}});
    }
    auto o = body_object(req);
    if (!o) return error_response(req, o.error());
    auto name = str_field(*o, "name");
    auto pw = str_field(*o, "password");
    auto role_s = str_field(*o, "role");
    if (!name) return error_response(req, name.error());
    if (!pw) return error_response(req, pw.error());
    if (!role_s) return error_response(req, role_s.error());
    auto role = parse_role(*role_s);
    if (!role) return error_response(req, make_error(ErrorCode::invalid_argument, "role must be admin|analyst|auditor"));
    std::optional<std::vector<std::string>> agencies;
    if (auto* a = o->if_contains("agencies"); a && !(a->is_string() && a->as_string() == "all")) {
      if (!a->is_array()) return error_response(req, make_error(ErrorCode::invalid_argument, "agencies must be \"all\" or a list of agency ids"));
      agencies.emplace();
      for (auto& x : a->as_array()) {
        if (!x.is_string()) return error_response(req, make_error(ErrorCode::invalid_argument, "agencies must be strings"));
        agencies->emplace_back(x.as_string());
      }
    }
    auto u = opt.users->add_user(*name, *pw, *role, agencies);
    if (!u) return error_response(req, u.error());
    if (auto s = record(p, "user.add", *name, nullptr, user_json(*u)); !s) return error_response(req, s.error());
    return ok_json(req, user_json(*u), http::status::created);
  }
  Response tokens_route(const Request& req, const Principal& p, const std::string& method, const std::string& id) {
    if (!opt.users) return error_response(req, make_error(ErrorCode::unavailable, "API tokens are not configured"));
    if (method == "GET") {
      auto list = opt.users->list_tokens(p.role == Role::admin ? "" : p.user);
      if (!list) return error_response(req, list.error());
      json::array arr;
      for (auto& t : *list)
        arr.push_back(json::object{{"id", t.id}, {"user", t.user}, {"label", t.label}, {"created", format_timestamp(t.created_us)}});
      return ok_json(req, json::object{{"tokens", std::move(arr)}});
    }
    if (method == "DELETE") {
      auto list = opt.users->list_tokens("");
      if (!list) return error_response(req, list.error());
      auto it = std::find_if(list->begin(), list->end(), [&](const TokenInfo& t) { return t.id == id; });
      if (it == list->end() || (p.role != Role::admin && it->user != p.user))
        return error_response(req, make_error(ErrorCode::not_found, "no token " + id));
      if (auto s = opt.users->revoke_token(id); !s) return error_response(req, s.error());
      if (auto s = record(p, "token.revoke", id, json::object{{"user", it->user}, {"label", it->label}}, nullptr); !s)
        return error_response(req, s.error());
      return ok_json(req, json::object{{"revoked", id}});
    }
    auto o = body_object(req);
    if (!o) return error_response(req, o.error());
    auto label = str_field(*o, "label", false);
    if (!label) return error_response(req, label.error());
    auto for_user = str_field(*o, "user", false);
    if (!for_user) return error_response(req, for_user.error());
    std::string owner = p.user;
    if (!for_user->empty() && *for_user != p.user) {
      if (p.role != Role::admin) return error_response(req, make_error(ErrorCode::forbidden, "only admins create tokens for other users"));
      owner = *for_user;
    }
    auto t = opt.users->create_token(owner, *label);
    if (!t) return error_response(req, t.error());
    if (auto s = record(p, "token.create", t->first.id, nullptr, json::object{{"user", owner}, {"label", *label}}); !s)
      return error_response(req, s.error());
    return ok_json(req, json::object{{"id", t->first.id}, {"token", t->second}, {"user", owner}, {"label", *label}},
                   http::status::created);
  }

  Response metrics(const Request& req) {
    std::ostringstream m;
    m << "# HELP halong_alerts_stored Alerts in the store.\n# TYPE halong_alerts_stored gauge\n";
    m << "halong_alerts_stored " << store.alert_count() << "\n";
    {
      std::lock_guard lock(metrics_mu);
      m << "# HELP halong_api_requests_total API requests by route and status.\n# TYPE halong_api_requests_total counter\n";
      for (auto& [k, n] : requests)
        m << "halong_api_requests_total{route=\"" << k.first << "\",status=\"" << k.second << "\"} " << n << "\n";
      m << "# HELP halong_api_request_seconds API request latency.\n# TYPE halong_api_request_seconds histogram\n";
      static const double bounds[] = {0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5};
      for (auto& [route, b] : latency_buckets) {
        for (size_t i = 0; i < 7; ++i)
          m << "halong_api_request_seconds_bucket{route=\"" << route << "\",le=\"" << bounds[i] << "\"} " << b[i] << "\n";
        m << "halong_api_request_seconds_bucket{route=\"" << route << "\",le=\"+Inf\"} " << latency[route].second << "\n";
        m << "halong_api_request_seconds_sum{route=\"" << route << "\"} " << latency[route].first << "\n";
        m << "halong_api_request_seconds_count{route=\"" << route << "\"} " << latency[route].second << "\n";
      }
    }
    if (opt.extra_metrics) m << opt.extra_metrics();
    Response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    res.keep_alive(req.keep_alive());
    res.body() = m.str();
    res.prepare_payload();
    return res;
  }

  void observe(const std::string& route, unsigned status, double seconds) {
    static const double bounds[] = {0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5};
    std::lock_guard lock(metrics_mu);
    ++requests[{route, status}];
    auto& l = latency[route];
    l.first += seconds;
    ++l.second;
    auto& b = latency_buckets[route];
    for (size_t i = 0; i < 7; ++i)
      if (seconds <= bounds[i]) ++b[i];
  }

  // GET: stored versions and the current one (every role). POST (admins): a ruleset as
  // {"files":[{"name":"local.rules","content":"..."}]}, validated whole; refused with the
  // per-rule report when any rule has an error, else stored, pushed and audited.
  Response rulesets_route(const Request& req, const Principal& p, const std::string& method) {
    if (!opt.rulesets || !opt.push_ruleset)
      return error_response(req, make_error(ErrorCode::unavailable, "rulesets are not configured"));
    if (method == "GET") return ok_json(req, opt.rulesets());
    if (p.role != Role::admin) return error_response(req, make_error(ErrorCode::forbidden, "only admins push rulesets"));
    auto o = body_object(req);
    if (!o) return error_response(req, o.error());
    const json::value* fv = o->if_contains("files");
    if (!fv || !fv->is_array() || fv->as_array().empty())
      return error_response(req, make_error(ErrorCode::invalid_argument, "files: a non-empty list of {name, content} is required"));
    RuleFileList files;
    std::set<std::string> names;
    for (size_t i = 0; i < fv->as_array().size(); ++i) {
      const auto& f = fv->as_array()[i];
      const std::string where = "files[" + std::to_string(i) + "]";
      const json::value* n = f.is_object() ? f.as_object().if_contains("name") : nullptr;
      const json::value* c = f.is_object() ? f.as_object().if_contains("content") : nullptr;
      if (!n || !n->is_string() || !c || !c->is_string())
        return error_response(req, make_error(ErrorCode::invalid_argument, where + ": needs string fields name and content"));
      std::string name(n->as_string());
      if (!wire::is_ruleset_file_name(name))
        return error_response(req, make_error(ErrorCode::invalid_argument,
                                              where + ": name '" + name + "' must be a plain *.rules, *.yml or *.yaml file name"));
      if (!names.insert(name).second)
        return error_response(req, make_error(ErrorCode::invalid_argument, where + ": file name '" + name + "' given twice"));
      files.emplace_back(std::move(name), std::string(c->as_string()));
    }
    auto r = opt.push_ruleset(files);
    if (!r) return error_response(req, r.error());
    json::object counts{{"loaded", r->loaded}, {"skipped", r->skipped}, {"errors", r->errors}};
    if (!r->accepted) {
      json::object e{{"code", "parse_error"},
                     {"message", "ruleset refused: " + std::to_string(r->errors) +
                                     " rule errors (nothing stored; agents keep their rules)"},
                     {"report", r->report}};
      auto res = json_response(req, http::status::bad_request, json::serialize(json::object{{"error", std::move(e)}}));
      return res;
    }
    json::array fnames;
    for (const auto& f : files) fnames.emplace_back(f.first);
    json::object after{{"version", r->version}, {"files", fnames}, {"loaded", r->loaded}, {"skipped", r->skipped}};
    if (auto s = record(p, "ruleset.push", r->version,
                        r->previous.empty() ? json::value(nullptr) : json::value(json::object{{"version", r->previous}}), after);
        !s)
      return error_response(req, s.error());
    return ok_json(req, json::object{{"version", r->version}, {"previous", r->previous}, {"report", r->report},
                                     {"loaded", r->loaded}, {"skipped", r->skipped}},
                   http::status::created);
  }

  // The monthly compliance report (report.hpp); month=YYYY-MM (default: the current month),
  // agency= optional. Admins and auditors (it reads the audit trail), within their agencies.
  Response monthly(const Request& req, const Principal& p) {
    if (p.role == Role::analyst)
      return error_response(req, make_error(ErrorCode::forbidden, "reports are for admins and auditors"));
    auto u = boost::urls::parse_origin_form(req.target());
    if (!u) return error_response(req, make_error(ErrorCode::invalid_argument, "malformed request target"));
    ReportRequest rr;
    const int64_t now = opt.now_us();
    {
      std::string cur = format_timestamp(now).substr(0, 7);
      auto ym = parse_month(cur);
      if (ym) std::tie(rr.year, rr.month) = *ym;
    }
    for (auto param : u->params()) {
      std::string k(param.key), v(param.value);
      if (k == "month") {
        auto ym = parse_month(v);
        if (!ym) return error_response(req, ym.error());
        std::tie(rr.year, rr.month) = *ym;
      } else if (k == "agency") {
        rr.agency = v;
      } else {
        return error_response(req, make_error(ErrorCode::invalid_argument, "query parameter '" + k + "': unknown parameter"));
      }
    }
    json::array agents = opt.agents ? opt.agents() : json::array{};
    auto r = monthly_report(store, audit, p, rr, agents, now);
    if (!r) return error_response(req, r.error());
    return ok_json(req, *r);
  }

  Response dispatch(const Request& req, std::string& route_name) {
    if (web::is_web_path(req.target())) {  // the web page (collector/web): static assets, no data, no auth
      route_name = "web";
      return web::serve(req);
    }
    auto u = boost::urls::parse_origin_form(req.target());
    if (!u) return error_response(req, make_error(ErrorCode::invalid_argument, "malformed request target"));
    std::vector<std::string> segs;
    for (auto s : u->segments()) segs.push_back(s);
    const std::string method(req.method_string());
    const Route* match = nullptr;
    std::string param;
    bool path_known = false;
    // First route whose path and method match wins: literal routes are listed before the
    // "{id}" ones, so /alerts/stats is not read as an alert id.
    for (const auto& r : routes()) {
      std::vector<std::string> ps;  // patterns are plain "/a/b/{id}" text, not URLs
      for (size_t b = 1, e; b <= r.pattern.size(); b = e + 1) {
        e = r.pattern.find('/', b);
        if (e == std::string::npos) e = r.pattern.size();
        ps.push_back(r.pattern.substr(b, e - b));
      }
      if (ps.size() != segs.size()) continue;
      bool ok = true;
      std::string cand;
      for (size_t i = 0; i < ps.size() && ok; ++i) {
        if (ps[i] == "{id}") cand = segs[i];
        else ok = ps[i] == segs[i];
      }
      if (!ok) continue;
      path_known = true;
      if (r.method == method) {
        match = &r;
        param = cand;
        break;
      }
    }
    if (!match) {
      if (path_known) {
        route_name = "method_not_allowed";
        auto res = error_response(req, make_error(ErrorCode::invalid_argument, "method " + method + " not allowed on " + std::string(u->path())));
        res.result(http::status::method_not_allowed);
        return res;
      }
      route_name = "not_found";
      return error_response(req, make_error(ErrorCode::not_found, "no route " + std::string(u->path())));
    }
    route_name = match->method + " " + match->pattern;
    const std::string& pat = match->pattern;
    if (pat == "/healthz") {
      json::object o{{"status", "ok"}};
      if (opt.health)
        for (auto& [k, v] : opt.health()) o[k] = v;
      return ok_json(req, o);
    }
    if (pat == "/api/v1/openapi.yaml") {
      if (opt.openapi_yaml.empty()) return error_response(req, make_error(ErrorCode::not_found, "OpenAPI document not installed"));
      Response res{http::status::ok, req.version()};
      res.set(http::field::content_type, "application/yaml");
      res.keep_alive(req.keep_alive());
      res.body() = opt.openapi_yaml;
      res.prepare_payload();
      return res;
    }
    if (pat == "/api/v1/login") return login(req);
    auto p = auth.authenticate(req);
    if (!p) return error_response(req, p.error());
    if (pat == "/api/v1/logout") return logout(req);
    if (pat == "/api/v1/users" || pat == "/api/v1/users/{id}") return users_route(req, *p, method, param);
    if (pat == "/api/v1/tokens" || pat == "/api/v1/tokens/{id}") {
      // Anyone may manage their own tokens (an auditor's token stays read-only: it carries
      // the auditor's role); only admins act on other users' tokens (tokens_route).
      return tokens_route(req, *p, method, param);
    }
    if (pat == "/metrics") return metrics(req);
    if (pat == "/api/v1/whoami") {
      json::object o{{"user", p->user}, {"role", to_string(p->role)}};
      if (p->agencies) {
        json::array a;
        for (auto& s : *p->agencies) a.emplace_back(s);
        o["agencies"] = std::move(a);
      } else {
        o["agencies"] = "all";
      }
      return ok_json(req, o);
    }
    if (pat == "/api/v1/alerts") return alerts_list(req, *p);
    if (pat == "/api/v1/alerts/stats") return alerts_stats(req, *p);
    if (pat == "/api/v1/alerts/bulk") return alerts_bulk(req, *p);
    if (pat == "/api/v1/alerts/{id}") return method == "GET" ? alert_get(req, *p, param) : alert_patch(req, *p, param);
    if (pat == "/api/v1/incidents") return incidents_list(req, *p);
    if (pat == "/api/v1/incidents/{id}")
      return method == "GET" ? incident_get(req, *p, param) : incident_patch(req, *p, param);
    if (pat == "/api/v1/audit") return audit_list(req, *p);
    if (pat == "/api/v1/stream")
      return error_response(req, make_error(ErrorCode::invalid_argument, "/api/v1/stream is a WebSocket: send an Upgrade request"));
    if (pat == "/api/v1/audit/verify") return audit_verify(req, *p);
    if (pat == "/api/v1/rulesets") return rulesets_route(req, *p, method);
    if (pat == "/api/v1/reports/monthly") return monthly(req, *p);
    if (pat == "/api/v1/agents" || pat == "/api/v1/agents/{id}") {
      if (!opt.agents) return error_response(req, make_error(ErrorCode::unavailable, "agent health is not configured"));
      json::array visible;
      for (auto& v : opt.agents()) {
        if (!v.is_object()) continue;
        const auto* ag = v.as_object().if_contains("agency");
        std::string agency = ag && ag->is_string() ? std::string(ag->as_string()) : std::string();
        if (!p->sees_agency(agency)) continue;
        if (pat == "/api/v1/agents/{id}") {
          const auto* id = v.as_object().if_contains("id");
          if (id && id->is_string() && id->as_string() == param) return ok_json(req, v.as_object());
          continue;
        }
        visible.push_back(std::move(v));
      }
      if (pat == "/api/v1/agents/{id}") return error_response(req, make_error(ErrorCode::not_found, "no agent " + param));
      return ok_json(req, json::object{{"agents", std::move(visible)}});
    }
    return error_response(req, make_error(ErrorCode::internal, "route without handler: " + pat));
  }
};

ApiHandler::ApiHandler(AlertStore& store, Authenticator& auth, AuditLog* audit, ApiOptions opt)
    : impl_(std::make_unique<Impl>(store, auth, audit, std::move(opt))) {}
ApiHandler::~ApiHandler() = default;

Result<StreamFilter> ApiHandler::stream_filter(const Request& req) {
  if (!impl_->opt.bus) return make_error(ErrorCode::unavailable, "the live stream is not configured");
  auto p = impl_->auth.authenticate(req);
  if (!p) return p.error();
  auto pq = parse_alert_query(req.target());
  if (!pq) return pq.error();
  StreamFilter f{std::move(*p), std::move(pq->query)};
  if (f.who.agencies) f.query.scope = f.who.agencies;
  f.query.cursor.clear();
  return f;
}

bool ApiHandler::stream_matches(const StreamFilter& f, const BusEvent& e) {
  if (e.kind == BusEvent::Kind::alert) return alert_matches(f.query, e.alert, e.triage);
  const auto& i = e.incident;
  const auto& q = f.query;
  if (!f.who.sees_agency(i.agency)) return false;
  if (q.agency && i.agency != *q.agency) return false;
  if (q.agent && i.agent != *q.agent) return false;
  if (q.sid && i.sid != *q.sid) return false;
  if (q.incident && i.id != *q.incident) return false;
  return true;
}

std::string ApiHandler::stream_message(const BusEvent& e) {
  if (e.kind == BusEvent::Kind::alert)
    return json::serialize(json::object{{"type", "alert"},
                                        {"change", e.triage_change ? "triage" : "new"},
                                        {"alert", Impl::alert_json(e.alert, e.triage)}});
  return json::serialize(json::object{{"type", "incident"}, {"incident", incident_to_json(e.incident)}});
}

AlertBus* ApiHandler::bus() const { return impl_->opt.bus; }

Response ApiHandler::handle(const Request& req) {
  auto t0 = std::chrono::steady_clock::now();
  std::string route = "unknown";
  Response res;
  try {
    res = impl_->dispatch(req, route);
  } catch (const std::exception& e) {  // a bug: never let it escape to the transport
    res = error_response(req, make_error(ErrorCode::internal, std::string("internal error: ") + e.what()));
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  impl_->observe(route, res.result_int(), secs);
  return res;
}

}  // namespace halong::collector::api
