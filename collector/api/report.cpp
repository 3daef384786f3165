#include "collector/api/report.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
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

    // Handling: each alert of the month (up to max_alerts) against the audit trail.
    std::unordered_map<std::string, int64_t> when;  // alert id -> alert time
    std::unordered_map<uint64_t, std::vector<std::pair<std::string, int64_t>>> by_incident;
    AlertQuery page_q = q;
    page_q.limit = 1000;
    bool truncated = false;
    for (;;) {
      auto page = store.query(page_q);
      if (!page) return page.error();
      for (size_t i = 0; i < page->alerts.size(); ++i) {
        const auto& a = page->alerts[i];
        when.emplace(a.id, a.timestamp_us);
        if (page->triage[i].incident) by_incident[page->triage[i].incident].emplace_back(a.id, a.timestamp_us);
      }
      if (when.size() >= req.max_alerts) {
        truncated = !page->next_cursor.empty();
        break;
      }
      if (page->next_cursor.empty()) break;
      page_q.cursor = page->next_cursor;
    }
    std::unordered_map<std::string, int64_t> first_action, first_close;
    auto note = [&](const std::string& id, int64_t alert_us, int64_t t, bool close) {
      if (t < alert_us) return;
      first_action.try_emplace(id, t - alert_us);
      if (close) first_close.try_emplace(id, t - alert_us);
    };
    for (const auto& r : trail) {
      if (r.action == "alert.update") {
        if (auto it = when.find(r.target); it != when.end()) note(r.target, it->second, r.time_us, closes(r.after));
      } else {
        uint64_t inc = 0;
        std::from_chars(r.target.data(), r.target.data() + r.target.size(), inc);
        if (auto it = by_incident.find(inc); it != by_incident.end())
          for (const auto& [id, t] : it->second) note(id, t, r.time_us, closes(r.after));
      }
    }
    std::vector<int64_t> ta, tc;
    for (const auto& [id, d] : first_action) ta.push_back(d);
    for (const auto& [id, d] : first_close) tc.push_back(d);
    rep["handling"] = json::object{{"alerts_examined", when.size()},
                                   {"truncated", truncated},
                                   {"acted_on", first_action.size()},
                                   {"never_acted_on", when.size() - first_action.size()},
                                   {"time_to_first_action", durations(std::move(ta))},
                                   {"closed", first_close.size()},
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
