// Apache / nginx access logs (combined and common formats) -> Sigma webserver fields, and
// their error logs (Apache "[time] [level] ...", nginx "YYYY/MM/DD HH:MM:SS [level] ...").
#include <string>

#include "agent/logs/parser.hpp"
#include "agent/logs/parsers_internal.hpp"
#include "agent/logs/text_util.hpp"

namespace halong::agent::logs {

using halong::logs::LogEvent;
using namespace detail;

namespace {

// A double-quoted field with backslash escapes: s at the opening quote; out gets the
// content with \" and \\ unescaped. Returns false when unterminated.
bool take_quoted(std::string_view& s, std::string& out) {
  if (s.empty() || s[0] != '"') return false;
  out.clear();
  for (size_t i = 1; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '"' || s[i + 1] == '\\')) {
      out.push_back(s[++i]);
      continue;
    }
    if (c == '"') {
      s.remove_prefix(i + 1);
      return true;
    }
    out.push_back(c);
  }
  return false;
}

// "10/Oct/2000:13:55:36 -0700" -> UTC µs
bool parse_clf_time(std::string_view t, int64_t& ts, std::string& date, std::string& time) {
  int d, y, h, mi, sec;
  if (!take_digits(t, 2, d) || !consume(t, "/")) return false;
  int mon = month_from_abbrev(t);
  if (mon == 0 || t.size() < 4) return false;
  t.remove_prefix(3);
  if (!consume(t, "/") || !take_digits(t, 4, y) || !consume(t, ":") || !take_digits(t, 2, h) || !consume(t, ":") ||
      !take_digits(t, 2, mi) || !consume(t, ":") || !take_digits(t, 2, sec))
    return false;
  int64_t off = 0;
  if (consume(t, " ")) {
    int sign = 1;
    if (consume(t, "-")) sign = -1;
    else consume(t, "+");
    int oh, om;
    if (!take_digits(t, 2, oh) || !take_digits(t, 2, om)) return false;
    off = sign * (oh * 3600 + om * 60);
  }
  if (d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
  ts = to_us(days_from_civil(y, static_cast<unsigned>(mon), static_cast<unsigned>(d)), h, mi, sec) - off * 1000000;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, mon, d);
  date = buf;
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", h, mi, sec);
  time = buf;
  return true;
}

void add_dash(LogEvent& ev, std::string_view k, std::string_view v) {
  if (!v.empty() && v != "-") ev.add(k, v);
}

class AccessParser final : public Parser {
 public:
  AccessParser(std::string_view name, const ParserOptions& o) : name_(name), opts_(o) {}
  std::string_view name() const override { return name_; }

  bool parse(std::string_view line, LogEvent& ev) override {
    ev.clear_parsed();
    ev.raw = line;
    ev.format = name_;
    if (!line.empty() && line[0] == '[') return parse_apache_error(line, ev);
    if (line.size() > 19 && is_digit(line[0]) && line[4] == '/' && line[7] == '/') return parse_nginx_error(line, ev);
    return parse_access(line, ev);
  }

 private:
  bool parse_access(std::string_view s, LogEvent& ev) {
    std::string_view host = token(s);
    std::string_view ident = token(s);
    std::string_view user = token(s);
    if (host.empty() || ident.empty() || user.empty()) return false;
    while (!s.empty() && s[0] == ' ') s.remove_prefix(1);
    std::string_view vhost;
    if (!s.empty() && s[0] != '[') {  // vhost_combined: "%v:%p %h %l %u %t ..."
      vhost = host;
      host = ident;
      ident = user;
      user = token(s);
      while (!s.empty() && s[0] == ' ') s.remove_prefix(1);
    }
    if (s.empty() || s[0] != '[') return false;
    size_t close = s.find(']');
    if (close == std::string_view::npos) return false;
    if (!parse_clf_time(s.substr(1, close - 1), ev.ts_us, date_, time_)) return false;
    s.remove_prefix(close + 1);
    consume(s, " ");
    if (!take_quoted(s, request_)) return false;
    std::string_view status = token(s);
    std::string_view bytes = token(s);
    uint64_t st = 0;
    std::string_view sv = status;
    if (!take_uint(sv, 3, st) || !sv.empty()) return false;

    ev.add("c-ip", host);
    if (!vhost.empty()) {
      size_t colon = vhost.rfind(':');
      bool port = colon != std::string_view::npos && colon + 1 < vhost.size();
      for (size_t i = colon + 1; port && i < vhost.size(); ++i) port = is_digit(vhost[i]);
      ev.add("cs-host", port ? vhost.substr(0, colon) : vhost);
      if (port) ev.add("s-port", vhost.substr(colon + 1));
    }
    add_dash(ev, "cs-username", user);
    ev.add("date", date_);
    ev.add("time", time_);
    // request line: METHOD SP TARGET [SP VERSION]
    std::string_view r = request_;
    std::string_view method = token(r);
    std::string_view target = token(r);
    std::string_view version = token(r);
    if (!method.empty() && method != "-") {
      ev.add("cs-method", method);
      if (!target.empty()) {
        size_t q = target.find('?');
        std::string_view stem = target.substr(0, q);
        ev.add("cs-uri-stem", stem);
        ev.add("c-uri-stem", stem);
        ev.add("cs-uri", target);
        ev.add("c-uri", target);
        if (q != std::string_view::npos) {
          ev.add("cs-uri-query", target.substr(q + 1));
          ev.add("c-uri-query", target.substr(q + 1));
        }
        size_t slash = stem.rfind('/');
        std::string_view last = slash == std::string_view::npos ? stem : stem.substr(slash + 1);
        size_t dot = last.rfind('.');
        if (dot != std::string_view::npos && dot + 1 < last.size()) ev.add("c-uri-extension", last.substr(dot + 1));
      }
      if (!version.empty()) ev.add("cs-version", version);
    }
    ev.add("cs-request", request_);
    ev.add("sc-status", status);
    if (!bytes.empty() && bytes != "-") ev.add("sc-bytes", bytes);
    consume(s, " ");
    if (take_quoted(s, quoted_)) {
      add_dash(ev, "cs-referer", quoted_);
      add_dash(ev, "cs-referrer", quoted_);
      consume(s, " ");
      if (take_quoted(s, quoted_)) {
        add_dash(ev, "cs-user-agent", quoted_);
        add_dash(ev, "c-useragent", quoted_);
      }
    }
    return true;
  }

  // [Sun Dec 04 04:47:44 2005] [error] [client 1.2.3.4] msg
  // [Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 1:tid 2] [client 1.2.3.4:5] AH00001: msg
  bool parse_apache_error(std::string_view s, LogEvent& ev) {
    size_t close = s.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view t = s.substr(1, close - 1);
    s.remove_prefix(close + 1);
    // "Sun Dec 04 04:47:44 2005"
    std::string_view wd = token(t);
    std::string_view mon_s = token(t);
    std::string_view day_s = token(t);
    std::string_view hms = token(t);
    std::string_view year_s = token(t);
    int mon = month_from_abbrev(mon_s);
    int d, h, mi, sec, y;
    std::string_view ds = day_s, ys = year_s, hs = hms;
    if (wd.empty() || mon == 0 || !take_digits(ds, ds.size() == 1 ? 1 : 2, d) || !take_digits(ys, 4, y) ||
        !take_digits(hs, 2, h) || !consume(hs, ":") || !take_digits(hs, 2, mi) || !consume(hs, ":") ||
        !take_digits(hs, 2, sec))
      return false;
    int64_t frac = 0;
    if (consume(hs, ".")) {
      uint64_t f = 0;
      std::string_view before = hs;
      if (take_uint(hs, 6, f)) {
        size_t n = before.size() - hs.size();
        frac = static_cast<int64_t>(f);
        for (size_t i = n; i < 6; ++i) frac *= 10;
      }
    }
    if (d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
    ev.ts_us = to_us(days_from_civil(y, static_cast<unsigned>(mon), static_cast<unsigned>(d)), h, mi, sec) + frac -
               int64_t(opts_.utc_offset_s) * 1000000;
    consume(s, " ");
    if (s.empty() || s[0] != '[') return false;
    close = s.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view level = s.substr(1, close - 1);
    size_t colon = level.find(':');
    if (colon != std::string_view::npos) {
      ev.add("module", level.substr(0, colon));
      level = level.substr(colon + 1);
    }
    ev.add("level", level);
    s.remove_prefix(close + 1);
    consume(s, " ");
    ev.add("message", trim(s));
    // optional [pid N:tid M] and [client IP[:port]]
    std::string_view r = s;
    while (consume(r, "[")) {
      size_t c = r.find(']');
      if (c == std::string_view::npos) break;
      std::string_view item = r.substr(0, c);
      r.remove_prefix(c + 1);
      consume(r, " ");
      if (consume(item, "pid ")) {
        ev.add("pid", item.substr(0, item.find(':')));
      } else if (consume(item, "client ")) {
        // IPv4 "1.2.3.4:5678" / IPv6 "[::1]:5678" is not bracketed by Apache; port after last ':'
        size_t dots = item.find('.');
        size_t lc = item.rfind(':');
        if (dots != std::string_view::npos && lc != std::string_view::npos && lc > dots) {
          ev.add("c-ip", item.substr(0, lc));
          ev.add("c-port", item.substr(lc + 1));
        } else {
          ev.add("c-ip", item);
        }
      }
    }
    return true;
  }

  // 2026/11/23 12:00:00 [error] 1234#0: *1 open() "/x" failed, client: 1.2.3.4, server: ...
  bool parse_nginx_error(std::string_view s, LogEvent& ev) {
    int y, mo, d, h, mi, sec;
    if (!take_digits(s, 4, y) || !consume(s, "/") || !take_digits(s, 2, mo) || !consume(s, "/") ||
        !take_digits(s, 2, d) || !consume(s, " ") || !take_digits(s, 2, h) || !consume(s, ":") ||
        !take_digits(s, 2, mi) || !consume(s, ":") || !take_digits(s, 2, sec))
      return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
    ev.ts_us = to_us(days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)), h, mi, sec) -
               int64_t(opts_.utc_offset_s) * 1000000;
    if (!consume(s, " [")) return false;
    size_t close = s.find(']');
    if (close == std::string_view::npos) return false;
    ev.add("level", s.substr(0, close));
    s.remove_prefix(close + 1);
    consume(s, " ");
    size_t hash = s.find('#');
    if (hash != std::string_view::npos && hash < 12) ev.add("pid", s.substr(0, hash));
    ev.add("message", trim(s));
    size_t cl = s.find(", client: ");
    if (cl != std::string_view::npos) {
      std::string_view c = s.substr(cl + 10);
      ev.add("c-ip", c.substr(0, c.find(',')));
    }
    return true;
  }

  std::string name_;
  ParserOptions opts_;
  std::string request_, quoted_, date_, time_;
};

}  // namespace

std::unique_ptr<Parser> make_access_parser(std::string_view name, const ParserOptions& opts) {
  return std::make_unique<AccessParser>(name, opts);
}

}  // namespace halong::agent::logs
