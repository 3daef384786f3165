#include "collector/api/report.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <optional>
#include <tuple>
#include <set>
#include <unordered_map>

#include "collector/store/audit_log.hpp"
#include "core/alert.hpp"

namespace halong::collector::api {

namespace json = boost::json;

Result<std::pair<int, int>> parse_month(std::string_view t) {
  int y = 0, m = 0;
  auto bad = [&] { return make_error(ErrorCode::invalid_argument, "month '" + std::string(t) + "': expected YYYY-MM"); };
  if (t.size() != 7 || t[4] != '-') return bad();
  if (std::from_chars(t.data(), t.data() + 4, y).ec != std::errc{} || std::from_chars(t.data() + 5, t.data() + 7, m).ec != std::errc{})
    return bad();
  if (y < 1970 || y > 9999 || m < 1 || m > 12) return bad();
  return std::make_pair(y, m);
}

std::pair<int64_t, int64_t> month_range(int year, int month) {
  using namespace std::chrono;
  auto first = sys_days{std::chrono::year{year} / std::chrono::month{static_cast<unsigned>(month)} / 1};
  auto next = sys_days{(std::chrono::year{year} / std::chrono::month{static_cast<unsigned>(month)} / 1) + months{1}};
  return {duration_cast<microseconds>(first.time_since_epoch()).count(),
          duration_cast<microseconds>(next.time_since_epoch()).count()};
}

namespace {

json::object durations(std::vector<int64_t> us) {
  if (us.empty()) return json::object{{"count", 0}, {"median_s", nullptr}, {"p90_s", nullptr}, {"max_s", nullptr}};
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(us.size() - 1) + 0.5);
    return static_cast<double>(us[std::min(i, us.size() - 1)]) / 1e6;
  };
  return json::object{{"count", us.size()}, {"median_s", at(0.5)}, {"p90_s", at(0.9)}, {"max_s", static_cast<double>(us.back()) / 1e6}};
}

json::object counts(const AlertStats& s) {
  json::object o;
  for (const auto& [v, n] : s.by) o[v] = n;
  return o;
}

bool closes(const json::value& after) {
  const json::value* st = after.is_object() ? after.as_object().if_contains("status") : nullptr;
  return st && st->is_string() && (st->as_string() == "resolved" || st->as_string() == "false_positive");
}

}  // namespace

Result<json::object> monthly_report(AlertStore& store, AuditLog* audit, const Principal& who, const ReportRequest& req,
                                    const json::array& agents, int64_t now_us) {
  const auto [m0, m1] = month_range(req.year, req.month);
  AlertQuery base;
  base.from_us = m0;
  base.to_us = m1;
  base.scope = who.agencies;

  // Which agencies: the one asked for (if the caller sees it), else every agency with alerts
  // this month or with an agent, within the caller's scope.
  std::set<std::string> agencies;
  if (req.agency) {
    if (!who.sees_agency(*req.agency)) return make_error(ErrorCode::not_found, "no agency " + *req.agency);
    agencies.insert(*req.agency);
  } else {
    auto by = store.stats(base, StatsRequest{StatsField::agency, 86'400'000'000LL, 100000});
    if (!by) return by.error();
    for (const auto& [a, n] : by->by) agencies.insert(a);
    for (const auto& v : agents) {
      const json::value* ag = v.is_object() ? v.as_object().if_contains("agency") : nullptr;
      if (ag && ag->is_string() && who.sees_agency(std::string(ag->as_string()))) agencies.insert(std::string(ag->as_string()));
    }
  }

  // The audit trail since the month began (newest first), read once for every agency.
  std::vector<AuditRecord> trail;
  json::object integrity{{"verified", false}};
  if (audit) {
    AuditFilter f;
    f.from_us = m0;
    f.limit = 1000;
    for (;;) {
      auto page = audit->list(f);
      if (!page) return page.error();
      for (auto& r : *page)
        if (r.action == "alert.update" || r.action == "incident.update") trail.push_back(r);
      if (page->size() < f.limit) break;
      f.before_seq = page->back().seq;
    }
    auto v = audit->verify();
    if (!v) return v.error();
    integrity = json::object{{"verified", true}, {"ok", v->ok}, {"records", v->records}};
    if (!v->ok) {
      integrity["broken_seq"] = v->broken_seq;
      integrity["reason"] = v->reason;
    }
    AuditFilter head;
    head.limit = 1;
    if (auto h = audit->list(head); h && !h->empty()) {
      integrity["head_seq"] = h->front().seq;
      integrity["head_hash"] = h->front().hash;
      integrity["head_time"] = format_timestamp(h->front().time_us);
    }
  }
  std::reverse(trail.begin(), trail.end());  // oldest first

  // Handling, from the audit trail: the cost follows the analysts' actions, not the number
  // of alerts. Each alert acted on (directly, or through its incident) that was raised in
  // the month, with the delay from its time to the first action and to its closing.
  struct Handled {
    std::string agency;
    int64_t first = -1, close = -1;  // µs after the alert; -1 = not (yet)
  };
  std::unordered_map<std::string, Handled> handled;  // alert id ->
  std::unordered_map<std::string, std::optional<std::pair<std::string, int64_t>>> alert_cache;  // id -> (agency, time)
  auto note = [&](const std::string& id, const std::string& agency, int64_t alert_us, int64_t t, bool close) {
    if (t < alert_us) return;
    auto& h = handled.try_emplace(id, Handled{agency}).first->second;
    if (h.first < 0) h.first = t - alert_us;
    if (close && h.close < 0) h.close = t - alert_us;
  };
  std::unordered_map<uint64_t, std::vector<std::tuple<std::string, std::string, int64_t>>> incident_alerts;
  for (const auto& r : trail) {
    const bool close = closes(r.after);
    if (r.action == "alert.update") {
      auto c = alert_cache.find(r.target);
      if (c == alert_cache.end()) {
        std::optional<std::pair<std::string, int64_t>> v;
        if (auto a = store.get(r.target); a && a->timestamp_us >= m0 && a->timestamp_us < m1 && who.sees_agency(a->agent.agency))
          v.emplace(a->agent.agency, a->timestamp_us);
        c = alert_cache.emplace(r.target, std::move(v)).first;
      }
      if (c->second) note(r.target, c->second->first, c->second->second, r.time_us, close);
      continue;
    }
    uint64_t inc = 0;
    if (std::from_chars(r.target.data(), r.target.data() + r.target.size(), inc).ec != std::errc{} || inc == 0) continue;
    auto it = incident_alerts.find(inc);
    if (it == incident_alerts.end()) {
      std::vector<std::tuple<std::string, std::string, int64_t>> v;
      AlertQuery iq = base;
      iq.incident = inc;
      iq.limit = 1000;
      for (;;) {
        auto page = store.query(iq);
        if (!page) return page.error();
        for (const auto& a : page->alerts) v.emplace_back(a.id, a.agent.agency, a.timestamp_us);
        if (page->next_cursor.empty()) break;
        iq.cursor = page->next_cursor;
      }
      it = incident_alerts.emplace(inc, std::move(v)).first;
    }
    for (const auto& [id, agency, t] : it->second) note(id, agency, t, r.time_us, close);
  }

  json::array out;
  for (const auto& agency : agencies) {
    AlertQuery q = base;
    q.agency = agency;
    json::object rep{{"agency", agency}};

    json::array ags;
    for (const auto& v : agents) {
      if (!v.is_object()) continue;
      const auto& o = v.as_object();
      const json::value* ag = o.if_contains("agency");
      if (!ag || !ag->is_string() || ag->as_string() != agency) continue;
      json::object a;
      for (const char* k : {"id", "hostname", "state", "ruleset_version", "last_seen", "revoked"})
        if (const json::value* x = o.if_contains(k)) a[k] = *x;
      ags.push_back(std::move(a));
    }
    rep["agents"] = std::move(ags);

    auto sev = store.stats(q, StatsRequest{StatsField::severity, 86'400'000'000LL, 16});
    if (!sev) return sev.error();
    auto eng = store.stats(q, StatsRequest{StatsField::engine, 86'400'000'000LL, 16});
    if (!eng) return eng.error();
    auto sid = store.stats(q, StatsRequest{StatsField::sid, 86'400'000'000LL, 10});
    if (!sid) return sid.error();
    auto status = store.stats(q, StatsRequest{StatsField::status, 86'400'000'000LL, 16});
    if (!status) return status.error();
    json::array top;
    for (const auto& [s, n] : sid->by) {
      json::object t{{"sid", s}, {"count", n}};
      AlertQuery one = q;  // the rule's name, from its newest alert
      one.limit = 1;
      uint64_t v = 0;
      if (std::from_chars(s.data(), s.data() + s.size(), v).ec == std::errc{}) one.sid = v;
      if (auto page = store.query(one); one.sid && page && !page->alerts.empty())
        t["signature"] = page->alerts.front().alert.signature;
      top.push_back(std::move(t));
    }
    json::array per_day;
    for (const auto& [t, n] : sev->histogram) per_day.push_back(json::object{{"day", format_timestamp(t).substr(0, 10)}, {"count", n}});
    rep["detected"] = json::object{{"total", sev->total},         {"by_severity", counts(*sev)}, {"by_engine", counts(*eng)},
                                   {"top_signatures", std::move(top)}, {"per_day", std::move(per_day)},
                                   {"status_now", counts(*status)}};

    std::vector<int64_t> ta, tc;
    for (const auto& [id, h] : handled) {
      if (h.agency != agency) continue;
      if (h.first >= 0) ta.push_back(h.first);
      if (h.close >= 0) tc.push_back(h.close);
    }
    const uint64_t total = sev->total;
    const uint64_t acted = ta.size();
    const uint64_t closed_n = tc.size();
    rep["handling"] = json::object{{"alerts", total},
                                   {"acted_on", acted},
                                   {"never_acted_on", total - std::min(total, acted)},
                                   {"time_to_first_action", durations(std::move(ta))},
                                   {"closed", closed_n},
                                   {"time_to_close", durations(std::move(tc))}};
    out.push_back(std::move(rep));
  }
  char month[8];
  std::snprintf(month, sizeof month, "%04d-%02d", req.year, req.month);
  return json::object{{"month", month},
                      {"from", format_timestamp(m0)},
                      {"to", format_timestamp(m1)},
                      {"generated", format_timestamp(now_us)},
                      {"generated_by", who.user},
                      {"agencies", std::move(out)},
                      {"audit_chain", std::move(integrity)}};
}

}  // namespace halong::collector::api
