// Syslog header (RFC 3164 / ISO / RFC 5424) and the auth-family message parsers (sshd,
// PAM, sudo) that run on the message part.
#include <chrono>
#include <string>

#include "agent/logs/parser.hpp"
#include "agent/logs/parsers_internal.hpp"
#include "agent/logs/text_util.hpp"
#include "core/alert.hpp"

namespace halong::agent::logs {

using halong::logs::LogEvent;
using namespace detail;

namespace {

int64_t system_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "Mmm dd HH:MM:SS[.ffffff]" -> fields; s advanced past it.
bool take_bsd_time(std::string_view& s, int& mon, int& day, int& h, int& mi, int& sec, int64_t& frac_us) {
  std::string_view t = s;
  if (t.size() < 15) return false;
  mon = month_from_abbrev(t.substr(0, 3));
  if (mon == 0 || t[3] != ' ') return false;
  t.remove_prefix(4);
  if (t[0] == ' ') {  // "Jun  9"
    t.remove_prefix(1);
    if (!take_digits(t, 1, day)) return false;
  } else if (!take_digits(t, 2, day)) {
    if (!take_digits(t, 1, day)) return false;
  }
  if (!consume(t, " ")) return false;
  if (!take_digits(t, 2, h) || !consume(t, ":") || !take_digits(t, 2, mi) || !consume(t, ":") ||
      !take_digits(t, 2, sec))
    return false;
  if (day < 1 || day > 31 || h > 23 || mi > 59 || sec > 60) return false;
  frac_us = 0;
  if (!t.empty() && t[0] == '.') {
    std::string_view f = t.substr(1);
    int digits = 0;
    int64_t v = 0;
    while (!f.empty() && is_digit(f[0])) {
      if (digits < 6) v = v * 10 + (f[0] - '0');
      ++digits;
      f.remove_prefix(1);
    }
    if (digits > 0) {
      for (int i = digits; i < 6; ++i) v *= 10;
      frac_us = v;
      t = f;
    }
  }
  s = t;
  return true;
}

// RFC 3339-ish timestamp token (up to the next space) via core's parser.
bool take_iso_time(std::string_view& s, int64_t& ts) {
  if (s.size() < 19 || !is_digit(s[0]) || !is_digit(s[3]) || s[4] != '-') return false;
  size_t n = s.find(' ');
  std::string_view tok = s.substr(0, n);
  auto r = halong::parse_timestamp(tok);
  if (!r) return false;
  ts = *r;
  s.remove_prefix(tok.size());
  return true;
}

// tag[pid]: message   (tag may hold spaces: "syslogd 1.4.1: restart.")
void take_tag(std::string_view r, SyslogHeader& out) {
  const size_t limit = std::min<size_t>(r.size(), 64);
  for (size_t i = 0; i < limit; ++i) {
    char c = r[i];
    if (c == ':' || c == '[') {
      if (i == 0) break;
      std::string_view tag = r.substr(0, i);
      std::string_view rest = r.substr(i);
      if (c == '[') {
        size_t close = rest.find(']');
        if (close == std::string_view::npos) break;
        out.pid = rest.substr(1, close - 1);
        rest.remove_prefix(close + 1);
        consume(rest, ":");
      } else {
        rest.remove_prefix(1);
      }
      consume(rest, " ");
      out.program = tag;
      out.message = rest;
      return;
    }
    if (c == ' ' && i + 1 < r.size() && r[i + 1] == ' ') break;
  }
  out.message = r;
}

bool take_sd(std::string_view& s, std::string_view& sd) {
  if (consume(s, "-")) {
    sd = {};
    return true;
  }
  const char* begin = s.data();
  while (!s.empty() && s[0] == '[') {
    size_t i = 1;
    bool in_quote = false;
    for (; i < s.size(); ++i) {
      char c = s[i];
      if (in_quote && c == '\\') {
        ++i;
        continue;
      }
      if (c == '"') in_quote = !in_quote;
      if (!in_quote && c == ']') break;
    }
    if (i >= s.size()) return false;
    s.remove_prefix(i + 1);
  }
  sd = std::string_view(begin, static_cast<size_t>(s.data() - begin));
  return !sd.empty();
}

std::string_view nil(std::string_view v) { return v == "-" ? std::string_view{} : v; }

}  // namespace

bool parse_syslog_header(std::string_view line, const ParserOptions& opts, SyslogHeader& out) {
  out = SyslogHeader{};
  std::string_view s = line;
  if (!s.empty() && s[0] == '<') {
    std::string_view t = s.substr(1);
    uint64_t pri = 0;
    if (take_uint(t, 3, pri) && consume(t, ">") && pri <= 191) {
      out.pri = static_cast<int>(pri);
      s = t;
    }
  }
  // RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
  if (out.pri >= 0 && s.size() >= 2 && s[0] == '1' && s[1] == ' ') {
    std::string_view t = s.substr(2);
    std::string_view ts = token(t);
    if (ts != "-") {
      auto r = halong::parse_timestamp(ts);
      if (!r) return false;
      out.ts_us = *r;
    }
    out.host = nil(token(t));
    out.program = nil(token(t));
    out.pid = nil(token(t));
    out.msgid = nil(token(t));
    consume(t, " ");
    if (!take_sd(t, out.structured_data)) return false;
    consume(t, " ");
    consume(t, "\xEF\xBB\xBF");
    out.message = t;
    out.rfc5424 = true;
    return true;
  }
  int mon, day, h, mi, sec;
  int64_t frac = 0;
  if (take_bsd_time(s, mon, day, h, mi, sec, frac)) {
    int64_t now = opts.now_us;
    int ry;
    unsigned rm, rd;
    civil_from_days(now / 86400000000LL, ry, rm, rd);
    (void)rm;
    (void)rd;
    auto at_year = [&](int year) {
      return to_us(days_from_civil(year, static_cast<unsigned>(mon), static_cast<unsigned>(day)), h, mi, sec) + frac -
             int64_t(opts.utc_offset_s) * 1000000;
    };
    // no year in the line: this year, unless that is more than a week ahead (an old log)
    out.ts_us = at_year(ry);
    if (out.ts_us > now + 7LL * 86400 * 1000000) out.ts_us = at_year(ry - 1);
  } else if (!take_iso_time(s, out.ts_us)) {
    if (out.pri < 0) return false;
    take_tag(s, out);  // "<13>su: ..." from a local socket: no time, no host
    return true;
  }
  if (!consume(s, " ")) return false;
  out.host = token(s);
  while (!s.empty() && s[0] == ' ') s.remove_prefix(1);
  take_tag(s, out);
  return true;
}

namespace {

void add_nonempty(LogEvent& ev, std::string_view k, std::string_view v) {
  if (!v.empty()) ev.add(k, v);
}

// An address as sshd writes it after "from"/"by": up to a space or ']', trailing ':' cut.
std::string_view take_addr(std::string_view& s) {
  size_t n = 0;
  while (n < s.size() && s[n] != ' ' && s[n] != ']') ++n;
  std::string_view a = s.substr(0, n);
  s.remove_prefix(n);
  if (!a.empty() && a.back() == ':') a.remove_suffix(1);
  return a;
}

// "IP port P" / "IP" -> src_ip, src_port
void take_addr_port(std::string_view s, LogEvent& ev) {
  std::string_view ip = take_addr(s);
  add_nonempty(ev, "src_ip", ip);
  if (consume(s, " port ")) {
    std::string_view p = s;
    uint64_t port = 0;
    std::string_view q = p;
    if (take_uint(q, 5, port)) add_nonempty(ev, "src_port", p.substr(0, p.size() - q.size()));
  }
}

// "[invalid user |authenticating user |user ]U IP port P" (the user may hold spaces: the
// address is the second-to-last-but-two token when "port" follows).
void take_user_addr_port(std::string_view s, LogEvent& ev) {
  bool invalid = consume(s, "invalid user ");
  if (!invalid && !consume(s, "authenticating user ")) consume(s, "user ");
  if (invalid) ev.add("invalid_user", "true");
  size_t port = s.rfind(" port ");
  std::string_view head = port == std::string_view::npos ? s : s.substr(0, port);
  size_t sp = head.rfind(' ');
  if (sp == std::string_view::npos) {
    take_addr_port(s, ev);
    return;
  }
  ev.add("user", head.substr(0, sp));
  take_addr_port(s.substr(sp + 1), ev);
}

// "k=v k2= k3=v3" (PAM) -> prefix+k fields; values end at a space.
void add_kv_pairs(std::string_view s, std::string_view prefix, LogEvent& ev) {
  std::string key;
  while (!s.empty()) {
    std::string_view t = token(s);
    if (t.empty()) break;
    size_t eq = t.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    key.assign(prefix);
    key.append(t.substr(0, eq));
    ev.add(key, t.substr(eq + 1));
  }
}

// pam_unix(sshd:auth): MESSAGE[; k=v ...]  -- module/service/type come from the caller.
void parse_pam_text(std::string_view text, LogEvent& ev) {
  size_t semi = text.find(';');
  std::string_view msg = trim(text.substr(0, semi));
  ev.add("pam_message", msg);
  std::string_view kv = semi == std::string_view::npos ? std::string_view{} : text.substr(semi + 1);
  size_t before = ev.fields.size();
  add_kv_pairs(kv, "pam_", ev);
  std::string_view user, rhost;
  for (size_t i = before; i < ev.fields.size(); ++i) {
    if (ev.fields[i].first == "pam_user") user = ev.fields[i].second;
    if (ev.fields[i].first == "pam_rhost") rhost = ev.fields[i].second;
  }
  // copies: ev.fields may reallocate below
  std::string u(user), r(rhost);
  std::string_view m = msg;
  if (consume(m, "session opened for user ") || consume(m, "session closed for user ")) {
    std::string_view who = m.substr(0, m.find(' '));
    who = who.substr(0, who.find('('));  // "root(uid=0)"
    if (u.empty()) u = who;
  }
  if (!u.empty()) ev.add("user", u);
  if (!r.empty()) ev.add("src_ip", r);
  if (msg == "authentication failure") ev.add("outcome", "failure");
}

bool parse_pam_line(std::string_view m, LogEvent& ev) {
  // pam_unix(sshd:auth): ...
  size_t open = m.find('(');
  if (open == std::string_view::npos || open == 0 || !starts_with(m, "pam_")) return false;
  size_t close = m.find("): ", open);
  if (close == std::string_view::npos) return false;
  std::string_view inner = m.substr(open + 1, close - open - 1);
  size_t colon = inner.find(':');
  ev.add("pam_module", m.substr(0, open));
  ev.add("pam_service", inner.substr(0, colon));
  if (colon != std::string_view::npos) ev.add("pam_type", inner.substr(colon + 1));
  ev.add("event", "pam");
  parse_pam_text(m.substr(close + 3), ev);
  return true;
}

bool parse_sshd_message(std::string_view m, LogEvent& ev) {
  std::string_view s = m;
  if (parse_pam_line(s, ev)) return true;
  consume(s, "error: ");
  consume(s, "fatal: ");
  if (consume(s, "Failed ") || starts_with(s, "Accepted ")) {
    bool ok = consume(s, "Accepted ");
    std::string_view method = token(s);
    if (!consume(s, " for ")) return false;
    bool invalid = consume(s, "invalid user ");
    size_t from = s.rfind(" from ");
    if (from == std::string_view::npos) return false;
    ev.add("event", ok ? "auth_success" : "auth_failure");
    ev.add("outcome", ok ? "success" : "failure");
    ev.add("method", method);
    ev.add("user", s.substr(0, from));
    if (invalid) ev.add("invalid_user", "true");
    take_addr_port(s.substr(from + 6), ev);
    return true;
  }
  if (consume(s, "Invalid user ")) {
    size_t from = s.rfind(" from ");
    ev.add("event", "invalid_user");
    ev.add("outcome", "failure");
    ev.add("invalid_user", "true");
    if (from == std::string_view::npos) {
      ev.add("user", s);
      return true;
    }
    ev.add("user", s.substr(0, from));
    take_addr_port(s.substr(from + 6), ev);
    return true;
  }
  if (consume(s, "input_userauth_request: invalid user ")) {
    ev.add("event", "invalid_user_request");
    ev.add("invalid_user", "true");
    size_t pre = s.rfind(" [preauth]");
    ev.add("user", pre == std::string_view::npos ? s : s.substr(0, pre));
    return true;
  }
  if (consume(s, "Connection closed by ")) {
    ev.add("event", "connection_closed");
    if (starts_with(s, "invalid user ") || starts_with(s, "authenticating user ") || starts_with(s, "user "))
      take_user_addr_port(s, ev);
    else
      take_addr_port(s, ev);
    return true;
  }
  if (consume(s, "Received disconnect from ")) {
    ev.add("event", "disconnect_received");
    take_addr_port(s, ev);
    return true;
  }
  if (consume(s, "Disconnected from ")) {
    ev.add("event", "disconnected");
    take_user_addr_port(s, ev);
    return true;
  }
  if (consume(s, "Disconnecting: Too many authentication failures")) {
    ev.add("event", "too_many_failures");
    ev.add("outcome", "failure");
    if (consume(s, " for ")) {
      bool invalid = consume(s, "invalid user ");
      size_t pre = s.rfind(" [preauth]");
      ev.add("user", pre == std::string_view::npos ? s : s.substr(0, pre));
      if (invalid) ev.add("invalid_user", "true");
    }
    return true;
  }
  if (consume(s, "Disconnecting ")) {  // "Disconnecting invalid user U IP port P: Too many..."
    size_t colon = s.find(": ");
    ev.add("event", s.find("Too many authentication failures") != std::string_view::npos ? "too_many_failures"
                                                                                          : "disconnecting");
    take_user_addr_port(s.substr(0, colon), ev);
    return true;
  }
  if (consume(s, "maximum authentication attempts exceeded for ")) {
    ev.add("event", "too_many_failures");
    ev.add("outcome", "failure");
    bool invalid = consume(s, "invalid user ");
    size_t from = s.rfind(" from ");
    if (invalid) ev.add("invalid_user", "true");
    if (from == std::string_view::npos) return true;
    ev.add("user", s.substr(0, from));
    take_addr_port(s.substr(from + 6), ev);
    return true;
  }
  if (consume(s, "Did not receive identification string from ")) {
    ev.add("event", "no_identification");
    take_addr_port(s, ev);
    return true;
  }
  if (consume(s, "reverse mapping checking getaddrinfo for ")) {
    ev.add("event", "reverse_mapping_failed");
    std::string_view host = token(s);
    ev.add("src_host", host);
    if (consume(s, " [")) ev.add("src_ip", take_addr(s));
    return true;
  }
  if (consume(s, "Connection from ")) {
    ev.add("event", "connection");
    size_t on = s.find(" on ");
    take_addr_port(s.substr(0, on), ev);
    return true;
  }
  if (consume(s, "PAM ")) {
    uint64_t n = 0;
    std::string_view t = s;
    bool num = take_uint(t, 6, n);
    std::string_view count = s.substr(0, s.size() - t.size());
    if (num && consume(t, " more authentication failure")) {
      ev.add("event", "pam_more_failures");
      ev.add("outcome", "failure");
      ev.add("count", count);
      size_t semi = t.find(';');
      if (semi != std::string_view::npos) {
        size_t before = ev.fields.size();
        add_kv_pairs(t.substr(semi + 1), "pam_", ev);
        std::string user, rhost;
        for (size_t i = before; i < ev.fields.size(); ++i) {
          if (ev.fields[i].first == "pam_user") user = ev.fields[i].second;
          if (ev.fields[i].first == "pam_rhost") rhost = ev.fields[i].second;
        }
        if (!user.empty()) ev.add("user", user);
        if (!rhost.empty()) ev.add("src_ip", rhost);
      }
      return true;
    }
    if (consume(s, "service(")) {
      ev.add("event", "pam_ignoring_max_retries");
      return true;
    }
    return false;
  }
  if (consume(s, "Bad protocol version identification ")) {
    ev.add("event", "bad_protocol");
    size_t from = s.rfind(" from ");
    if (from != std::string_view::npos) take_addr_port(s.substr(from + 6), ev);
    return true;
  }
  if (consume(s, "Unable to negotiate with ")) {
    ev.add("event", "negotiation_failed");
    size_t colon = s.find(": ");
    take_addr_port(s.substr(0, colon), ev);
    return true;
  }
  return false;
}

// "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id"
bool parse_sudo_message(std::string_view m, LogEvent& ev) {
  if (parse_pam_line(m, ev)) return true;
  size_t sep = m.find(" : ");
  if (sep == std::string_view::npos) return false;
  std::string_view user = trim(m.substr(0, sep));
  if (user.empty() || user.find(' ') != std::string_view::npos) return false;
  ev.add("user", user);
  std::string_view rest = m.substr(sep + 3);
  std::string_view reason;
  bool any_kv = false;
  while (!rest.empty()) {
    size_t next = rest.find(" ; ");
    std::string_view item = trim(rest.substr(0, next));
    rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 3);
    size_t eq = item.find('=');
    bool is_kv = eq != std::string_view::npos && eq > 0;
    for (size_t i = 0; is_kv && i < eq; ++i)
      if (!((item[i] >= 'A' && item[i] <= 'Z') || item[i] == '_')) is_kv = false;
    if (is_kv) {
      any_kv = true;
      std::string_view k = item.substr(0, eq);
      std::string_view v = item.substr(eq + 1);
      if (k == "COMMAND") {
        // COMMAND runs to the end of the line (it may contain " ; ")
        if (!rest.empty()) v = std::string_view(v.data(), static_cast<size_t>(m.data() + m.size() - v.data()));
        rest = {};
      }
      ev.add(k, v);
    } else if (reason.empty()) {
      reason = item;
    }
  }
  if (!any_kv && reason.empty()) return false;
  if (!reason.empty()) ev.add("reason", reason);
  ev.add("event", reason.empty() ? "command" : "failure");
  ev.add("outcome", reason.empty() ? "success" : "failure");
  return true;
}

class SyslogParser final : public Parser {
 public:
  SyslogParser(std::string_view name, const ParserOptions& o) : name_(name), opts_(o) {
    if (opts_.now_us == 0) opts_.now_us = system_now_us();
  }
  std::string_view name() const override { return name_; }

  bool parse(std::string_view line, LogEvent& ev) override {
    ev.clear_parsed();
    ev.raw = line;
    ev.format = name_;
    SyslogHeader h;
    if (!parse_syslog_header(line, opts_, h)) return false;
    ev.ts_us = h.ts_us;
    if (h.pri >= 0) {
      ev.add("facility", std::to_string(h.pri / 8));
      ev.add("severity", std::to_string(h.pri % 8));
    }
    add_nonempty(ev, "host", h.host);
    add_nonempty(ev, "program", h.program);
    add_nonempty(ev, "pid", h.pid);
    add_nonempty(ev, "msgid", h.msgid);
    add_nonempty(ev, "structured_data", h.structured_data);
    std::string_view msg = h.message;
    while (!msg.empty() && (msg.back() == ' ' || msg.back() == '\r' || msg.back() == '\n')) msg.remove_suffix(1);
    ev.add("message", msg);
    // "message repeated 3 times: [ Failed password for root from ... ]" (rsyslog dedup)
    std::string_view inner = msg;
    if (consume(inner, "message repeated ")) {
      std::string_view t = inner;
      uint64_t n = 0;
      if (take_uint(t, 9, n) && consume(t, " times: [")) {
        ev.add("repeated", inner.substr(0, inner.size() - t.size() - 9));
        t = trim(t);
        if (!t.empty() && t.back() == ']') t.remove_suffix(1);
        inner = trim(t);
      } else {
        inner = msg;
      }
    } else {
      inner = msg;
    }
    dispatch(h.program, inner, ev);
    return true;
  }

 private:
  static void dispatch(std::string_view program, std::string_view msg, LogEvent& ev) {
    // "sshd(pam_unix)" (older PAM) -> program sshd, PAM module pam_unix
    size_t paren = program.find('(');
    if (paren != std::string_view::npos && paren > 0 && program.back() == ')') {
      std::string_view module = program.substr(paren + 1, program.size() - paren - 2);
      std::string_view svc = program.substr(0, paren);
      if (starts_with(module, "pam_")) {
        ev.add("pam_module", module);
        ev.add("pam_service", svc);
        ev.add("event", "pam");
        parse_pam_text(msg, ev);
        return;
      }
    }
    if (program == "sshd" || program == "sshd-session" || program == "sshd-auth") {
      parse_sshd_message(msg, ev);
    } else if (program == "sudo") {
      parse_sudo_message(msg, ev);
    } else {
      parse_pam_line(msg, ev);  // su, login, cron, systemd-logind... write PAM lines too
    }
  }

  std::string name_;
  ParserOptions opts_;
};

}  // namespace

std::unique_ptr<Parser> make_syslog_parser(std::string_view name, const ParserOptions& opts) {
  return std::make_unique<SyslogParser>(name, opts);
}

}  // namespace halong::agent::logs
