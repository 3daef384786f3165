// Sigma values -> tests: wildcards and escapes, string modifiers, encodings.
#include "core/detect/sigma/values.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>

namespace halong::detect::sigma::detail {

SStr parse_sigma_string(std::string_view s) {
  SStr out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '*' || s[i + 1] == '?' || s[i + 1] == '\\')) {
      out.push_back({Tok::lit, s[i + 1]});
      ++i;
    } else if (c == '*') {
      if (out.empty() || out.back().k != Tok::star) out.push_back({Tok::star, 0});
    } else if (c == '?') {
      out.push_back({Tok::qmark, 0});
    } else {
      out.push_back({Tok::lit, c});
    }
  }
  return out;
}

bool has_wildcards(const SStr& s) {
  for (auto& t : s)
    if (t.k != Tok::lit) return true;
  return false;
}

std::string plain(const SStr& s) {
  std::string out;
  for (auto& t : s) out.push_back(t.c);
  return out;
}

SStr from_plain(std::string_view s) {
  SStr out;
  for (char c : s) out.push_back({Tok::lit, c});
  return out;
}

void add_contains(SStr& s) {
  if (s.empty() || s.front().k != Tok::star) s.insert(s.begin(), {Tok::star, 0});
  if (s.back().k != Tok::star) s.push_back({Tok::star, 0});
}
void add_startswith(SStr& s) {
  if (s.empty() || s.back().k != Tok::star) s.push_back({Tok::star, 0});
}
void add_endswith(SStr& s) {
  if (s.empty() || s.front().k != Tok::star) s.insert(s.begin(), {Tok::star, 0});
}

std::string base64(std::string_view in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::vector<std::string> base64offset(std::string_view v) {
  // pySigma's definition: encode with 0, 1, 2 leading bytes and cut the characters that
  // depend on the unknown neighbours.
  static const size_t start[3] = {0, 2, 3};
  static const int end[3] = {0, -3, -2};  // 0 = keep to the end
  std::vector<std::string> out;
  for (size_t i = 0; i < 3; ++i) {
    std::string in(i, ' ');
    in.append(v);
    std::string enc = base64(in);
    size_t e = enc.size();
    int cut = end[(v.size() + i) % 3];
    if (cut < 0) e = enc.size() >= size_t(-cut) ? enc.size() - size_t(-cut) : 0;
    if (start[i] >= e) continue;
    out.push_back(enc.substr(start[i], e - start[i]));
  }
  return out;
}

// UTF-8 -> code points (invalid bytes pass through as themselves).
static std::vector<uint32_t> code_points(std::string_view s) {
  std::vector<uint32_t> cps;
  for (size_t i = 0; i < s.size();) {
    uint8_t c = uint8_t(s[i]);
    int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n <= 0) {
      cps.push_back(c);
      ++i;
      continue;
    }
    uint32_t cp = n == 1 ? (c & 0x1f) : n == 2 ? (c & 0x0f) : (c & 0x07);
    bool ok = i + size_t(n) < s.size();
    for (int k = 1; ok && k <= n; ++k) {
      uint8_t cc = uint8_t(s[i + size_t(k)]);
      if ((cc & 0xc0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (!ok) {
      cps.push_back(c);
      ++i;
      continue;
    }
    cps.push_back(cp);
    i += size_t(n) + 1;
  }
  return cps;
}

SStr utf16(const SStr& s, bool le, bool bom) {
  SStr out;
  auto put = [&](uint16_t u) {
    char a = char(u & 0xff), b = char(u >> 8);
    if (le) {
      out.push_back({Tok::lit, a});
      out.push_back({Tok::lit, b});
    } else {
      out.push_back({Tok::lit, b});
      out.push_back({Tok::lit, a});
    }
  };
  if (bom) put(0xfeff);
  std::string run;
  auto flush = [&] {
    for (uint32_t cp : code_points(run)) {
      if (cp >= 0x10000) {
        cp -= 0x10000;
        put(uint16_t(0xd800 + (cp >> 10)));
        put(uint16_t(0xdc00 + (cp & 0x3ff)));
      } else {
        put(uint16_t(cp));
      }
    }
    run.clear();
  };
  for (auto& t : s) {
    if (t.k == Tok::lit) {
      run.push_back(t.c);
    } else {
      flush();
      out.push_back(t);
    }
  }
  flush();
  return out;
}

void windash(SStr& s) {
  for (auto& t : s)
    if (t.k == Tok::lit && (t.c == '-' || t.c == '/')) t.k = Tok::dash;
}

std::string to_hs_regex(const SStr& s_in, bool& anchored_start, bool& anchored_end) {
  size_t b = 0, e = s_in.size();
  anchored_start = !(b < e && s_in[b].k == Tok::star);
  if (!anchored_start) ++b;
  anchored_end = !(e > b && s_in[e - 1].k == Tok::star);
  if (!anchored_end) --e;
  std::string out;
  if (anchored_start) out += "\\A";
  for (size_t i = b; i < e; ++i) {
    const auto& t = s_in[i];
    switch (t.k) {
      case Tok::lit: {
        unsigned char c = static_cast<unsigned char>(t.c);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ' ') {
          out.push_back(t.c);
        } else {
          char buf[5];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        }
        break;
      }
      case Tok::star: out += ".*"; break;
      case Tok::qmark: out += "."; break;
      case Tok::dash: out += "(?:-|/|\\xe2\\x80\\x93|\\xe2\\x80\\x94|\\xe2\\x80\\x95)"; break;
    }
  }
  if (anchored_end) out += "\\z";
  return out;
}

bool only_stars(const SStr& s) {
  if (s.empty()) return false;
  for (auto& t : s)
    if (t.k != Tok::star) return false;
  return true;
}

bool parse_number(std::string_view s, double& out) {
  if (s.empty()) return false;
  // from_chars for double is available in g++ 12
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool parse_ip(std::string_view s, bool& v6, std::array<uint8_t, 16>& addr) {
  char buf[64];
  if (s.empty() || s.size() >= sizeof buf) return false;
  // strip brackets ([::1])
  if (s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  s.copy(buf, s.size());
  buf[s.size()] = 0;
  addr.fill(0);
  if (inet_pton(AF_INET, buf, addr.data()) == 1) {
    v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, buf, addr.data()) == 1) {
    v6 = true;
    return true;
  }
  return false;
}

bool parse_cidr(std::string_view s, IpNet& net) {
  auto slash = s.find('/');
  std::string_view a = s.substr(0, slash);
  if (!parse_ip(a, net.v6, net.addr)) return false;
  int max = net.v6 ? 128 : 32;
  net.prefix = max;
  if (slash != std::string_view::npos) {
    auto p = s.substr(slash + 1);
    int v = -1;
    auto r = std::from_chars(p.data(), p.data() + p.size(), v);
    if (r.ec != std::errc() || r.ptr != p.data() + p.size() || v < 0 || v > max) return false;
    net.prefix = v;
  }
  return true;
}

bool in_net(const IpNet& net, bool v6, const std::array<uint8_t, 16>& a) {
  if (v6 != net.v6) return false;
  int bits = net.prefix;
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    uint8_t mask = bits >= 8 ? 0xff : uint8_t(0xff << (8 - bits));
    if ((a[size_t(i)] & mask) != (net.addr[size_t(i)] & mask)) return false;
  }
  return true;
}

}  // namespace halong::detect::sigma::detail
