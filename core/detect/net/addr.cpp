// Address and port sets of rule headers: interval algebra plus the Suricata expression
// syntax (any, CIDR, ranges, lists, negation, variables).
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <limits>

#include "core/detect/net/rule.hpp"

namespace halong::detect::net {

namespace {

constexpr uint32_t kV4Max = 0xffffffffu;
const u128 kV6Max = ~static_cast<u128>(0);

template <class T>
void merge(std::vector<std::pair<T, T>>& v) {
  if (v.empty()) return;
  std::sort(v.begin(), v.end());
  std::vector<std::pair<T, T>> out;
  out.push_back(v[0]);
  for (size_t i = 1; i < v.size(); ++i) {
    auto& b = out.back();
    if (v[i].first <= b.second || (b.second != std::numeric_limits<T>::max() && v[i].first == b.second + 1)) {
      b.second = std::max(b.second, v[i].second);
    } else {
      out.push_back(v[i]);
    }
  }
  v.swap(out);
}

template <class T>
std::vector<std::pair<T, T>> complement_of(const std::vector<std::pair<T, T>>& v, T maxv) {
  std::vector<std::pair<T, T>> out;
  T next = 0;
  bool done = false;
  for (const auto& [lo, hi] : v) {
    if (lo > next) out.push_back({next, static_cast<T>(lo - 1)});
    if (hi == maxv) {
      done = true;
      break;
    }
    next = static_cast<T>(hi + 1);
  }
  if (!done) out.push_back({next, maxv});
  return out;
}

template <class T>
bool in_intervals(const std::vector<std::pair<T, T>>& v, T x) {
  auto it = std::upper_bound(v.begin(), v.end(), std::make_pair(x, std::numeric_limits<T>::max()));
  if (it == v.begin()) return false;
  --it;
  return x >= it->first && x <= it->second;
}

u128 v6_value(const uint8_t* b) {
  u128 x = 0;
  for (int i = 0; i < 16; ++i) x = (x << 8) | b[i];
  return x;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits "a,[b,c],d" at top-level commas.
Result<std::vector<std::string_view>> split_list(std::string_view s) {
  std::vector<std::string_view> out;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '[') ++depth;
    else if (s[i] == ']') {
      if (--depth < 0) return make_error(ErrorCode::parse_error, "unbalanced ']' in '" + std::string(s) + "'");
    } else if (s[i] == ',' && depth == 0) {
      out.push_back(trim(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  if (depth != 0) return make_error(ErrorCode::parse_error, "unbalanced '[' in '" + std::string(s) + "'");
  out.push_back(trim(s.substr(start)));
  return out;
}

Result<AddrSet> parse_single_addr(std::string_view tok) {
  std::string t(tok);
  AddrSet out;
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::parse_error, "invalid address '" + t + "'" + (why.empty() ? "" : ": " + why));
  };
  // Range a-b
  if (auto dash = t.find('-'); dash != std::string::npos && t.find('/') == std::string::npos) {
    auto a = halong::net::IpAddr::parse(t.substr(0, dash));
    auto b = halong::net::IpAddr::parse(t.substr(dash + 1));
    if (!a || !b || a->version != b->version) return bad("bad range");
    if (a->version == 4) {
      uint32_t x, y;
      std::memcpy(&x, a->bytes.data(), 4);
      std::memcpy(&y, b->bytes.data(), 4);
      x = ntohl(x);
      y = ntohl(y);
      if (x > y) return bad("range start after end");
      out.v4.push_back({x, y});
    } else {
      u128 x = v6_value(a->bytes.data()), y = v6_value(b->bytes.data());
      if (x > y) return bad("range start after end");
      out.v6.push_back({x, y});
    }
    return out;
  }
  std::string ip = t;
  int prefix = -1;
  if (auto slash = t.find('/'); slash != std::string::npos) {
    ip = t.substr(0, slash);
    std::string p = t.substr(slash + 1);
    if (p.find('.') != std::string::npos) {  // netmask form 255.255.0.0
      auto m = halong::net::IpAddr::parse(p);
      if (!m || m->version != 4) return bad("bad netmask");
      uint32_t mask;
      std::memcpy(&mask, m->bytes.data(), 4);
      mask = ntohl(mask);
      prefix = 0;
      while (prefix < 32 && (mask & (0x80000000u >> prefix))) ++prefix;
    } else {
      int v = 0;
      auto r = std::from_chars(p.data(), p.data() + p.size(), v);
      if (r.ec != std::errc() || r.ptr != p.data() + p.size() || p.empty()) return bad("bad prefix length");
      prefix = v;
    }
  }
  auto a = halong::net::IpAddr::parse(ip);
  if (!a) return bad("");
  if (a->version == 4) {
    if (prefix > 32) return bad("prefix longer than 32");
    if (prefix < 0) prefix = 32;
    uint32_t x;
    std::memcpy(&x, a->bytes.data(), 4);
    x = ntohl(x);
    uint32_t mask = prefix == 0 ? 0 : (kV4Max << (32 - prefix));
    out.v4.push_back({x & mask, (x & mask) | ~mask});
  } else {
    if (prefix > 128) return bad("prefix longer than 128");
    if (prefix < 0) prefix = 128;
    u128 x = v6_value(a->bytes.data());
    u128 mask = prefix == 0 ? 0 : (kV6Max << (128 - prefix));
    out.v6.push_back({x & mask, (x & mask) | ~mask});
  }
  return out;
}

Result<PortSet> parse_single_port(std::string_view tok) {
  std::string t(tok);
  auto num = [&](std::string_view s, uint32_t& v) {
    if (s.empty()) return false;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    return r.ec == std::errc() && r.ptr == s.data() + s.size() && v <= 65535;
  };
  PortSet out;
  auto colon = t.find(':');
  if (colon == std::string::npos) {
    uint32_t v;
    if (!num(t, v)) return make_error(ErrorCode::parse_error, "invalid port '" + t + "'");
    out.r.push_back({v, v});
    return out;
  }
  uint32_t lo = 0, hi = 65535;
  std::string_view a = std::string_view(t).substr(0, colon), b = std::string_view(t).substr(colon + 1);
  if (!a.empty() && !num(a, lo)) return make_error(ErrorCode::parse_error, "invalid port range '" + t + "'");
  if (!b.empty() && !num(b, hi)) return make_error(ErrorCode::parse_error, "invalid port range '" + t + "'");
  if (a.empty() && b.empty()) return make_error(ErrorCode::parse_error, "invalid port range '" + t + "'");
  if (lo > hi) return make_error(ErrorCode::parse_error, "port range '" + t + "' starts after its end");
  out.r.push_back({lo, hi});
  return out;
}

}  // namespace

bool AddrSet::contains(const halong::net::IpAddr& a) const {
  if (a.version == 4) {
    uint32_t x;
    std::memcpy(&x, a.bytes.data(), 4);
    return in_intervals(v4, static_cast<uint32_t>(ntohl(x)));
  }
  if (a.version == 6) return in_intervals(v6, v6_value(a.bytes.data()));
  return false;
}

bool AddrSet::is_any() const {
  return v4.size() == 1 && v4[0].first == 0 && v4[0].second == kV4Max && v6.size() == 1 && v6[0].first == 0 &&
         v6[0].second == kV6Max;
}

void AddrSet::normalize() {
  merge(v4);
  merge(v6);
}

AddrSet AddrSet::any() {
  AddrSet a;
  a.v4.push_back({0, kV4Max});
  a.v6.push_back({0, kV6Max});
  return a;
}

AddrSet AddrSet::complement() const {
  AddrSet a;
  a.v4 = complement_of(v4, kV4Max);
  a.v6 = complement_of(v6, kV6Max);
  return a;
}

void AddrSet::add(const AddrSet& o) {
  v4.insert(v4.end(), o.v4.begin(), o.v4.end());
  v6.insert(v6.end(), o.v6.begin(), o.v6.end());
  normalize();
}

AddrSet AddrSet::minus(const AddrSet& o) const {
  // a \ b = !( !a U b )
  AddrSet c = complement();
  c.add(o);
  return c.complement();
}

bool PortSet::contains(uint16_t p) const { return in_intervals(r, static_cast<uint32_t>(p)); }
bool PortSet::is_any() const { return r.size() == 1 && r[0].first == 0 && r[0].second == 65535; }
size_t PortSet::count() const {
  size_t n = 0;
  for (auto& [a, b] : r) n += b - a + 1;
  return n;
}
void PortSet::normalize() { merge(r); }
PortSet PortSet::any() {
  PortSet p;
  p.r.push_back({0, 65535});
  return p;
}
PortSet PortSet::complement() const {
  PortSet p;
  p.r = complement_of(r, 65535u);
  return p;
}

VarResolver::VarResolver(std::map<std::string, std::string> addr, std::map<std::string, std::string> port)
    : addr_(std::move(addr)), port_(std::move(port)) {}

Result<AddrSet> VarResolver::address(std::string_view expr) const { return address_rec(expr, 0); }
Result<PortSet> VarResolver::port(std::string_view expr) const { return port_rec(expr, 0); }

Result<AddrSet> VarResolver::address_rec(std::string_view expr, int depth) const {
  if (depth > 16) return make_error(ErrorCode::parse_error, "address variables nest too deep (loop?)");
  expr = trim(expr);
  if (expr.empty()) return make_error(ErrorCode::parse_error, "empty address");
  if (expr[0] == '!') {
    auto inner = address_rec(expr.substr(1), depth + 1);
    if (!inner) return inner;
    AddrSet c = inner->complement();
    if (c.v4.empty() && c.v6.empty()) return make_error(ErrorCode::parse_error, "address '" + std::string(expr) + "' matches nothing");
    return c;
  }
  if (expr[0] == '[') {
    if (expr.back() != ']') return make_error(ErrorCode::parse_error, "unterminated address list '" + std::string(expr) + "'");
    auto items = split_list(expr.substr(1, expr.size() - 2));
    if (!items) return items.error();
    AddrSet pos, neg;
    bool any_pos = false;
    for (auto item : *items) {
      if (item.empty()) return make_error(ErrorCode::parse_error, "empty item in address list '" + std::string(expr) + "'");
      if (item[0] == '!') {
        auto n = address_rec(item.substr(1), depth + 1);
        if (!n) return n;
        neg.add(*n);
      } else {
        auto p = address_rec(item, depth + 1);
        if (!p) return p;
        pos.add(*p);
        any_pos = true;
      }
    }
    AddrSet base = any_pos ? pos : AddrSet::any();
    AddrSet out = base.minus(neg);
    if (out.v4.empty() && out.v6.empty())
      return make_error(ErrorCode::parse_error, "address list '" + std::string(expr) + "' matches nothing");
    return out;
  }
  if (expr[0] == '$') {
    std::string name(expr.substr(1));
    auto it = addr_.find(name);
    if (it == addr_.end()) return make_error(ErrorCode::parse_error, "undefined address variable '$" + name + "'");
    return address_rec(it->second, depth + 1);
  }
  if (expr == "any") return AddrSet::any();
  auto s = parse_single_addr(expr);
  if (!s) return s;
  s->normalize();
  return s;
}

Result<PortSet> VarResolver::port_rec(std::string_view expr, int depth) const {
  if (depth > 16) return make_error(ErrorCode::parse_error, "port variables nest too deep (loop?)");
  expr = trim(expr);
  if (expr.empty()) return make_error(ErrorCode::parse_error, "empty port");
  if (expr[0] == '!') {
    auto inner = port_rec(expr.substr(1), depth + 1);
    if (!inner) return inner;
    PortSet c = inner->complement();
    if (c.r.empty()) return make_error(ErrorCode::parse_error, "port '" + std::string(expr) + "' matches nothing");
    return c;
  }
  if (expr[0] == '[') {
    if (expr.back() != ']') return make_error(ErrorCode::parse_error, "unterminated port list '" + std::string(expr) + "'");
    auto items = split_list(expr.substr(1, expr.size() - 2));
    if (!items) return items.error();
    PortSet pos, neg;
    bool any_pos = false;
    for (auto item : *items) {
      if (item.empty()) return make_error(ErrorCode::parse_error, "empty item in port list '" + std::string(expr) + "'");
      bool n = item[0] == '!';
      auto p = port_rec(n ? item.substr(1) : item, depth + 1);
      if (!p) return p;
      auto& dst = n ? neg : pos;
      dst.r.insert(dst.r.end(), p->r.begin(), p->r.end());
      any_pos |= !n;
    }
    pos.normalize();
    neg.normalize();
    PortSet base = any_pos ? pos : PortSet::any();
    PortSet out = base.complement();
    out.r.insert(out.r.end(), neg.r.begin(), neg.r.end());
    out.normalize();
    out = out.complement();
    if (out.r.empty()) return make_error(ErrorCode::parse_error, "port list '" + std::string(expr) + "' matches nothing");
    return out;
  }
  if (expr[0] == '$') {
    std::string name(expr.substr(1));
    auto it = port_.find(name);
    if (it == port_.end()) return make_error(ErrorCode::parse_error, "undefined port variable '$" + name + "'");
    return port_rec(it->second, depth + 1);
  }
  if (expr == "any") return PortSet::any();
  return parse_single_port(expr);
}

std::string VarResolver::expand(std::string_view expr, int depth) const {
  std::string out;
  for (size_t i = 0; i < expr.size(); ++i) {
    if (expr[i] != '$' || depth > 16) {
      out.push_back(expr[i]);
      continue;
    }
    size_t j = i + 1;
    while (j < expr.size() && (std::isalnum(static_cast<unsigned char>(expr[j])) || expr[j] == '_')) ++j;
    auto it = addr_.find(std::string(expr.substr(i + 1, j - i - 1)));
    if (it != addr_.end()) out += expand(it->second, depth + 1);
    i = j - 1;
  }
  return out;
}

std::map<std::string, std::string> default_address_vars() {
  // Suricata's stock suricata.yaml (vars.address-groups).
  return {
      {"HOME_NET", "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]"},
      {"EXTERNAL_NET", "!$HOME_NET"},
      {"HTTP_SERVERS", "$HOME_NET"},
      {"SMTP_SERVERS", "$HOME_NET"},
      {"SQL_SERVERS", "$HOME_NET"},
      {"DNS_SERVERS", "$HOME_NET"},
      {"TELNET_SERVERS", "$HOME_NET"},
      {"AIM_SERVERS", "$EXTERNAL_NET"},
      {"DC_SERVERS", "$HOME_NET"},
      {"DNP3_SERVER", "$HOME_NET"},
      {"DNP3_CLIENT", "$HOME_NET"},
      {"MODBUS_CLIENT", "$HOME_NET"},
      {"MODBUS_SERVER", "$HOME_NET"},
      {"ENIP_CLIENT", "$HOME_NET"},
      {"ENIP_SERVER", "$HOME_NET"},
  };
}

std::map<std::string, std::string> default_port_vars() {
  // Suricata's stock suricata.yaml (vars.port-groups).
  return {
      {"HTTP_PORTS", "80"},
      {"SHELLCODE_PORTS", "!80"},
      {"ORACLE_PORTS", "1521"},
      {"SSH_PORTS", "22"},
      {"DNP3_PORTS", "20000"},
      {"MODBUS_PORTS", "502"},
      {"FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"},
      {"FTP_PORTS", "21"},
      {"GENEVE_PORTS", "6081"},
      {"VXLAN_PORTS", "4789"},
      {"TEREDO_PORTS", "3544"},
  };
}

}  // namespace halong::detect::net
