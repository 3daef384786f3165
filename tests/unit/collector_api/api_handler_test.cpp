#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <set>

#include "api_fixture.hpp"

using namespace halong;
using namespace halong::collector;
using namespace halong::collector::test;
namespace json = boost::json;

namespace {
std::vector<std::string> ids_in(const json::value& v) {
  std::vector<std::string> out;
  for (const auto& a : v.at("alerts").as_array()) out.emplace_back(a.at("id").as_string());
  return out;
}
// Every page of a list call.
std::vector<std::string> all_ids(ApiFixture& f, const std::string& target, const std::string& token = kAdmin) {
  std::vector<std::string> out;
  std::string cursor;
  for (int i = 0; i < 1000; ++i) {
    std::string t = target + (target.find('?') == std::string::npos ? "?" : "&") + "limit=17";
    if (!cursor.empty()) t += "&cursor=" + cursor;
    auto r = f.call(http::verb::get, t, token);
    REQUIRE(r.result() == http::status::ok);
    auto v = ApiFixture::body(r);
    for (auto& id : ids_in(v)) out.push_back(id);
    if (v.at("next_cursor").is_null()) break;
    cursor = std::string(v.at("next_cursor").as_string());
  }
  return out;
}
}  // namespace

TEST_CASE("api healthz answers without credentials", "[collector][api]") {
  ApiFixture f(0);
  auto r = f.call(http::verb::get, "/healthz", "");
  CHECK(r.result() == http::status::ok);
  CHECK(ApiFixture::body(r).at("status") == "ok");
}

TEST_CASE("api refuses calls without or with a wrong token as unauthorized JSON", "[collector][api]") {
  ApiFixture f(5);
  auto none = f.call(http::verb::get, "/api/v1/alerts", "");
  CHECK(none.result() == http::status::unauthorized);
  CHECK(error_code(none) == "unauthorized");
  CHECK(none[http::field::content_type] == "application/json");
  auto wrong = f.call(http::verb::get, "/api/v1/alerts", std::string(40, 'x'));
  CHECK(wrong.result() == http::status::unauthorized);
  CHECK(error_code(wrong) == "unauthorized");
  auto patch = f.call(http::verb::patch, "/api/v1/alerts/" + f.alerts[0].id, "", R"({"status":"resolved"})");
  CHECK(patch.result() == http::status::unauthorized);
}

TEST_CASE("api lists alerts newest first with limit, sid and agent filters as a brute-force filter does",
          "[collector][api]") {
  ApiFixture f(300);
  auto r = f.call(http::verb::get, "/api/v1/alerts?limit=10");
  REQUIRE(r.result() == http::status::ok);
  auto v = ApiFixture::body(r);
  auto& arr = v.at("alerts").as_array();
  REQUIRE(arr.size() == 10);
  int64_t prev = INT64_MAX;
  for (auto& a : arr) {
    auto t = parse_timestamp(a.at("timestamp").as_string()).value();
    CHECK(t <= prev);
    prev = t;
    CHECK(a.at("triage").at("status") == "new");
  }
  CHECK(!v.at("next_cursor").is_null());

  auto check = [&](const std::string& target, auto pred) {
    INFO(target);
    std::set<std::string> want;
    for (auto& a : f.alerts)
      if (pred(a)) want.insert(a.id);
    auto got = all_ids(f, target);
    CHECK(got.size() == want.size());
    CHECK(std::set<std::string>(got.begin(), got.end()) == want);
  };
  check("/api/v1/alerts", [](const Alert&) { return true; });
  check("/api/v1/alerts?sid=2013028", [](const Alert& a) { return a.alert.signature_id == 2013028; });
  check("/api/v1/alerts?agent=fw%3A04", [](const Alert& a) { return a.agent.id == "fw:04"; });
  check("/api/v1/alerts?agent=db-02&sid=9000001",
        [](const Alert& a) { return a.agent.id == "db-02" && a.alert.signature_id == 9000001; });
  check("/api/v1/alerts?severity=high&src_ip=10.0.1.0/24", [](const Alert& a) {
    return a.alert.severity <= 2 && a.src_ip.rfind("10.0.1.", 0) == 0;
  });
  check("/api/v1/alerts?q=ssh&engine=sigma", [](const Alert& a) {
    return a.alert.engine == "sigma" && a.alert.signature.find("SSH") != std::string::npos;
  });
}

TEST_CASE("api returns one alert by id and JSON errors for unknown or malformed ids", "[collector][api]") {
  ApiFixture f(20);
  const auto& a = f.alerts[4];
  auto r = f.call(http::verb::get, "/api/v1/alerts/" + a.id);
  REQUIRE(r.result() == http::status::ok);
  auto v = ApiFixture::body(r);
  CHECK(v.at("id") == a.id.c_str());
  CHECK(alert_from_json(v).value() == a);
  auto missing = f.call(http::verb::get, "/api/v1/alerts/web-01:999999");
  CHECK(missing.result() == http::status::not_found);
  CHECK(error_code(missing) == "not_found");
  auto bad = f.call(http::verb::get, "/api/v1/alerts/nonsense");
  CHECK(bad.result() == http::status::bad_request);
  CHECK(error_code(bad) == "invalid_argument");
  auto route = f.call(http::verb::get, "/api/v1/nothing");
  CHECK(route.result() == http::status::not_found);
  auto method = f.call(http::verb::delete_, "/api/v1/alerts");
  CHECK(method.result() == http::status::method_not_allowed);
}

TEST_CASE("api rejects unknown or malformed query parameters naming the parameter", "[collector][api]") {
  ApiFixture f(5);
  for (const char* t : {"/api/v1/alerts?limit=0", "/api/v1/alerts?limit=abc", "/api/v1/alerts?sid=-1",
                        "/api/v1/alerts?colour=red", "/api/v1/alerts?src_ip=10.0.0.0/33",
                        "/api/v1/alerts?status=done", "/api/v1/alerts?cursor=zz", "/api/v1/alerts?from=yesterday"}) {
    INFO(t);
    auto r = f.call(http::verb::get, t);
    CHECK(r.result() == http::status::bad_request);
    CHECK(error_code(r) == "invalid_argument");
  }
  auto r = f.call(http::verb::get, "/api/v1/alerts?colour=red");
  CHECK(std::string(ApiFixture::body(r).at("error").at("message").as_string()).find("colour") != std::string::npos);
}

TEST_CASE("an analyst of one agency sees nothing of another agency", "[collector][api]") {
  ApiFixture f(200);
  const Alert* other = nullptr;
  for (auto& a : f.alerts)
    if (a.agent.agency == "so-yte") other = &a;
  REQUIRE(other);
  auto r = f.call(http::verb::get, "/api/v1/alerts/" + other->id, kAnalyst);
  CHECK(r.result() == http::status::not_found);
  auto p = f.call(http::verb::patch, "/api/v1/alerts/" + other->id, kAnalyst, R"({"status":"resolved"})");
  CHECK(p.result() == http::status::not_found);
  size_t own = 0;
  for (auto& a : f.alerts) own += a.agent.agency == "so-tttt";
  auto ids = all_ids(f, "/api/v1/alerts", kAnalyst);
  CHECK(ids.size() == own);
  for (auto& id : ids) CHECK(f.store->get(id).value().agent.agency == "so-tttt");
  // Asking for the other agency explicitly still returns none of it.
  CHECK(all_ids(f, "/api/v1/alerts?agency=so-yte", kAnalyst).empty());
  auto st = f.call(http::verb::get, "/api/v1/alerts/stats?field=agency", kAnalyst);
  REQUIRE(st.result() == http::status::ok);
  auto sv = ApiFixture::body(st);
  CHECK(sv.at("total").to_number<uint64_t>() == own);
  for (auto& b : sv.at("by").as_array()) CHECK(b.at("value") == "so-tttt");
  auto inc = f.call(http::verb::get, "/api/v1/incidents?limit=1000", kAnalyst);
  REQUIRE(inc.result() == http::status::ok);
  auto iv = ApiFixture::body(inc);
  REQUIRE(!iv.at("incidents").as_array().empty());
  for (auto& i : iv.at("incidents").as_array()) CHECK(i.at("agency") == "so-tttt");
}

TEST_CASE("an auditor can read but cannot change anything", "[collector][api]") {
  ApiFixture f(20);
  CHECK(f.call(http::verb::get, "/api/v1/alerts", kAuditor).result() == http::status::ok);
  auto p = f.call(http::verb::patch, "/api/v1/alerts/" + f.alerts[0].id, kAuditor, R"({"status":"resolved"})");
  CHECK(p.result() == http::status::forbidden);
  CHECK(error_code(p) == "forbidden");
  auto b = f.call(http::verb::post, "/api/v1/alerts/bulk?sid=2001219", kAuditor, R"({"status":"resolved"})");
  CHECK(b.result() == http::status::forbidden);
  auto i = f.call(http::verb::patch, "/api/v1/incidents/1", kAuditor, R"({"status":"resolved"})");
  CHECK(i.result() == http::status::forbidden);
  CHECK(f.store->get_triage(f.alerts[0].id).value().status == TriageStatus::fresh);
  CHECK(f.call(http::verb::get, "/api/v1/audit", kAuditor).result() == http::status::ok);
  CHECK(f.call(http::verb::get, "/api/v1/audit", kAnalyst).result() == http::status::forbidden);
}

TEST_CASE("api PATCH triages an alert and records who changed what in the audit log", "[collector][api]") {
  ApiFixture f(20);
  const auto& a = f.alerts[2];
  auto r = f.call(http::verb::patch, "/api/v1/alerts/" + a.id, kAdmin,
                  R"({"status":"investigating","assignee":"lan","comment":"scan from a known host"})");
  REQUIRE(r.result() == http::status::ok);
  auto v = ApiFixture::body(r);
  CHECK(v.at("triage").at("status") == "investigating");
  CHECK(v.at("triage").at("assignee") == "lan");
  CHECK(v.at("triage").at("comments").as_array().size() == 1);
  auto filtered = all_ids(f, "/api/v1/alerts?status=investigating&assignee=lan");
  CHECK(filtered == std::vector<std::string>{a.id});

  auto bad = f.call(http::verb::patch, "/api/v1/alerts/" + a.id, kAdmin, R"({"status":"done"})");
  CHECK(bad.result() == http::status::bad_request);
  auto unknown = f.call(http::verb::patch, "/api/v1/alerts/" + a.id, kAdmin, R"({"colour":"red"})");
  CHECK(unknown.result() == http::status::bad_request);
  auto notjson = f.call(http::verb::patch, "/api/v1/alerts/" + a.id, kAdmin, "status=done");
  CHECK(notjson.result() == http::status::bad_request);

  auto log = f.call(http::verb::get, "/api/v1/audit?action=alert.update");
  REQUIRE(log.result() == http::status::ok);
  auto recs = ApiFixture::body(log).at("records").as_array();
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].at("actor") == "root");
  CHECK(recs[0].at("target") == a.id.c_str());
  CHECK(recs[0].at("before").at("status") == "new");
  CHECK(recs[0].at("after").at("status") == "investigating");
  CHECK(recs[0].at("time_us").to_number<int64_t>() == f.now);
}

TEST_CASE("api bulk update changes every alert the filter matches and refuses too wide a filter",
          "[collector][api]") {
  ApiFixture f(200);
  size_t want = 0;
  for (auto& a : f.alerts) want += a.alert.signature_id == 2001219 && a.agent.id == "web-01";
  REQUIRE(want > 0);
  auto r = f.call(http::verb::post, "/api/v1/alerts/bulk?sid=2001219&agent=web-01", kAdmin,
                  R"({"status":"false_positive","comment":"vulnerability scanner"})");
  REQUIRE(r.result() == http::status::ok);
  CHECK(ApiFixture::body(r).at("updated").to_number<uint64_t>() == want);
  CHECK(all_ids(f, "/api/v1/alerts?status=false_positive").size() == want);
  auto log = f.audit->list({});
  CHECK(log.value().size() == want);

  api::ApiOptions ao;
  ao.bulk_max = 3;
  api::ApiHandler small(*f.store, f.auth, f.audit.get(), ao);
  api::Request req{http::verb::post, "/api/v1/alerts/bulk", 11};
  req.set(http::field::authorization, "Bearer " + kAdmin);
  req.body() = R"({"status":"resolved"})";
  auto wide = small.handle(req);
  CHECK(wide.result() == http::status::too_many_requests);
  CHECK(error_code(wide) == "resource_exhausted");
  CHECK(all_ids(f, "/api/v1/alerts?status=resolved").empty());
}

TEST_CASE("api incident triage carries over to the incident's alerts", "[collector][api]") {
  ApiFixture f(100);
  auto list = f.call(http::verb::get, "/api/v1/incidents?limit=1000");
  REQUIRE(list.result() == http::status::ok);
  auto incs = ApiFixture::body(list).at("incidents").as_array();
  REQUIRE(!incs.empty());
  // the largest incident
  json::value best = incs[0];
  for (auto& i : incs)
    if (i.at("count").to_number<uint64_t>() > best.at("count").to_number<uint64_t>()) best = i;
  auto id = std::to_string(best.at("id").to_number<uint64_t>());
  auto r = f.call(http::verb::patch, "/api/v1/incidents/" + id, kAdmin, R"({"status":"acknowledged","assignee":"minh"})");
  REQUIRE(r.result() == http::status::ok);
  CHECK(ApiFixture::body(r).at("status") == "acknowledged");
  auto members = all_ids(f, "/api/v1/alerts?incident=" + id);
  CHECK(members.size() == best.at("count").to_number<uint64_t>());
  CHECK(all_ids(f, "/api/v1/alerts?incident=" + id + "&status=acknowledged&assignee=minh") == members);
  auto one = f.call(http::verb::get, "/api/v1/incidents/" + id);
  CHECK(ApiFixture::body(one).at("assignee") == "minh");
  CHECK(f.call(http::verb::get, "/api/v1/incidents/999999").result() == http::status::not_found);
  CHECK(f.call(http::verb::get, "/api/v1/incidents/x").result() == http::status::bad_request);
}

TEST_CASE("api stats count by field over the same filters", "[collector][api]") {
  ApiFixture f(150);
  auto r = f.call(http::verb::get, "/api/v1/alerts/stats?field=severity&bucket=60&agent=web-01");
  REQUIRE(r.result() == http::status::ok);
  auto v = ApiFixture::body(r);
  std::map<std::string, uint64_t> want;
  uint64_t total = 0;
  for (auto& a : f.alerts)
    if (a.agent.id == "web-01") {
      ++want[std::to_string(a.alert.severity)];
      ++total;
    }
  CHECK(v.at("total").to_number<uint64_t>() == total);
  std::map<std::string, uint64_t> got;
  for (auto& b : v.at("by").as_array()) got[std::string(b.at("value").as_string())] = b.at("count").to_number<uint64_t>();
  CHECK(got == want);
  uint64_t hist = 0;
  for (auto& h : v.at("histogram").as_array()) hist += h.at("count").to_number<uint64_t>();
  CHECK(hist == total);
  CHECK(f.call(http::verb::get, "/api/v1/alerts/stats?field=colour").result() == http::status::bad_request);
}

TEST_CASE("api serves Prometheus metrics with stored alerts and request counts", "[collector][api]") {
  ApiFixture f(12);
  (void)f.call(http::verb::get, "/api/v1/alerts");
  auto r = f.call(http::verb::get, "/metrics");
  REQUIRE(r.result() == http::status::ok);
  CHECK(r.body().find("halong_alerts_stored 12\n") != std::string::npos);
  CHECK(r.body().find("halong_api_requests_total{route=\"GET /api/v1/alerts\",status=\"200\"} 1") != std::string::npos);
  CHECK(r.body().find("halong_api_request_seconds_count") != std::string::npos);
}

TEST_CASE("the router's routes and the OpenAPI document list the same paths", "[collector][api]") {
  ApiFixture f(0);
  std::ifstream in(std::string(HALONG_SOURCE_DIR) + "/docs/api/openapi.yaml");
  REQUIRE(in.good());
  std::set<std::string> doc, router;
  std::string line, path;
  bool in_paths = false;
  std::regex path_re("^  (/[^:]*):\\s*$"), method_re("^    (get|post|patch|put|delete):\\s*$");
  std::smatch m;
  while (std::getline(in, line)) {
    if (line.rfind("paths:", 0) == 0) { in_paths = true; continue; }
    if (in_paths && !line.empty() && line[0] != ' ' && line[0] != '#') in_paths = false;
    if (!in_paths) continue;
    if (std::regex_match(line, m, path_re)) path = m[1];
    else if (std::regex_match(line, m, method_re)) {
      std::string meth = m[1];
      for (auto& c : meth) c = static_cast<char>(std::toupper(c));
      doc.insert(meth + " " + path);
    }
  }
  for (const auto& r : api::ApiHandler::routes()) router.insert(r.method + " " + r.pattern);
  CHECK(doc == router);
  auto served = f.call(http::verb::get, "/api/v1/openapi.yaml", "");
  CHECK(served.result() == http::status::ok);
  CHECK(served.body().find("openapi: 3") != std::string::npos);
}

TEST_CASE("rulesets: only admins push; file names are checked before validation; a refused ruleset "
          "returns its report and is not audited; an accepted one is",
          "[collector][api][rulesets]") {
  ApiFixture f(0);
  std::vector<api::RuleFileList> calls;
  bool accept = true;
  api::ApiOptions ao;
  ao.now_us = [&f] { return f.now; };
  ao.rulesets = [] { return boost::json::object{{"current", nullptr}, {"versions", boost::json::array{}}}; };
  ao.push_ruleset = [&](const api::RuleFileList& files) -> Result<api::RulesetPushOutcome> {
    calls.push_back(files);
    api::RulesetPushOutcome o;
    o.accepted = accept;
    o.report = accept ? "local.rules: 1 loaded\n" : "local.rules:3: unknown keyword 'contnet'\n";
    o.loaded = accept ? 1 : 0;
    o.errors = accept ? 0 : 1;
    if (accept) o.version = "1795450123-3fa2c01b9e4d";
    return o;
  };
  api::ApiHandler h(*f.store, f.auth, f.audit.get(), ao);
  auto call = [&](const std::string& token, const std::string& method, const std::string& body) {
    api::Request req{http::string_to_verb(method), "/api/v1/rulesets", 11};
    req.set(http::field::authorization, "Bearer " + token);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    return h.handle(req);
  };
  const std::string one = R"j({"files":[{"name":"local.rules","content":"alert tcp any any -> any any (sid:1;)"}]})j";

  CHECK(call(kAnalyst, "GET", "").result() == http::status::ok);
  CHECK(call(kAuditor, "GET", "").result() == http::status::ok);
  CHECK(call(kAnalyst, "POST", one).result() == http::status::forbidden);
  CHECK(call(kAuditor, "POST", one).result() == http::status::forbidden);
  for (const char* bad : {R"({"files":[]})", R"({"files":[{"name":"../local.rules","content":"x"}]})",
                          R"({"files":[{"name":"local.txt","content":"x"}]})", R"({"files":[{"name":".rules","content":"x"}]})",
                          R"({"files":[{"name":"a.rules","content":"x"},{"name":"a.rules","content":"y"}]})",
                          R"({"files":[{"name":"a.rules"}]})", R"([1,2])"}) {
    INFO(bad);
    CHECK(call(kAdmin, "POST", bad).result() == http::status::bad_request);
  }
  CHECK(calls.empty());

  accept = false;
  auto refused = call(kAdmin, "POST", one);
  REQUIRE(refused.result() == http::status::bad_request);
  auto re = ApiFixture::body(refused).at("error");
  CHECK(re.at("code") == "parse_error");
  CHECK(std::string(re.at("report").as_string()).find("local.rules:3") != std::string::npos);
  CHECK(f.audit->list({})->empty());

  accept = true;
  auto ok = call(kAdmin, "POST", one);
  REQUIRE(ok.result() == http::status::created);
  CHECK(ApiFixture::body(ok).at("version") == "1795450123-3fa2c01b9e4d");
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].at(0).first == "local.rules");
  auto log = f.audit->list({});
  REQUIRE(log->size() == 1);
  CHECK(log->at(0).action == "ruleset.push");
  CHECK(log->at(0).actor == "root");
  CHECK(log->at(0).target == "1795450123-3fa2c01b9e4d");
}

TEST_CASE("the monthly report gives per agency what was detected, how fast it was handled (from the audit trail, "
          "directly or through an incident) and the verified audit chain",
          "[collector][api][report]") {
  ApiFixture f(200);  // November 2025
  auto patch = [&](const std::string& target, int64_t at_us, const std::string& body) {
    f.now = at_us;
    auto r = f.call(http::verb::patch, target, kAdmin, body);
    REQUIRE(r.result() == http::status::ok);
  };
  std::vector<const Alert*> tttt, yte;
  for (const auto& a : f.alerts) (a.agent.agency == "so-tttt" ? tttt : yte).push_back(&a);
  REQUIRE(tttt.size() > 5);
  REQUIRE(yte.size() > 5);
  const int64_t s = 1'000'000;
  std::map<std::string, std::vector<int64_t>> first, closed;  // agency -> delays (µs), expected

  // so-tttt: three alerts acted on directly, at known delays; three closed.
  const int64_t t0 = kBase + 3600 * s;  // after every fixture alert
  patch("/api/v1/alerts/" + tttt[0]->id, t0, R"({"status":"acknowledged"})");
  patch("/api/v1/alerts/" + tttt[1]->id, t0 + 10 * s, R"({"status":"false_positive"})");
  patch("/api/v1/alerts/" + tttt[2]->id, t0 + 20 * s, R"({"assignee":"lan"})");
  patch("/api/v1/alerts/" + tttt[0]->id, t0 + 30 * s, R"({"status":"resolved"})");
  patch("/api/v1/alerts/" + tttt[2]->id, t0 + 40 * s, R"({"status":"resolved"})");
  first["so-tttt"] = {t0 - tttt[0]->timestamp_us, t0 + 10 * s - tttt[1]->timestamp_us, t0 + 20 * s - tttt[2]->timestamp_us};
  closed["so-tttt"] = {t0 + 30 * s - tttt[0]->timestamp_us, t0 + 10 * s - tttt[1]->timestamp_us,
                       t0 + 40 * s - tttt[2]->timestamp_us};

  // so-yte: one incident closed as a whole: each of its alerts counts from its own time.
  auto one = ApiFixture::body(f.call(http::verb::get, "/api/v1/alerts/" + yte[0]->id));
  const uint64_t inc = one.at("triage").at("incident").to_number<uint64_t>();
  REQUIRE(inc != 0);
  patch("/api/v1/incidents/" + std::to_string(inc), t0 + 50 * s, R"({"status":"resolved"})");
  for (const auto& a : f.alerts) {
    auto t = f.store->get_triage(a.id);
    REQUIRE(t.ok());
    if (t->incident != inc) continue;
    first[a.agent.agency].push_back(t0 + 50 * s - a.timestamp_us);
    closed[a.agent.agency].push_back(t0 + 50 * s - a.timestamp_us);
  }
  // The same quantiles as the report (nearest rank on the sorted delays), in seconds.
  auto q = [](std::vector<int64_t> v, double p) {
    std::sort(v.begin(), v.end());
    return static_cast<double>(v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5))]) / 1e6;
  };

  f.now = t0 + 3600 * s;
  auto r = f.call(http::verb::get, "/api/v1/reports/monthly?month=2025-11", kAuditor);
  REQUIRE(r.result() == http::status::ok);
  auto rep = ApiFixture::body(r).as_object();
  CHECK(rep.at("month") == "2025-11");
  const auto& ags = rep.at("agencies").as_array();
  REQUIRE(ags.size() == 2);
  for (const auto& av : ags) {
    const auto& a = av.as_object();
    const std::string agency(a.at("agency").as_string());
    INFO(agency);
    size_t total = 0;
    std::map<std::string, uint64_t> sev;
    for (const auto& x : f.alerts)
      if (x.agent.agency == agency) {
        ++total;
        ++sev[std::to_string(x.alert.severity)];
      }
    CHECK(a.at("detected").at("total").to_number<size_t>() == total);
    for (const auto& [k, n] : sev) CHECK(a.at("detected").at("by_severity").at(k).to_number<uint64_t>() == n);
    const auto& h = a.at("handling").as_object();
    CHECK(h.at("alerts").to_number<size_t>() == total);
    CHECK(h.at("acted_on").to_number<size_t>() == first[agency].size());
    CHECK(h.at("never_acted_on").to_number<size_t>() == total - first[agency].size());
    CHECK(h.at("closed").to_number<size_t>() == closed[agency].size());
    CHECK(h.at("time_to_first_action").at("median_s").to_number<double>() == Approx(q(first[agency], 0.5)));
    CHECK(h.at("time_to_first_action").at("p90_s").to_number<double>() == Approx(q(first[agency], 0.9)));
    CHECK(h.at("time_to_close").at("median_s").to_number<double>() == Approx(q(closed[agency], 0.5)));
  }
  auto head = f.audit->list({});
  REQUIRE(head.ok());
  REQUIRE_FALSE(head->empty());
  CHECK(rep.at("audit_chain").at("ok").as_bool());
  CHECK(rep.at("audit_chain").at("head_hash").as_string() == head->front().hash);

  // One agency; another month is empty; analysts and bad months are refused.
  auto only = ApiFixture::body(f.call(http::verb::get, "/api/v1/reports/monthly?month=2025-11&agency=so-yte", kAdmin));
  REQUIRE(only.at("agencies").as_array().size() == 1);
  auto oct = ApiFixture::body(f.call(http::verb::get, "/api/v1/reports/monthly?month=2025-10", kAdmin));
  CHECK(oct.at("agencies").as_array().empty());
  CHECK(f.call(http::verb::get, "/api/v1/reports/monthly?month=2025-11", kAnalyst).result() == http::status::forbidden);
  CHECK(f.call(http::verb::get, "/api/v1/reports/monthly?month=2025-13", kAdmin).result() == http::status::bad_request);
  CHECK(f.call(http::verb::get, "/api/v1/reports/monthly?month=2025-11&x=1", kAdmin).result() == http::status::bad_request);
}
