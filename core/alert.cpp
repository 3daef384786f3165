#include "core/alert.hpp"
#include "core/utf8.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <boost/json.hpp>

namespace halong {

namespace json = boost::json;

json::object to_json(const Alert& a, json::storage_ptr sp) {
  json::object o(sp);
  o.reserve(20);
  o["id"] = a.id;
  o["seq"] = a.seq;
  o["timestamp"] = format_timestamp(a.timestamp_us);
  o["event_type"] = "alert";
  o["agent"] = json::object({{"id", a.agent.id}, {"hostname", a.agent.hostname}, {"agency", a.agent.agency}}, sp);
  o["source"] = a.source;
  if (!a.src_ip.empty()) o["src_ip"] = a.src_ip;
  if (!a.dest_ip.empty()) o["dest_ip"] = a.dest_ip;
  if (a.src_port || a.dest_port) {
    o["src_port"] = a.src_port;
    o["dest_port"] = a.dest_port;
  }
  if (!a.proto.empty()) o["proto"] = a.proto;
  if (a.flow_id) o["flow_id"] = a.flow_id;
  if (a.icmp_type) o["icmp_type"] = *a.icmp_type;
  if (a.icmp_code) o["icmp_code"] = *a.icmp_code;
  if (a.log) {
    o["log"] = json::object({{"path", a.log->path}, {"offset", a.log->offset}, {"line", a.log->line},
                             {"format", a.log->format}},
                            sp);
  }
  if (!a.fields.empty()) {
    json::object f(sp);
    for (const auto& [k, v] : a.fields) f[k] = v;
    o["fields"] = std::move(f);
  }
  json::object al(sp);
  al.reserve(12);
  al["action"] = a.alert.action;
  al["gid"] = a.alert.gid;
  al["signature_id"] = a.alert.signature_id;
  al["rev"] = a.alert.rev;
  al["signature"] = a.alert.signature;
  al["category"] = a.alert.category;
  al["severity"] = a.alert.severity;
  al["engine"] = a.alert.engine;
  if (!a.alert.rule_id.empty()) al["rule_id"] = a.alert.rule_id;
  if (!a.alert.tags.empty()) {
    json::array t(sp);
    for (const auto& s : a.alert.tags) t.emplace_back(s);
    al["tags"] = std::move(t);
  }
  if (!a.alert.metadata.empty()) {
    json::object m(sp);
    for (const auto& [k, vs] : a.alert.metadata) {
      json::array arr(sp);
      for (const auto& s : vs) arr.emplace_back(s);
      m[k] = std::move(arr);
    }
    al["metadata"] = std::move(m);
  }
  if (!a.alert.references.empty()) {
    json::array r(sp);
    for (const auto& s : a.alert.references) r.emplace_back(s);
    al["references"] = std::move(r);
  }
  o["alert"] = std::move(al);
  if (!a.payload_printable.empty()) o["payload_printable"] = a.payload_printable;
  return o;
}

std::string to_json_string(const Alert& a) {
  std::string out;
  out.reserve(768);
  append_json(out, a);
  return out;
}

namespace {

// Whether any of the 8 bytes of w needs a closer look: below 0x20, '"' or '\\' (escaped), or
// 0x80 and above (part of a UTF-8 sequence, which must be well formed). Bit tricks on a word:
// for a byte b < 0x80, (b - k) & ~b has its high bit set exactly when b < k.
inline bool word_needs_look(uint64_t w) {
  constexpr uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  const uint64_t lt20 = (w - ones * 0x20) & ~w;
  const uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
  const uint64_t eq = ((q - ones) & ~q) | ((bs - ones) & ~bs);
  return ((lt20 | eq | w) & high) != 0;
}

// A JSON string as Boost.JSON's serializer writes it: '"' and '\\' escaped, control
// characters as \b \t \n \f \r or \u00xx, every other byte as it is, except that a byte
// outside a well-formed UTF-8 sequence becomes U+FFFD (core/utf8.hpp: JSON is UTF-8, and
// the collector refuses anything else). Runs of plain ASCII (nearly all bytes) are found 8
// bytes at a time and copied at once.
void put_str(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  const char* p = s.data();
  const char* const end = p + s.size();
  const char* run = p;  // start of the bytes not yet copied
  while (p < end) {
    if (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if (!word_needs_look(w)) {
        p += 8;
        continue;
      }
    }
    const auto c = static_cast<unsigned char>(*p);
    if (c >= 0x80) {
      if (size_t len = utf8_sequence_length(reinterpret_cast<const unsigned char*>(p), static_cast<size_t>(end - p))) {
        p += len;
        continue;
      }
      out.append(run, static_cast<size_t>(p - run));
      out.append(kReplacementChar);
      run = ++p;
      continue;
    }
    if (c >= 0x20 && c != '"' && c != '\\') {
      ++p;
      continue;
    }
    out.append(run, static_cast<size_t>(p - run));
    run = ++p;
    switch (c) {
      case '"': out.append("\\\"", 2); break;
      case '\\': out.append("\\\\", 2); break;
      case '\b': out.append("\\b", 2); break;
      case '\t': out.append("\\t", 2); break;
      case '\n': out.append("\\n", 2); break;
      case '\f': out.append("\\f", 2); break;
      case '\r': out.append("\\r", 2); break;
      default: {
        const char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        out.append(u, 6);
      }
    }
  }
  out.append(run, static_cast<size_t>(end - run));
  out.push_back('"');
}

template <class Int>
void put_int(std::string& out, Int v) {
  char b[24];
  auto r = std::to_chars(b, b + sizeof b, v);
  out.append(b, r.ptr);
}

// ,"key": (no comma before the first member of an object), for a key only known at run time.
void put_key(std::string& out, std::string_view k, bool& first) {
  if (!first) out.push_back(',');
  first = false;
  put_str(out, k);
  out.push_back(':');
}

// The same for a fixed key given already quoted with its colon, e.g. lit_key(out, "\"id\":", f):
// the member names of an alert need no escaping, so they are copied as they are.
template <size_t N>
void lit_key(std::string& out, const char (&quoted)[N], bool& first) {
  if (!first) out.push_back(',');
  first = false;
  out.append(quoted, N - 1);
}

void put_str_array(std::string& out, const std::vector<std::string>& v) {
  out.push_back('[');
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out.push_back(',');
    put_str(out, v[i]);
  }
  out.push_back(']');
}

}  // namespace

// The members and their order are those of to_json (insertion order is what
// json::serialize writes); alert_test checks the two agree on every field.
void append_json(std::string& out, const Alert& a) {
  bool f = true;
  out += '{';
  lit_key(out, "\"id\":", f), put_str(out, a.id);
  lit_key(out, "\"seq\":", f), put_int(out, a.seq);
  lit_key(out, "\"timestamp\":", f);
  {
    char ts[kTimestampMax];
    out.push_back('"');
    out.append(ts, format_timestamp_into(ts, a.timestamp_us));
    out.push_back('"');
  }
  lit_key(out, "\"event_type\":", f), out += "\"alert\"";
  lit_key(out, "\"agent\":", f);
  {
    bool g = true;
    out += '{';
    lit_key(out, "\"id\":", g), put_str(out, a.agent.id);
    lit_key(out, "\"hostname\":", g), put_str(out, a.agent.hostname);
    lit_key(out, "\"agency\":", g), put_str(out, a.agent.agency);
    out += '}';
  }
  lit_key(out, "\"source\":", f), put_str(out, a.source);
  if (!a.src_ip.empty()) lit_key(out, "\"src_ip\":", f), put_str(out, a.src_ip);
  if (!a.dest_ip.empty()) lit_key(out, "\"dest_ip\":", f), put_str(out, a.dest_ip);
  if (a.src_port || a.dest_port) {
    lit_key(out, "\"src_port\":", f), put_int(out, a.src_port);
    lit_key(out, "\"dest_port\":", f), put_int(out, a.dest_port);
  }
  if (!a.proto.empty()) lit_key(out, "\"proto\":", f), put_str(out, a.proto);
  if (a.flow_id) lit_key(out, "\"flow_id\":", f), put_int(out, a.flow_id);
  if (a.icmp_type) lit_key(out, "\"icmp_type\":", f), put_int(out, *a.icmp_type);
  if (a.icmp_code) lit_key(out, "\"icmp_code\":", f), put_int(out, *a.icmp_code);
  if (a.log) {
    lit_key(out, "\"log\":", f);
    bool g = true;
    out += '{';
    lit_key(out, "\"path\":", g), put_str(out, a.log->path);
    lit_key(out, "\"offset\":", g), put_int(out, a.log->offset);
    lit_key(out, "\"line\":", g), put_str(out, a.log->line);
    lit_key(out, "\"format\":", g), put_str(out, a.log->format);
    out += '}';
  }
  if (!a.fields.empty()) {
    lit_key(out, "\"fields\":", f);
    bool g = true;
    out += '{';
    for (const auto& [k, v] : a.fields) put_key(out, k, g), put_str(out, v);
    out += '}';
  }
  lit_key(out, "\"alert\":", f);
  {
    bool g = true;
    out += '{';
    lit_key(out, "\"action\":", g), put_str(out, a.alert.action);
    lit_key(out, "\"gid\":", g), put_int(out, a.alert.gid);
    lit_key(out, "\"signature_id\":", g), put_int(out, a.alert.signature_id);
    lit_key(out, "\"rev\":", g), put_int(out, a.alert.rev);
    lit_key(out, "\"signature\":", g), put_str(out, a.alert.signature);
    lit_key(out, "\"category\":", g), put_str(out, a.alert.category);
    lit_key(out, "\"severity\":", g), put_int(out, a.alert.severity);
    lit_key(out, "\"engine\":", g), put_str(out, a.alert.engine);
    if (!a.alert.rule_id.empty()) lit_key(out, "\"rule_id\":", g), put_str(out, a.alert.rule_id);
    if (!a.alert.tags.empty()) lit_key(out, "\"tags\":", g), put_str_array(out, a.alert.tags);
    if (!a.alert.metadata.empty()) {
      lit_key(out, "\"metadata\":", g);
      bool h = true;
      out += '{';
      for (const auto& [k, vs] : a.alert.metadata) put_key(out, k, h), put_str_array(out, vs);
      out += '}';
    }
    if (!a.alert.references.empty()) lit_key(out, "\"references\":", g), put_str_array(out, a.alert.references);
    out += '}';
  }
  if (!a.payload_printable.empty()) lit_key(out, "\"payload_printable\":", f), put_str(out, a.payload_printable);
  out += '}';
}

namespace {

// Small typed readers that name the JSON path of what is wrong.
struct Reader {
  const json::object& o;
  std::string path;

  const json::value* find(std::string_view key) const {
    auto it = o.find(key);
    return it == o.end() ? nullptr : &it->value();
  }
  Error wrong(std::string_view key, std::string_view want) const {
    return make_error(ErrorCode::parse_error, "alert JSON: " + path + std::string(key) + " must be " + std::string(want));
  }
  std::optional<Error> str(std::string_view key, std::string& out, bool required = false) const {
    const auto* v = find(key);
    if (!v) return required ? std::optional<Error>(wrong(key, "present (string)")) : std::nullopt;
    if (!v->is_string()) return wrong(key, "a string");
    out = std::string(v->get_string());
    return std::nullopt;
  }
  template <class Int>
  std::optional<Error> num(std::string_view key, Int& out, bool required = false) const {
    const auto* v = find(key);
    if (!v) return required ? std::optional<Error>(wrong(key, "present (integer)")) : std::nullopt;
    if (v->is_int64()) {
      auto x = v->get_int64();
      if (x < static_cast<int64_t>(std::numeric_limits<Int>::min()) ||
          (x > 0 && static_cast<uint64_t>(x) > static_cast<uint64_t>(std::numeric_limits<Int>::max())))
        return wrong(key, "an integer in range");
      out = static_cast<Int>(x);
      return std::nullopt;
    }
    if (v->is_uint64()) {
      auto x = v->get_uint64();
      if (x > static_cast<uint64_t>(std::numeric_limits<Int>::max())) return wrong(key, "an integer in range");
      out = static_cast<Int>(x);
      return std::nullopt;
    }
    return wrong(key, "an integer");
  }
  std::optional<Error> strings(std::string_view key, std::vector<std::string>& out) const {
    const auto* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_array()) return wrong(key, "an array of strings");
    for (const auto& e : v->get_array()) {
      if (!e.is_string()) return wrong(key, "an array of strings");
      out.emplace_back(e.get_string());
    }
    return std::nullopt;
  }
};

#define HALONG_TRY(expr)                   \
  do {                                     \
    if (auto e_ = (expr)) return *e_;      \
  } while (0)

}  // namespace

Result<Alert> alert_from_json(const json::value& v) {
  if (!v.is_object()) return make_error(ErrorCode::parse_error, "alert JSON: not an object");
  const auto& o = v.get_object();
  Reader r{o, ""};
  Alert a;
  HALONG_TRY(r.str("id", a.id));
  HALONG_TRY(r.num("seq", a.seq));
  std::string ts;
  HALONG_TRY(r.str("timestamp", ts, true));
  auto t = parse_timestamp(ts);
  if (!t) return make_error(ErrorCode::parse_error, "alert JSON: timestamp: " + t.error().message);
  a.timestamp_us = *t;
  if (const auto* ag = r.find("agent")) {
    if (!ag->is_object()) return r.wrong("agent", "an object");
    Reader ra{ag->get_object(), "agent."};
    HALONG_TRY(ra.str("id", a.agent.id));
    HALONG_TRY(ra.str("hostname", a.agent.hostname));
    HALONG_TRY(ra.str("agency", a.agent.agency));
  }
  HALONG_TRY(r.str("source", a.source));
  HALONG_TRY(r.str("src_ip", a.src_ip));
  HALONG_TRY(r.str("dest_ip", a.dest_ip));
  HALONG_TRY(r.num("src_port", a.src_port));
  HALONG_TRY(r.num("dest_port", a.dest_port));
  HALONG_TRY(r.str("proto", a.proto));
  HALONG_TRY(r.num("flow_id", a.flow_id));
  if (r.find("icmp_type")) {
    int x = 0;
    HALONG_TRY(r.num("icmp_type", x));
    a.icmp_type = x;
  }
  if (r.find("icmp_code")) {
    int x = 0;
    HALONG_TRY(r.num("icmp_code", x));
    a.icmp_code = x;
  }
  if (const auto* lg = r.find("log")) {
    if (!lg->is_object()) return r.wrong("log", "an object");
    Reader rl{lg->get_object(), "log."};
    LogContext lc;
    HALONG_TRY(rl.str("path", lc.path));
    HALONG_TRY(rl.num("offset", lc.offset));
    HALONG_TRY(rl.str("line", lc.line));
    HALONG_TRY(rl.str("format", lc.format));
    a.log = std::move(lc);
  }
  if (const auto* f = r.find("fields")) {
    if (!f->is_object()) return r.wrong("fields", "an object of strings");
    for (const auto& kv : f->get_object()) {
      if (!kv.value().is_string()) return r.wrong("fields", "an object of strings");
      a.fields.emplace(std::string(kv.key()), std::string(kv.value().get_string()));
    }
  }
  const auto* al = r.find("alert");
  if (!al || !al->is_object()) return r.wrong("alert", "an object");
  Reader ra{al->get_object(), "alert."};
  HALONG_TRY(ra.str("action", a.alert.action));
  HALONG_TRY(ra.num("gid", a.alert.gid));
  HALONG_TRY(ra.num("signature_id", a.alert.signature_id, true));
  HALONG_TRY(ra.num("rev", a.alert.rev));
  HALONG_TRY(ra.str("signature", a.alert.signature));
  HALONG_TRY(ra.str("category", a.alert.category));
  HALONG_TRY(ra.num("severity", a.alert.severity));
  HALONG_TRY(ra.str("engine", a.alert.engine));
  HALONG_TRY(ra.str("rule_id", a.alert.rule_id));
  HALONG_TRY(ra.strings("tags", a.alert.tags));
  HALONG_TRY(ra.strings("references", a.alert.references));
  if (const auto* m = ra.find("metadata")) {
    if (!m->is_object()) return ra.wrong("metadata", "an object of string arrays");
    Reader rm{m->get_object(), "alert.metadata."};
    for (const auto& kv : m->get_object()) {
      std::vector<std::string> vs;
      HALONG_TRY(rm.strings(kv.key(), vs));
      a.alert.metadata.emplace(std::string(kv.key()), std::move(vs));
    }
  }
  HALONG_TRY(r.str("payload_printable", a.payload_printable));
  return a;
}

Result<Alert> alert_from_json_string(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) return make_error(ErrorCode::parse_error, "alert JSON: " + ec.message());
  return alert_from_json(v);
}

size_t format_timestamp_into(char* buf, int64_t us) {
  int64_t secs = us / 1'000'000;
  int64_t frac = us % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    secs -= 1;
  }
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  if (!gmtime_r(&tt, &tm)) tm = std::tm{};
  const int year = tm.tm_year + 1900;
  if (year < 0 || year > 9999) {
    // Outside four-digit years (never a real alert): the general, slower formatting.
    int n = std::snprintf(buf, kTimestampMax, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld+0000", year, tm.tm_mon + 1,
                          tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
    return static_cast<size_t>(std::clamp(n, 0, static_cast<int>(kTimestampMax) - 1));
  }
  // Every alert is formatted at least once by the agent and once by the store: digits by
  // hand rather than snprintf (same text: %04d-%02d-%02dT%02d:%02d:%02d.%06lld+0000).
  auto digits = [](char* p, unsigned v, int n) {
    for (int i = n - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
  };
  char* p = buf;
  digits(p, static_cast<unsigned>(year), 4), p += 4, *p++ = '-';
  digits(p, static_cast<unsigned>(tm.tm_mon + 1), 2), p += 2, *p++ = '-';
  digits(p, static_cast<unsigned>(tm.tm_mday), 2), p += 2, *p++ = 'T';
  digits(p, static_cast<unsigned>(tm.tm_hour), 2), p += 2, *p++ = ':';
  digits(p, static_cast<unsigned>(tm.tm_min), 2), p += 2, *p++ = ':';
  digits(p, static_cast<unsigned>(tm.tm_sec), 2), p += 2, *p++ = '.';
  digits(p, static_cast<unsigned>(frac), 6), p += 6;
  std::memcpy(p, "+0000", 5);
  return static_cast<size_t>(p + 5 - buf);
}

std::string format_timestamp(int64_t us) {
  char buf[kTimestampMax];
  return std::string(buf, format_timestamp_into(buf, us));
}

namespace {
bool take_int(std::string_view& s, size_t n, int& out) {
  if (s.size() < n) return false;
  auto r = std::from_chars(s.data(), s.data() + n, out);
  if (r.ec != std::errc() || r.ptr != s.data() + n) return false;
  s.remove_prefix(n);
  return true;
}
bool take_char(std::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}
// days since 1970-01-01 for a civil date (Howard Hinnant's algorithm)
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
}  // namespace

Result<int64_t> parse_timestamp(std::string_view text) {
  auto bad = [&] {
    std::string msg;  // built by append: g++ 12 -O2 misreports operator+ chains here (-Wrestrict)
    msg.append("'").append(text).append("' is not an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM))");
    return make_error(ErrorCode::parse_error, msg);
  };
  std::string_view s = text;
  int Y, M, D, h, m, sec;
  if (!take_int(s, 4, Y) || !take_char(s, '-') || !take_int(s, 2, M) || !take_char(s, '-') || !take_int(s, 2, D))
    return bad();
  if (!take_char(s, 'T') && !take_char(s, 't') && !take_char(s, ' ')) return bad();
  if (!take_int(s, 2, h) || !take_char(s, ':') || !take_int(s, 2, m) || !take_char(s, ':') || !take_int(s, 2, sec))
    return bad();
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return bad();
  int64_t frac_us = 0;
  if (take_char(s, '.')) {
    int digits = 0;
    while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
      if (digits < 6) frac_us = frac_us * 10 + (s.front() - '0');
      ++digits;
      s.remove_prefix(1);
    }
    if (digits == 0) return bad();
    for (int i = digits; i < 6; ++i) frac_us *= 10;
  }
  int64_t offset_s = 0;
  if (take_char(s, 'Z') || take_char(s, 'z')) {
  } else if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    int sign = s.front() == '-' ? -1 : 1;
    s.remove_prefix(1);
    int oh, om;
    if (!take_int(s, 2, oh)) return bad();
    take_char(s, ':');
    if (!take_int(s, 2, om)) return bad();
    offset_s = sign * (oh * 3600 + om * 60);
  } else {
    return bad();
  }
  if (!s.empty()) return bad();
  int64_t days = days_from_civil(Y, static_cast<unsigned>(M), static_cast<unsigned>(D));
  int64_t secs = days * 86400 + h * 3600 + m * 60 + sec - offset_s;
  return secs * 1'000'000 + frac_us;
}

std::string printable_payload(const uint8_t* data, size_t len, size_t cap) {
  std::string out;
  size_t n = len < cap ? len : cap;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    uint8_t c = data[i];
    out.push_back((c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '.');
  }
  return out;
}

}  // namespace halong
