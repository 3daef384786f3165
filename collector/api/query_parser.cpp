#include "collector/api/query_parser.hpp"

#include <charconv>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "core/alert.hpp"

namespace halong::collector::api {

namespace {

Error bad(std::string_view param, std::string_view why) {
  return make_error(ErrorCode::invalid_argument, "query parameter '" + std::string(param) + "': " + std::string(why));
}

template <class T>
std::optional<T> number(std::string_view v) {
  T out{};
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return out;
}

Result<int64_t> time_value(std::string_view name, std::string_view v) {
  if (auto n = number<int64_t>(v)) return *n;
  auto t = parse_timestamp(v);
  if (!t) return bad(name, "not a time (RFC 3339 or microseconds since the epoch): " + t.error().message);
  return *t;
}

}  // namespace

Result<ParsedQuery> parse_alert_query(std::string_view target, bool allow_stats_params) {
  ParsedQuery out;
  out.query.limit = kDefaultLimit;
  auto qpos = target.find('?');
  std::string_view qs = qpos == std::string_view::npos ? (target.starts_with("/") ? std::string_view{} : target)
                                                        : target.substr(qpos + 1);
  std::string tmp = "/?" + std::string(qs);
  auto u = boost::urls::parse_origin_form(tmp);
  if (!u) return make_error(ErrorCode::invalid_argument, "malformed query string");
  auto& q = out.query;
  for (auto p : u->params()) {
    const std::string& k = p.key;
    const std::string& v = p.value;
    if (k.empty() && v.empty()) continue;
    auto need = [&]() -> Status {
      if (!p.has_value || v.empty()) return bad(k, "needs a value");
      return {};
    };
    if (auto s = need(); !s) return s.error();
    if (k == "limit") {
      auto n = number<size_t>(v);
      if (!n || *n == 0 || *n > kMaxLimit) return bad(k, "must be 1.." + std::to_string(kMaxLimit));
      q.limit = *n;
    } else if (k == "cursor") {
      q.cursor = v;
    } else if (k == "from" || k == "to") {
      auto t = time_value(k, v);
      if (!t) return t.error();
      (k == "from" ? q.from_us : q.to_us) = *t;
    } else if (k == "sid") {
      auto n = number<uint64_t>(v);
      if (!n) return bad(k, "not a signature id: '" + v + "'");
      q.sid = *n;
    } else if (k == "agent") {
      q.agent = v;
    } else if (k == "agency") {
      q.agency = v;
    } else if (k == "engine") {
      if (v != "suricata" && v != "sigma") return bad(k, "must be suricata or sigma");
      q.engine = v;
    } else if (k == "severity") {
      static const std::pair<const char*, int> names[] = {{"critical", 1}, {"high", 2}, {"medium", 3}, {"low", 4}};
      std::optional<int> sev;
      for (auto& [name, n] : names)
        if (v == name) sev = n;
      if (!sev) sev = number<int>(v);
      if (!sev || *sev < 1 || *sev > 255) return bad(k, "must be 1..255 or critical|high|medium|low");
      q.min_severity = *sev;
    } else if (k == "category") {
      q.category = v;
    } else if (k == "src_ip" || k == "dest_ip") {
      auto c = parse_cidr(v);
      if (!c) return bad(k, c.error().message);
      (k == "src_ip" ? q.src_net : q.dest_net) = *c;
    } else if (k == "port") {
      auto n = number<uint16_t>(v);
      if (!n) return bad(k, "must be 0..65535");
      q.port = *n;
    } else if (k == "status") {
      auto st = parse_triage_status(v);
      if (!st) return bad(k, "must be new|acknowledged|investigating|resolved|false_positive");
      q.status = *st;
    } else if (k == "assignee") {
      q.assignee = v == "-" ? std::string() : v;  // "-" = unassigned
    } else if (k == "incident") {
      auto n = number<uint64_t>(v);
      if (!n) return bad(k, "not an incident id");
      q.incident = *n;
    } else if (k == "q") {
      q.text = v;
    } else if (allow_stats_params && k == "field") {
      auto f = parse_stats_field(v);
      if (!f) return bad(k, "must be sid|agent|agency|severity|category|engine|status|src_ip|dest_ip|assignee");
      out.stats.field = *f;
    } else if (allow_stats_params && k == "bucket") {
      auto n = number<int64_t>(v);
      if (!n || *n < 1 || *n > 366LL * 86400) return bad(k, "must be 1..31622400 seconds");
      out.stats.bucket_us = *n * 1'000'000;
    } else {
      return bad(k, "unknown parameter");
    }
  }
  if (q.from_us >= q.to_us) return bad("from", "must be before 'to'");
  return out;
}

}  // namespace halong::collector::api
