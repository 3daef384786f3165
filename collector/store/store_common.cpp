#include "collector/store/store_common.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

#include <boost/json.hpp>

namespace halong::collector {

namespace json = boost::json;

std::string_view to_string(TriageStatus s) {
  switch (s) {
    case TriageStatus::fresh: return "new";
    case TriageStatus::acknowledged: return "acknowledged";
    case TriageStatus::investigating: return "investigating";
    case TriageStatus::resolved: return "resolved";
    case TriageStatus::false_positive: return "false_positive";
  }
  return "new";
}

std::optional<TriageStatus> parse_triage_status(std::string_view s) {
  if (s == "new") return TriageStatus::fresh;
  if (s == "acknowledged") return TriageStatus::acknowledged;
  if (s == "investigating") return TriageStatus::investigating;
  if (s == "resolved") return TriageStatus::resolved;
  if (s == "false_positive") return TriageStatus::false_positive;
  return std::nullopt;
}

std::optional<StatsField> parse_stats_field(std::string_view s) {
  if (s == "sid") return StatsField::sid;
  if (s == "agent") return StatsField::agent;
  if (s == "agency") return StatsField::agency;
  if (s == "severity") return StatsField::severity;
  if (s == "category") return StatsField::category;
  if (s == "engine") return StatsField::engine;
  if (s == "status") return StatsField::status;
  if (s == "src_ip") return StatsField::src_ip;
  if (s == "dest_ip") return StatsField::dest_ip;
  if (s == "assignee") return StatsField::assignee;
  return std::nullopt;
}

bool Cidr::contains(const std::array<uint8_t, 16>& ip) const {
  int full = prefix / 8;
  if (std::memcmp(ip.data(), addr.data(), static_cast<size_t>(full)) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (ip[static_cast<size_t>(full)] & mask) == (addr[static_cast<size_t>(full)] & mask);
}

std::optional<std::array<uint8_t, 16>> parse_ip16(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string s(text);
  std::array<uint8_t, 16> out{};
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out[10] = 0xFF;
    out[11] = 0xFF;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

Result<Cidr> parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  std::string_view ip = text.substr(0, slash);
  auto a = parse_ip16(ip);
  if (!a) return make_error(ErrorCode::invalid_argument, "not an IP address or network: '" + std::string(text) + "'");
  bool v4 = ip.find(':') == std::string_view::npos;
  int max = v4 ? 32 : 128;
  int prefix = max;
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || prefix < 0 || prefix > max)
      return make_error(ErrorCode::invalid_argument, "bad prefix length in '" + std::string(text) + "'");
  }
  Cidr c;
  c.addr = *a;
  c.prefix = v4 ? prefix + 96 : prefix;
  // Zero the host bits so equal networks compare equal.
  for (int bit = c.prefix; bit < 128; ++bit) c.addr[static_cast<size_t>(bit / 8)] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  return c;
}

namespace {
bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
  return it != hay.end();
}
bool ip_in(const std::optional<Cidr>& net, const std::string& ip) {
  if (!net) return true;
  auto a = parse_ip16(ip);
  return a && net->contains(*a);
}
}  // namespace

bool alert_matches(const AlertQuery& q, const Alert& a, const Triage& t) {
  if (a.timestamp_us < q.from_us || a.timestamp_us >= q.to_us) return false;
  if (q.sid && a.alert.signature_id != *q.sid) return false;
  if (q.agent && a.agent.id != *q.agent) return false;
  if (q.agency && a.agent.agency != *q.agency) return false;
  if (q.scope && std::find(q.scope->begin(), q.scope->end(), a.agent.agency) == q.scope->end()) return false;
  if (q.engine && a.alert.engine != *q.engine) return false;
  if (q.min_severity && a.alert.severity > *q.min_severity) return false;
  if (q.category && a.alert.category != *q.category) return false;
  if (!ip_in(q.src_net, a.src_ip) || !ip_in(q.dest_net, a.dest_ip)) return false;
  if (q.port && a.src_port != *q.port && a.dest_port != *q.port) return false;
  if (q.status && t.status != *q.status) return false;
  if (q.assignee && t.assignee != *q.assignee) return false;
  if (q.incident && t.incident != *q.incident) return false;
  if (q.text && !icontains(a.alert.signature, *q.text)) return false;
  return true;
}

json::object triage_to_json(const Triage& t) {
  json::object o;
  o["status"] = to_string(t.status);
  o["assignee"] = t.assignee;
  json::array cs;
  for (const auto& c : t.comments)
    cs.push_back(json::object{{"author", c.author}, {"time", format_timestamp(c.time_us)}, {"time_us", c.time_us}, {"text", c.text}});
  o["comments"] = std::move(cs);
  o["incident"] = t.incident;
  o["updated_us"] = t.updated_us;
  o["updated_by"] = t.updated_by;
  return o;
}

Result<Triage> triage_from_json(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return make_error(ErrorCode::storage_error, "triage record is not JSON");
  const auto& o = v.as_object();
  Triage t;
  try {
    auto st = parse_triage_status(json::value_to<std::string>(o.at("status")));
    if (!st) return make_error(ErrorCode::storage_error, "triage record has a bad status");
    t.status = *st;
    t.assignee = json::value_to<std::string>(o.at("assignee"));
    for (const auto& c : o.at("comments").as_array()) {
      const auto& co = c.as_object();
      t.comments.push_back({json::value_to<std::string>(co.at("author")), co.at("time_us").to_number<int64_t>(),
                            json::value_to<std::string>(co.at("text"))});
    }
    t.incident = o.at("incident").to_number<uint64_t>();
    t.updated_us = o.at("updated_us").to_number<int64_t>();
    t.updated_by = json::value_to<std::string>(o.at("updated_by"));
  } catch (const std::exception& e) {
    return make_error(ErrorCode::storage_error, std::string("triage record: ") + e.what());
  }
  return t;
}

json::object incident_to_json(const Incident& i) {
  return json::object{{"id", i.id},
                      {"sid", i.sid},
                      {"agent", i.agent},
                      {"agency", i.agency},
                      {"src_ip", i.src_ip},
                      {"signature", i.signature},
                      {"count", i.count},
                      {"first_seen", format_timestamp(i.first_seen_us)},
                      {"last_seen", format_timestamp(i.last_seen_us)},
                      {"first_seen_us", i.first_seen_us},
                      {"last_seen_us", i.last_seen_us},
                      {"status", to_string(i.status)},
                      {"assignee", i.assignee}};
}

Result<Incident> incident_from_json(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return make_error(ErrorCode::storage_error, "incident record is not JSON");
  const auto& o = v.as_object();
  Incident i;
  try {
    i.id = o.at("id").to_number<uint64_t>();
    i.sid = o.at("sid").to_number<uint64_t>();
    i.agent = json::value_to<std::string>(o.at("agent"));
    i.agency = json::value_to<std::string>(o.at("agency"));
    i.src_ip = json::value_to<std::string>(o.at("src_ip"));
    i.signature = json::value_to<std::string>(o.at("signature"));
    i.count = o.at("count").to_number<uint64_t>();
    i.first_seen_us = o.at("first_seen_us").to_number<int64_t>();
    i.last_seen_us = o.at("last_seen_us").to_number<int64_t>();
    auto st = parse_triage_status(json::value_to<std::string>(o.at("status")));
    if (!st) return make_error(ErrorCode::storage_error, "incident record has a bad status");
    i.status = *st;
    i.assignee = json::value_to<std::string>(o.at("assignee"));
  } catch (const std::exception& e) {
    return make_error(ErrorCode::storage_error, std::string("incident record: ") + e.what());
  }
  return i;
}

Result<std::pair<std::string, uint64_t>> split_alert_id(std::string_view id) {
  auto colon = id.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == id.size())
    return make_error(ErrorCode::invalid_argument, "alert id must be '<agent>:<seq>': '" + std::string(id) + "'");
  uint64_t seq = 0;
  std::string_view s = id.substr(colon + 1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), seq);
  if (ec != std::errc() || p != s.data() + s.size())
    return make_error(ErrorCode::invalid_argument, "alert id has a bad sequence number: '" + std::string(id) + "'");
  return std::make_pair(std::string(id.substr(0, colon)), seq);
}

namespace keys {
void put_u16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}
void put_u32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void put_u64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}
uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
void put_time(std::string& out, int64_t us) { put_u64(out, static_cast<uint64_t>(us) ^ (1ULL << 63)); }
int64_t get_time(const char* p) { return static_cast<int64_t>(get_u64(p) ^ (1ULL << 63)); }

std::string alert_key(int64_t time_us, uint32_t agent, uint64_t seq) {
  std::string k(kAlertKeyLen, '\0');
  alert_key_into(k.data(), time_us, agent, seq);
  return k;
}
void alert_key_into(char* out, int64_t time_us, uint32_t agent, uint64_t seq) {
  const uint64_t t = static_cast<uint64_t>(time_us) ^ (1ULL << 63);  // as put_time
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(t >> (8 * (7 - i)));
  for (int i = 0; i < 4; ++i) out[8 + i] = static_cast<char>(agent >> (8 * (3 - i)));
  for (int i = 0; i < 8; ++i) out[12 + i] = static_cast<char>(seq >> (8 * (7 - i)));
}
AlertKey parse_alert_key(std::string_view k) {
  return {get_time(k.data()), get_u32(k.data() + 8), get_u64(k.data() + 12)};
}

std::string encode_cursor(std::string_view key) {
  static const char* hex = "0123456789abcdef";
  std::string s = "c1";
  for (unsigned char c : key) {
    s.push_back(hex[c >> 4]);
    s.push_back(hex[c & 15]);
  }
  return s;
}
Result<std::string> decode_cursor(std::string_view c) {
  auto bad = [&] { return make_error(ErrorCode::invalid_argument, "malformed cursor: '" + std::string(c.substr(0, 64)) + "'"); };
  if (c.size() != 2 + 2 * kAlertKeyLen || c.substr(0, 2) != "c1") return bad();
  std::string out;
  for (size_t i = 2; i < c.size(); i += 2) {
    auto nib = [](char h) -> int {
      if (h >= '0' && h <= '9') return h - '0';
      if (h >= 'a' && h <= 'f') return h - 'a' + 10;
      return -1;
    };
    int hi = nib(c[i]), lo = nib(c[i + 1]);
    if (hi < 0 || lo < 0) return bad();
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}
}  // namespace keys

}  // namespace halong::collector
