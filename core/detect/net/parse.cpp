// Rule text -> Rule. Mirrors Suricata's parser checks (content quoting, hex, conflicting
// modifiers, dsize vs content length) so that the rules Suricata rejects are rejected here
// with a message naming the problem; rules with keywords we do not implement are reported
// as unsupported (never half-applied).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cstring>
#include <set>

#include "core/detect/net/rule.hpp"

namespace halong::detect::net {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(trim(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  return out;
}

bool parse_i64(std::string_view s, int64_t& v) {
  s = trim(s);
  if (s.empty()) return false;
  int base = 10;
  bool neg = false;
  if (s[0] == '-') {
    neg = true;
    s.remove_prefix(1);
  } else if (s[0] == '+') {
    s.remove_prefix(1);
  }
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  uint64_t u = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), u, base);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return false;
  if (u > static_cast<uint64_t>(INT64_MAX)) return false;
  v = neg ? -static_cast<int64_t>(u) : static_cast<int64_t>(u);
  return true;
}

bool parse_u64(std::string_view s, uint64_t& v) {
  s = trim(s);
  if (s.empty()) return false;
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  auto r = std::from_chars(s.data(), s.data() + s.size(), v, base);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return (std::tolower(static_cast<unsigned char>(c)) - 'a') + 10;
}

// Keywords we implement. Everything else makes the rule "unsupported" (skipped).
const std::set<std::string, std::less<>>& supported_keywords() {
  static const std::set<std::string, std::less<>> k = {
      "msg", "sid", "gid", "rev", "classtype", "priority", "reference", "metadata", "target", "prefilter",
      "noalert", "content", "nocase", "depth", "offset", "distance", "within", "fast_pattern", "rawbytes",
      "startswith", "endswith", "bsize", "pcre", "dsize", "isdataat", "byte_test", "byte_jump", "byte_extract",
      "flow", "flowbits", "threshold", "detection_filter", "itype", "icode", "ttl", "ip_proto", "flags", "tcp.flags"};
  return k;
}

struct Option {
  std::string_view key;
  std::string_view value;
  bool has_value = false;
};

// Splits "k1:v1; k2; k3:v\;3;" at unescaped ';'.
std::string split_options(std::string_view body, std::vector<Option>& out) {
  size_t i = 0;
  while (true) {
    while (i < body.size() && std::isspace(static_cast<unsigned char>(body[i]))) ++i;
    if (i >= body.size()) return {};
    size_t j = i;
    while (j < body.size() && body[j] != ':' && body[j] != ';') ++j;
    if (j >= body.size()) return "no terminating ';' after option '" + std::string(trim(body.substr(i))) + "'";
    Option o;
    o.key = trim(body.substr(i, j - i));
    if (body[j] == ';') {
      out.push_back(o);
      i = j + 1;
      continue;
    }
    size_t k = j + 1;
    bool esc = false;
    for (; k < body.size(); ++k) {
      if (esc) {
        esc = false;
        continue;
      }
      if (body[k] == '\\') esc = true;
      else if (body[k] == ';') break;
    }
    if (k >= body.size())
      return "no terminating ';' for option '" + std::string(o.key) + "' (value '" +
             std::string(trim(body.substr(j + 1))) + "')";
    o.value = trim(body.substr(j + 1, k - j - 1));
    o.has_value = true;
    out.push_back(o);
    i = k + 1;
  }
}

// Unquotes a "..." value, resolving \" \\ \; \: escapes. Returns false with `err` set.
bool unquote(std::string_view v, std::string& out, std::string& err, const char* kw) {
  v = trim(v);
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') {
    err = std::string("invalid formatting to ") + kw + " keyword: value must be double quoted '" + std::string(v) + "'";
    return false;
  }
  std::string_view in = v.substr(1, v.size() - 2);
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '\\' && i + 1 < in.size()) {
      out.push_back(in[++i]);
    } else if (c == '"') {
      err = std::string("invalid unescaped double quote within ") + kw + " value";
      return false;
    } else {
      out.push_back(c);
    }
  }
  return true;
}

// content:"..." value (after an optional '!'): quotes, escapes and |hex| parts.
bool parse_content_bytes(std::string_view v, std::string& out, std::string& err) {
  v = trim(v);
  if (v.empty() || v.front() != '"') {
    err = "invalid formatting to content keyword: value must be double quoted 'content'";
    return false;
  }
  if (v.size() < 2 || v.back() != '"') {
    err = "bad option value formatting (possible missing semicolon) for keyword content: '" + std::string(v) + "'";
    return false;
  }
  std::string_view in = v.substr(1, v.size() - 2);
  // Unescaped quote inside: either a missing ';' (text after a closing quote) or a stray quote.
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\\') {
      ++i;
      continue;
    }
    if (in[i] == '"') {
      std::string_view rest = trim(in.substr(i + 1));
      if (!rest.empty() && rest.find(':') != std::string_view::npos && rest.find('"') == std::string_view::npos) {
        err = "bad option value formatting (possible missing semicolon) for keyword content: '" + std::string(v) + "'";
      } else {
        err = "Invalid unescaped double quote within content section.";
      }
      return false;
    }
  }
  out.clear();
  bool hex = false;
  size_t hex_start = 0;
  int nib = -1;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (hex) {
      if (c == '|') {
        if (nib >= 0) {
          err = "Incomplete hex code in content - |" + std::string(in.substr(hex_start, i - hex_start)) +
                "|. Invalidating signature.";
          return false;
        }
        hex = false;
      } else if (c == ' ' || c == '\t') {
        if (nib >= 0) {
          size_t end = in.find('|', i);
          err = "Incomplete hex code in content - |" +
                std::string(in.substr(hex_start, end == std::string_view::npos ? std::string_view::npos : end - hex_start)) +
                "|. Invalidating signature.";
          return false;
        }
      } else if (is_hex(c)) {
        if (nib < 0) nib = hexval(c);
        else {
          out.push_back(static_cast<char>(nib * 16 + hexval(c)));
          nib = -1;
        }
      } else {
        size_t end = in.find('|', i);
        err = "Invalid hex code in content - |" +
              std::string(in.substr(hex_start, end == std::string_view::npos ? std::string_view::npos : end - hex_start)) +
              "|, hex " + std::string(1, c) + ". Invalidating signature.";
        return false;
      }
      continue;
    }
    if (c == '|') {
      hex = true;
      hex_start = i + 1;
      nib = -1;
    } else if (c == '\\') {
      if (i + 1 >= in.size()) {
        err = "content ends with a lone '\\'";
        return false;
      }
      char n = in[++i];
      if (n != '\\' && n != '"' && n != ';' && n != ':' && n != '|') {
        err = std::string("invalid escape '\\") + n + "' in content (only \\\\ \\\" \\; \\: \\| are allowed)";
        return false;
      }
      out.push_back(n);
    } else {
      out.push_back(c);
    }
  }
  if (hex) {
    err = "Invalid hex code assembly in content - |" + std::string(in.substr(hex_start)) + ".  Invalidating signature.";
    return false;
  }
  if (out.empty()) {
    err = "content is empty";
    return false;
  }
  return true;
}

bool parse_track(std::string_view v, Track& t) {
  if (v == "by_src") t = Track::by_src;
  else if (v == "by_dst") t = Track::by_dst;
  else if (v == "by_rule") t = Track::by_rule;
  else if (v == "by_both") t = Track::by_both;
  else return false;
  return true;
}

}  // namespace

bool NumCmp::test(int64_t x) const {
  switch (op) {
    case eq: return x == a;
    case ne: return x != a;
    case lt: return x < a;
    case gt: return x > a;
    case le: return x <= a;
    case ge: return x >= a;
    case range: return x > a && x < b;
  }
  return false;
}

int64_t NumCmp::max_value() const {
  switch (op) {
    case eq: return a;
    case lt: return a;
    case le: return a;
    case range: return b;
    default: return INT64_MAX;
  }
}

Result<NumCmp> parse_numcmp(std::string_view s0) {
  std::string s;
  for (char c : s0)
    if (!std::isspace(static_cast<unsigned char>(c))) s.push_back(c);
  NumCmp n;
  auto bad = [&] { return make_error(ErrorCode::parse_error, "invalid number expression '" + std::string(s0) + "'"); };
  if (s.empty()) return bad();
  auto rng = s.find("<>");
  if (rng != std::string::npos) {
    if (!parse_i64(std::string_view(s).substr(0, rng), n.a) || !parse_i64(std::string_view(s).substr(rng + 2), n.b))
      return bad();
    if (n.a >= n.b) return make_error(ErrorCode::parse_error, "range '" + s + "': first value must be smaller than the second");
    n.op = NumCmp::range;
    return n;
  }
  std::string_view v = s;
  if (v.starts_with("<=")) n.op = NumCmp::le, v.remove_prefix(2);
  else if (v.starts_with(">=")) n.op = NumCmp::ge, v.remove_prefix(2);
  else if (v.starts_with("!=")) n.op = NumCmp::ne, v.remove_prefix(2);
  else if (v.starts_with("<")) n.op = NumCmp::lt, v.remove_prefix(1);
  else if (v.starts_with(">")) n.op = NumCmp::gt, v.remove_prefix(1);
  else if (v.starts_with("!")) n.op = NumCmp::ne, v.remove_prefix(1);
  else if (v.starts_with("=")) v.remove_prefix(1);
  else if (auto d = v.find('-'); d != std::string_view::npos && d > 0) {
    // "A-B" inclusive range (Suricata integer keywords): A <= x <= B
    if (!parse_i64(v.substr(0, d), n.a) || !parse_i64(v.substr(d + 1), n.b)) return bad();
    if (n.a > n.b) return bad();
    n.op = NumCmp::range;
    n.a -= 1;
    n.b += 1;
    return n;
  }
  if (!parse_i64(v, n.a) || n.a < 0) return bad();
  return n;
}

namespace {

struct Parser {
  const ParseContext& ctx;
  Rule& r;
  std::string err;
  std::map<std::string, int8_t> vars;  // byte_extract names
  int last_content = -1;               // index into r.contents of the last content
  bool has_sid = false;

  BufferList& payload() {
    if (r.buffers.empty()) r.buffers.push_back(BufferList{});
    return r.buffers[0];
  }
  void push_sm(Sm::Kind k, size_t idx) { payload().sms.push_back(Sm{k, idx}); }

  bool fail(std::string m) {
    err = std::move(m);
    return false;
  }

  // A number or a byte_extract variable.
  bool var_num(std::string_view v, VarNum& out, const char* kw) {
    v = trim(v);
    int64_t x;
    if (parse_i64(v, x)) {
      if (x < INT32_MIN || x > INT32_MAX) return fail(std::string(kw) + " value out of range: '" + std::string(v) + "'");
      out.value = static_cast<int32_t>(x);
      return true;
    }
    auto it = vars.find(std::string(v));
    if (it == vars.end()) return fail(std::string(kw) + ": '" + std::string(v) + "' is neither a number nor a byte_extract variable");
    out.var = it->second;
    return true;
  }

  ContentSm* cur_content(const char* kw) {
    if (last_content < 0) {
      fail(std::string(kw) + " needs preceding content option");
      return nullptr;
    }
    return &r.contents[static_cast<size_t>(last_content)];
  }

  bool content_modifier(std::string_view key, std::string_view value, bool has_value) {
    const std::string kw(key);
    ContentSm* c = cur_content(kw.c_str());
    if (!c) return false;
    auto absolute_conflict = [&] {
      return fail("can't use a relative keyword like within/distance with a absolute relative keyword like depth/offset for the same content.");
    };
    if (key == "nocase") {
      if (c->nocase) return fail("can't use multiple nocase modifiers with the same content");
      c->nocase = true;
      return true;
    }
    if (key == "rawbytes") {
      c->rawbytes = true;
      return true;
    }
    if (key == "startswith") {
      if (c->has_depth || c->has_offset || c->has_distance || c->has_within)
        return fail("startswith can't be used with depth, offset, distance or within");
      c->startswith = true;
      return true;
    }
    if (key == "endswith") {
      c->endswith = true;
      return true;
    }
    if (key == "fast_pattern") {
      if (c->fast_pattern) return fail("can't use multiple fast_pattern for the same content");
      for (auto& o : r.contents)
        if (o.fast_pattern) return fail("fast_pattern set on more than one content of the same buffer");
      c->fast_pattern = true;
      if (has_value) {
        if (value == "only") {
          c->fp_only = true;
        } else {
          auto parts = split(value, ',');
          int64_t o, l;
          if (parts.size() != 2 || !parse_i64(parts[0], o) || !parse_i64(parts[1], l) || o < 0 || l <= 0)
            return fail("invalid fast_pattern option '" + std::string(value) + "' (expected only or offset,length)");
          if (static_cast<size_t>(o + l) > c->bytes.size())
            return fail("fast_pattern offset,length " + std::string(value) + " exceeds the content length " +
                        std::to_string(c->bytes.size()));
          c->fp_chop_off = static_cast<int>(o);
          c->fp_chop_len = static_cast<int>(l);
        }
      }
      return true;
    }
    if (!has_value) return fail(kw + " needs a value");
    if (c->startswith) return fail(kw + " can't be used with startswith");
    if (key == "depth") {
      if (c->has_depth) return fail("can't use multiple depths for the same content.");
      if (c->relative()) return absolute_conflict();
      if (!var_num(value, c->depth, "depth")) return false;
      if (c->depth.var < 0 && c->depth.value < static_cast<int32_t>(c->bytes.size()))
        return fail("depth " + std::to_string(c->depth.value) + " is smaller than the content length " +
                    std::to_string(c->bytes.size()) + ": the content can never match");
      c->has_depth = true;
      return true;
    }
    if (key == "offset") {
      if (c->has_offset) return fail("can't use multiple offsets for the same content.");
      if (c->relative()) return absolute_conflict();
      if (!var_num(value, c->offset, "offset")) return false;
      c->has_offset = true;
      return true;
    }
    if (key == "distance") {
      if (c->has_distance) return fail("can't use multiple distances for the same content.");
      if (c->has_depth || c->has_offset) return absolute_conflict();
      if (!var_num(value, c->distance, "distance")) return false;
      c->has_distance = true;
      return true;
    }
    if (key == "within") {
      if (c->has_within) return fail("can't use multiple withins for the same content.");
      if (c->has_depth || c->has_offset) return absolute_conflict();
      if (!var_num(value, c->within, "within")) return false;
      if (c->within.var < 0 && c->within.value < static_cast<int32_t>(c->bytes.size()))
        return fail("within argument \"" + std::to_string(c->within.value) + "\" is less than the content length \"" +
                    std::to_string(c->bytes.size()) + "\" which is invalid, since this will never match");
      c->has_within = true;
      return true;
    }
    return fail("internal: unhandled content modifier " + kw);
  }

  bool parse_byte_opts(std::vector<std::string_view>& parts, size_t from, ByteOpts& o, const char* kw,
                       uint32_t* multiplier, int32_t* post_offset, ByteJumpSm* bj, uint32_t* align_n) {
    for (size_t i = from; i < parts.size(); ++i) {
      std::string_view p = parts[i];
      if (p == "relative") o.relative = true;
      else if (p == "big") o.endian = Endian::big;
      else if (p == "little") o.endian = Endian::little;
      else if (p == "string") o.string = true;
      else if (p == "hex") o.base = 16;
      else if (p == "dec") o.base = 10;
      else if (p == "oct") o.base = 8;
      else if (p == "dce") return fail(std::string(kw) + ": 'dce' needs the DCERPC parser (unsupported)");
      else if (p.starts_with("bitmask")) {
        uint64_t m;
        if (!parse_u64(p.substr(7), m) || m == 0) return fail(std::string(kw) + ": invalid bitmask '" + std::string(p) + "'");
        o.bitmask = m;
        o.has_bitmask = true;
      } else if (p.starts_with("multiplier") && multiplier) {
        uint64_t m;
        if (!parse_u64(p.substr(10), m) || m == 0 || m > 65535)
          return fail(std::string(kw) + ": invalid multiplier '" + std::string(p) + "'");
        *multiplier = static_cast<uint32_t>(m);
      } else if (p.starts_with("post_offset") && post_offset) {
        int64_t m;
        if (!parse_i64(p.substr(11), m) || m < INT32_MIN || m > INT32_MAX)
          return fail(std::string(kw) + ": invalid post_offset '" + std::string(p) + "'");
        *post_offset = static_cast<int32_t>(m);
      } else if (bj && p == "align") bj->align = true;
      else if (bj && p == "from_beginning") bj->from_beginning = true;
      else if (bj && p == "from_end") bj->from_end = true;
      else if (align_n && p.starts_with("align")) {
        uint64_t m;
        if (!parse_u64(p.substr(5), m) || (m != 2 && m != 4))
          return fail(std::string(kw) + ": align must be 2 or 4, got '" + std::string(p) + "'");
        *align_n = static_cast<uint32_t>(m);
      } else {
        return fail(std::string(kw) + ": unknown option '" + std::string(p) + "'");
      }
    }
    if (o.string) {
      if (o.nbytes == 0 || o.nbytes > 23) return fail(std::string(kw) + ": string conversion needs 1..23 bytes");
    } else {
      if (o.nbytes != 1 && o.nbytes != 2 && o.nbytes != 3 && o.nbytes != 4 && o.nbytes != 8 && !(o.nbytes >= 1 && o.nbytes <= 8))
        return fail(std::string(kw) + ": number of bytes must be 1..8");
    }
    return true;
  }

  bool parse_nbytes(std::string_view v, uint32_t& n, const char* kw) {
    uint64_t x;
    if (!parse_u64(v, x) || x == 0 || x > 23) return fail(std::string(kw) + ": invalid number of bytes '" + std::string(v) + "'");
    n = static_cast<uint32_t>(x);
    return true;
  }

  bool offset_or_var(std::string_view v, int32_t& off, int8_t& var, const char* kw) {
    VarNum vn;
    if (!var_num(v, vn, kw)) return false;
    off = vn.value;
    var = vn.var;
    return true;
  }

  bool keyword(const Option& o) {
    const std::string_view k = o.key;
    const std::string_view v = o.value;
    auto need_value = [&]() {
      if (!o.has_value || v.empty()) return fail(std::string(k) + " needs a value");
      return true;
    };
    if (k == "msg") {
      if (!need_value()) return false;
      std::string s;
      if (!unquote(v, s, err, "msg")) return false;
      r.meta.msg = s;
      return true;
    }
    if (k == "sid" || k == "gid" || k == "rev" || k == "priority") {
      if (!need_value()) return false;
      uint64_t x;
      if (!parse_u64(v, x)) return fail("invalid " + std::string(k) + " value '" + std::string(v) + "'");
      if (k == "sid") {
        if (x == 0) return fail("sid must be greater than 0");
        r.meta.sid = x;
        has_sid = true;
      } else if (k == "gid") r.meta.gid = static_cast<uint32_t>(x);
      else if (k == "rev") r.meta.rev = static_cast<uint32_t>(x);
      else {
        if (x < 1 || x > 255) return fail("priority must be 1..255, got " + std::string(v));
        r.meta.priority = static_cast<int>(x);
        r.priority_rank = -1;  // marks "explicit priority" (resolved in finish())
      }
      return true;
    }
    if (k == "classtype") {
      if (!need_value()) return false;
      std::string name(v);
      auto it = ctx.classes->find(name);
      if (it == ctx.classes->end()) return fail("unknown classtype '" + name + "' (not in classification.config)");
      r.meta.classtype = name;
      r.meta.category = it->second.first;
      if (r.priority_rank != -1) r.meta.priority = it->second.second;
      return true;
    }
    if (k == "reference") {
      if (!need_value()) return false;
      r.meta.references.emplace_back(v);
      return true;
    }
    if (k == "metadata") {
      if (!need_value()) return false;
      for (auto e : split(v, ','))
        if (!e.empty()) r.meta.metadata.emplace_back(e);
      return true;
    }
    if (k == "target") {
      if (v != "src_ip" && v != "dest_ip") return fail("target must be src_ip or dest_ip");
      return true;
    }
    if (k == "prefilter") return true;
    if (k == "noalert") {
      r.meta.noalert = true;
      return true;
    }
    if (k == "content") {
      if (!need_value()) return false;
      ContentSm c;
      std::string_view cv = v;
      if (!cv.empty() && cv[0] == '!') {
        c.negated = true;
        cv = trim(cv.substr(1));
      }
      if (!parse_content_bytes(cv, c.bytes, err)) return false;
      r.contents.push_back(std::move(c));
      last_content = static_cast<int>(r.contents.size() - 1);
      push_sm(Sm::content, r.contents.size() - 1);
      return true;
    }
    if (k == "nocase" || k == "depth" || k == "offset" || k == "distance" || k == "within" || k == "fast_pattern" ||
        k == "rawbytes" || k == "startswith" || k == "endswith") {
      if ((k == "nocase" || k == "rawbytes" || k == "startswith" || k == "endswith") && o.has_value)
        return fail(std::string(k) + " takes no value");
      return content_modifier(k, v, o.has_value);
    }
    if (k == "bsize") {
      if (!need_value()) return false;
      auto n = parse_numcmp(v);
      if (!n) return fail("bsize: " + n.error().message);
      r.bsizes.push_back(BsizeSm{*n});
      push_sm(Sm::bsize, r.bsizes.size() - 1);
      return true;
    }
    if (k == "pcre") {
      if (!need_value()) return false;
      PcreSm p;
      std::string_view pv = v;
      if (!pv.empty() && pv[0] == '!') {
        p.negated = true;
        pv = trim(pv.substr(1));
      }
      if (pv.size() < 2 || pv.front() != '"' || pv.back() != '"') return fail("pcre value must be double quoted: " + std::string(v));
      pv = pv.substr(1, pv.size() - 2);
      if (pv.empty() || pv[0] != '/') return fail("pcre must start with '/': " + std::string(v));
      size_t last = pv.rfind('/');
      if (last == 0) return fail("pcre has no closing '/': " + std::string(v));
      p.source = std::string(pv.substr(1, last - 1));
      p.flags_text = std::string(pv.substr(last + 1));
      uint32_t opts = 0;
      for (char f : p.flags_text) {
        switch (f) {
          case 'i': opts |= PCRE2_CASELESS; break;
          case 's': opts |= PCRE2_DOTALL; break;
          case 'm': opts |= PCRE2_MULTILINE; break;
          case 'x': opts |= PCRE2_EXTENDED; break;
          case 'A': opts |= PCRE2_ANCHORED; break;
          case 'E': opts |= PCRE2_DOLLAR_ENDONLY; break;
          case 'G': opts |= PCRE2_UNGREEDY; break;
          case 'R': p.relative = true; break;
          case 'B': case 'O': break;
          default: return fail(std::string("pcre: unknown modifier '") + f + "'");
        }
      }
      p.options = opts;
      int ec = 0;
      PCRE2_SIZE eo = 0;
      pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.source.data()), p.source.size(), opts, &ec, &eo, nullptr);
      if (!code) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(ec, buf, sizeof buf);
        return fail("pcre compile error at offset " + std::to_string(eo) + ": " + reinterpret_cast<char*>(buf) + " in /" +
                    p.source + "/");
      }
      pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is unavailable
      p.code = std::shared_ptr<pcre2_code>(code, &pcre2_code_free);
      r.pcres.push_back(std::move(p));
      push_sm(Sm::pcre, r.pcres.size() - 1);
      return true;
    }
    if (k == "dsize" || k == "itype" || k == "icode" || k == "ttl") {
      if (!need_value()) return false;
      auto n = parse_numcmp(v);
      if (!n) return fail(std::string(k) + ": " + n.error().message);
      auto& slot = k == "dsize" ? r.dsize : k == "itype" ? r.itype : k == "icode" ? r.icode : r.ttl;
      if (slot) return fail("can't use multiple " + std::string(k) + " in one rule");
      if (k == "dsize" && n->max_value() != INT64_MAX && n->max_value() > 65535) return fail("dsize value too large");
      slot = *n;
      return true;
    }
    if (k == "ip_proto") {
      if (!need_value()) return false;
      std::string s(v);
      static const std::map<std::string, int> names = {{"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"ipv6-icmp", 58}, {"icmpv6", 58},
                                                       {"gre", 47}, {"sctp", 132}, {"esp", 50}, {"ah", 51}, {"igmp", 2}};
      std::string prefix;
      while (!s.empty() && (s[0] == '!' || s[0] == '<' || s[0] == '>' || s[0] == '=')) {
        prefix.push_back(s[0]);
        s.erase(0, 1);
      }
      std::string lower = s;
      for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (auto it = names.find(lower); it != names.end()) s = std::to_string(it->second);
      auto n = parse_numcmp(prefix + s);
      if (!n || (n->op != NumCmp::range && n->a > 255)) return fail("ip_proto: invalid value '" + std::string(v) + "'");
      r.ip_proto = *n;
      return true;
    }
    if (k == "flags" || k == "tcp.flags") {
      if (!need_value()) return false;
      if (r.tcp_flags) return fail("can't use multiple flags keywords in one rule");
      Rule::TcpFlags f;
      std::string_view fv = v;
      auto comma = fv.find(',');
      std::string_view test = trim(fv.substr(0, comma)), ign = comma == std::string_view::npos ? "" : trim(fv.substr(comma + 1));
      if (!test.empty() && (test[0] == '+' || test[0] == '*' || test[0] == '!' || test[0] == '-' || test[0] == '=')) {
        f.modifier = test[0] == '-' ? '!' : test[0];
        test.remove_prefix(1);
      }
      auto bits = [&](std::string_view s, uint8_t& out, bool allow_zero) {
        for (char ch : s) {
          switch (std::toupper(static_cast<unsigned char>(ch))) {
            case 'F': out |= 0x01; break;
            case 'S': out |= 0x02; break;
            case 'R': out |= 0x04; break;
            case 'P': out |= 0x08; break;
            case 'A': out |= 0x10; break;
            case 'U': out |= 0x20; break;
            case 'E': case '2': out |= 0x40; break;
            case 'C': case '1': out |= 0x80; break;
            case '0': if (allow_zero) break; return false;
            case ' ': break;
            default: return false;
          }
        }
        return true;
      };
      if (test.empty() || !bits(test, f.test, true) || !bits(ign, f.ignore, false))
        return fail(std::string(k) + ": invalid flags '" + std::string(v) + "' (letters FSRPAUCE or 0, optional modifier + * ! and ,mask)");
      if ((test.find('0') != std::string_view::npos && f.test != 0))
        return fail(std::string(k) + ": '0' (no flags) can't be combined with other flags");
      r.tcp_flags = f;
      return true;
    }
    if (k == "isdataat") {
      if (!need_value()) return false;
      IsDataAtSm s;
      auto parts = split(v, ',');
      std::string_view first = parts[0];
      if (!first.empty() && first[0] == '!') {
        s.negated = true;
        first = trim(first.substr(1));
      }
      if (!var_num(first, s.at, "isdataat")) return false;
      if (s.at.var < 0 && s.at.value < 0) return fail("isdataat: negative value");
      for (size_t i = 1; i < parts.size(); ++i) {
        if (parts[i] == "relative") s.relative = true;
        else if (parts[i] == "rawbytes") {}
        else return fail("isdataat: unknown option '" + std::string(parts[i]) + "'");
      }
      r.isdataats.push_back(s);
      push_sm(Sm::isdataat, r.isdataats.size() - 1);
      return true;
    }
    if (k == "byte_test") {
      if (!need_value()) return false;
      auto parts = split(v, ',');
      if (parts.size() < 4) return fail("byte_test needs at least 4 arguments: bytes, operator, value, offset");
      ByteTestSm b;
      if (!parse_nbytes(parts[0], b.o.nbytes, "byte_test")) return false;
      std::string_view op = parts[1];
      if (!op.empty() && op[0] == '!') {
        b.negated = true;
        op = trim(op.substr(1));
      }
      if (op == "<") b.op = '<';
      else if (op == ">") b.op = '>';
      else if (op == "=") b.op = '=';
      else if (op == "&") b.op = '&';
      else if (op == "^") b.op = '^';
      else if (op == "<=") b.op = 'l';
      else if (op == ">=") b.op = 'g';
      else if (op.empty() && b.negated) b.op = '=';
      else return fail("byte_test: invalid operator '" + std::string(parts[1]) + "'");
      uint64_t val;
      if (parse_u64(parts[2], val)) b.value = val;
      else {
        auto it = vars.find(std::string(parts[2]));
        if (it == vars.end()) return fail("byte_test: invalid value '" + std::string(parts[2]) + "'");
        b.value_var = it->second;
      }
      if (!offset_or_var(parts[3], b.o.offset, b.o.offset_var, "byte_test")) return false;
      if (!parse_byte_opts(parts, 4, b.o, "byte_test", nullptr, nullptr, nullptr, nullptr)) return false;
      r.byte_tests.push_back(b);
      push_sm(Sm::byte_test, r.byte_tests.size() - 1);
      return true;
    }
    if (k == "byte_jump") {
      if (!need_value()) return false;
      auto parts = split(v, ',');
      if (parts.size() < 2) return fail("byte_jump needs at least 2 arguments: bytes, offset");
      ByteJumpSm b;
      if (!parse_nbytes(parts[0], b.o.nbytes, "byte_jump")) return false;
      if (!offset_or_var(parts[1], b.o.offset, b.o.offset_var, "byte_jump")) return false;
      if (!parse_byte_opts(parts, 2, b.o, "byte_jump", &b.multiplier, &b.post_offset, &b, nullptr)) return false;
      if (b.from_beginning && b.from_end) return fail("byte_jump: from_beginning and from_end can't be combined");
      r.byte_jumps.push_back(b);
      push_sm(Sm::byte_jump, r.byte_jumps.size() - 1);
      return true;
    }
    if (k == "byte_extract") {
      if (!need_value()) return false;
      auto parts = split(v, ',');
      if (parts.size() < 3) return fail("byte_extract needs at least 3 arguments: bytes, offset, name");
      ByteExtractSm b;
      if (!parse_nbytes(parts[0], b.o.nbytes, "byte_extract")) return false;
      int64_t off;
      if (!parse_i64(parts[1], off) || off < INT32_MIN || off > INT32_MAX)
        return fail("byte_extract: invalid offset '" + std::string(parts[1]) + "'");
      b.o.offset = static_cast<int32_t>(off);
      std::string name(parts[2]);
      if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return fail("byte_extract: invalid variable name '" + name + "'");
      if (vars.count(name)) return fail("byte_extract: variable '" + name + "' defined twice");
      if (vars.size() >= 32) return fail("byte_extract: too many variables");
      if (!parse_byte_opts(parts, 3, b.o, "byte_extract", &b.multiplier, nullptr, nullptr, &b.align)) return false;
      b.index = static_cast<int8_t>(vars.size());
      vars[name] = b.index;
      r.n_vars = static_cast<int>(vars.size());
      r.byte_extracts.push_back(b);
      push_sm(Sm::byte_extract, r.byte_extracts.size() - 1);
      return true;
    }
    if (k == "flow") {
      if (!need_value()) return false;
      if (r.has_flow) return fail("can't use multiple flow keywords in one rule");
      r.has_flow = true;
      for (auto p : split(v, ',')) {
        if (p == "established") r.flow_established = true;
        else if (p == "not_established") r.flow_not_established = true;
        else if (p == "stateless") r.flow_stateless = true;
        else if (p == "to_server" || p == "from_client") r.flow_to_server = true;
        else if (p == "to_client" || p == "from_server") r.flow_to_client = true;
        else if (p == "only_stream") r.flow_only_stream = true;
        else if (p == "no_stream") r.flow_no_stream = true;
        else return fail("flow: unknown option '" + std::string(p) + "'");
      }
      if (r.flow_to_server && r.flow_to_client) return fail("flow: to_server and to_client can't both be set");
      if (r.flow_established && (r.flow_not_established || r.flow_stateless))
        return fail("flow: established conflicts with not_established/stateless");
      if (r.flow_only_stream && r.flow_no_stream) return fail("flow: only_stream and no_stream can't both be set");
      return true;
    }
    if (k == "flowbits") {
      if (!need_value()) return false;
      auto parts = split(v, ',');
      if (parts.size() == 1 && parts[0] == "noalert") {
        r.meta.noalert = true;
        return true;
      }
      if (parts.size() != 2 || parts[1].empty()) return fail("flowbits: expected 'command,name', got '" + std::string(v) + "'");
      FlowbitSm f;
      std::string_view cmd = parts[0];
      if (cmd == "set") f.cmd = FlowbitCmd::set;
      else if (cmd == "unset") f.cmd = FlowbitCmd::unset;
      else if (cmd == "toggle") f.cmd = FlowbitCmd::toggle;
      else if (cmd == "isset") f.cmd = FlowbitCmd::isset;
      else if (cmd == "isnotset") f.cmd = FlowbitCmd::isnotset;
      else return fail("flowbits: unknown command '" + std::string(cmd) + "'");
      std::string_view names = parts[1];
      char sep = 0;
      if (names.find('|') != std::string_view::npos) sep = '|';
      if (names.find('&') != std::string_view::npos) {
        if (sep) return fail("flowbits: can't mix '|' and '&'");
        sep = '&';
      }
      if (sep && f.cmd != FlowbitCmd::isset && f.cmd != FlowbitCmd::isnotset)
        return fail("flowbits: '|' and '&' only work with isset/isnotset");
      f.any_of = sep == '|';
      for (auto n : sep ? split(names, sep) : std::vector<std::string_view>{names}) {
        if (n.empty()) return fail("flowbits: empty name in '" + std::string(names) + "'");
        std::string nm(n);
        auto& ids = *ctx.flowbit_ids;
        auto it = ids.find(nm);
        uint32_t id;
        if (it != ids.end()) {
          id = it->second;
        } else {
          // Ids derive from the name so they keep their meaning across a ruleset reload
          // (flows carry ids from the previous ruleset); a collision probes onwards.
          uint32_t h = 2166136261u;
          for (unsigned char ch : nm) h = (h ^ ch) * 16777619u;
          id = kReservedFlowbits + h % (0xffffffffu - kReservedFlowbits - 1024);
          auto used = [&](uint32_t x) {
            for (auto& [n2, v] : ids)
              if (v == x) return true;
            return false;
          };
          while (used(id)) ++id;
          ids[nm] = id;
        }
        f.ids.push_back(id);
      }
      if (f.cmd == FlowbitCmd::isset || f.cmd == FlowbitCmd::isnotset) r.reads_flowbits = true;
      else r.sets_flowbits = true;
      r.flowbits.push_back(std::move(f));
      return true;
    }
    if (k == "threshold" || k == "detection_filter") {
      if (!need_value()) return false;
      if (r.threshold) return fail("can't use multiple threshold/detection_filter keywords in one rule");
      ThresholdSpec t;
      t.type = k == "detection_filter" ? ThresholdSpec::detection_filter : ThresholdSpec::limit;
      bool have_type = k == "detection_filter", have_track = false, have_count = false, have_seconds = false;
      for (auto p : split(v, ',')) {
        auto sp = p.find_first_of(" \t");
        if (sp == std::string_view::npos) return fail(std::string(k) + ": expected 'name value', got '" + std::string(p) + "'");
        std::string_view name = trim(p.substr(0, sp)), val = trim(p.substr(sp + 1));
        if (name == "type" && k == "threshold") {
          if (val == "limit") t.type = ThresholdSpec::limit;
          else if (val == "threshold") t.type = ThresholdSpec::threshold;
          else if (val == "both") t.type = ThresholdSpec::both;
          else return fail("threshold: unknown type '" + std::string(val) + "'");
          have_type = true;
        } else if (name == "track") {
          if (!parse_track(val, t.track)) return fail(std::string(k) + ": unknown track '" + std::string(val) + "'");
          have_track = true;
        } else if (name == "count" || name == "seconds") {
          uint64_t x;
          if (!parse_u64(val, x) || x > UINT32_MAX) return fail(std::string(k) + ": invalid " + std::string(name));
          (name == "count" ? t.count : t.seconds) = static_cast<uint32_t>(x);
          (name == "count" ? have_count : have_seconds) = true;
        } else {
          return fail(std::string(k) + ": unknown option '" + std::string(name) + "'");
        }
      }
      if (!have_type || !have_track || !have_count || !have_seconds)
        return fail(std::string(k) + " needs " + (k == "threshold" ? "type, " : "") + "track, count and seconds");
      if (t.count == 0 && t.type != ThresholdSpec::detection_filter) return fail(std::string(k) + ": count must be > 0");
      r.threshold = t;
      return true;
    }
    return fail("internal: keyword '" + std::string(k) + "' accepted but not handled");
  }

  // Minimum buffer length the positive contents need, as Suricata computes it for the
  // dsize check (absolute: offset + len; relative: previous end + distance + len).
  int64_t required_length() const {
    int64_t cur = 0, req = 0;
    if (r.buffers.empty()) return 0;
    for (const auto& sm : r.buffers[0].sms) {
      if (sm.kind != Sm::content) continue;
      const auto& c = r.contents[sm.idx];
      if (c.negated) continue;
      int64_t len = static_cast<int64_t>(c.bytes.size());
      if (c.offset.var >= 0 || c.distance.var >= 0) return req;
      if (c.relative()) cur = cur + (c.has_distance ? c.distance.value : 0) + len;
      else cur = (c.has_offset ? c.offset.value : 0) + len;
      cur = std::max(cur, len);
      req = std::max(req, cur);
    }
    return req;
  }

  bool finish() {
    if (!has_sid) return fail("rule has no sid");
    if (!r.buffers.empty() && r.buffers[0].sms.size() > 256) return fail("too many payload keywords (more than 256)");
    for (auto& c : r.contents) {
      c.lower = c.bytes;
      for (auto& ch : c.lower) ch = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch + 32) : ch;  // ASCII only, as Suricata
    }
    if (r.priority_rank == -1) r.priority_rank = 0;
    // fast_pattern checks (Suricata's wording).
    for (auto& c : r.contents) {
      if (!c.fast_pattern) continue;
      if (c.fp_only && (c.relative() || c.has_depth || c.has_offset || c.negated))
        return fail("can't have a relative keyword set along with 'fast_pattern:only;'.");
      if (c.negated && (c.relative() || c.has_depth || c.has_offset))
        return fail("can't have a relative negated keyword set along with 'fast_pattern'.");
    }
    // A content whose successor is relative can't be fast_pattern:only.
    if (!r.buffers.empty()) {
      const auto& sms = r.buffers[0].sms;
      for (size_t i = 0; i + 1 < sms.size(); ++i) {
        if (sms[i].kind != Sm::content || !r.contents[sms[i].idx].fp_only) continue;
        const Sm& n = sms[i + 1];
        bool rel = (n.kind == Sm::content && r.contents[n.idx].relative()) || (n.kind == Sm::pcre && r.pcres[n.idx].relative) ||
                   (n.kind == Sm::isdataat && r.isdataats[n.idx].relative) ||
                   (n.kind == Sm::byte_test && r.byte_tests[n.idx].o.relative) ||
                   (n.kind == Sm::byte_jump && r.byte_jumps[n.idx].o.relative) ||
                   (n.kind == Sm::byte_extract && r.byte_extracts[n.idx].o.relative);
        if (rel) return fail("can't have a relative keyword set along with 'fast_pattern:only;'.");
      }
    }
    if (r.dsize) {
      int64_t req = required_length();
      int64_t mx = r.dsize->max_value();
      if (mx != INT64_MAX && req > mx)
        return fail("signature can't match as required content length " + std::to_string(req) + " exceeds dsize value " +
                    std::to_string(mx));
    }
    if (r.itype || r.icode) {
      if (r.proto != Proto::icmp && r.proto != Proto::icmpv6 && r.proto != Proto::ip)
        return fail("itype/icode need protocol icmp or ip");
    }
    return true;
  }
};

Proto parse_proto(std::string_view p, bool& ok, bool& app_layer) {
  ok = true;
  app_layer = false;
  if (p == "tcp") return Proto::tcp;
  if (p == "udp") return Proto::udp;
  if (p == "icmp") return Proto::icmp;
  if (p == "ip" || p == "pkthdr") return Proto::ip;
  if (p == "tcp-pkt") return Proto::tcp_pkt;
  if (p == "tcp-stream") return Proto::tcp_stream;
  if (p == "icmpv6" || p == "ipv6-icmp") return Proto::icmpv6;
  if (p == "icmpv4") return Proto::icmp;
  if (p == "sctp") return Proto::sctp;
  static const std::set<std::string, std::less<>> app = {
      "http", "http1", "http2", "dns", "tls", "ssl", "ftp", "ftp-data", "smb", "dcerpc", "smtp", "ssh", "imap", "pop3",
      "krb5", "dhcp", "snmp", "sip", "rfb", "mqtt", "nfs", "ntp", "tftp", "ikev2", "ike", "modbus", "dnp3", "enip",
      "rdp", "bittorrent-dht", "quic", "pgsql", "telnet", "websocket", "ldap", "doh2", "mdns", "llmnr"};
  if (app.count(p)) {
    app_layer = true;
    return Proto::ip;
  }
  ok = false;
  return Proto::ip;
}

// Splits the header at whitespace outside brackets.
std::vector<std::string_view> header_tokens(std::string_view h) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < h.size()) {
    while (i < h.size() && std::isspace(static_cast<unsigned char>(h[i]))) ++i;
    if (i >= h.size()) break;
    size_t j = i;
    int depth = 0;
    while (j < h.size() && (depth > 0 || !std::isspace(static_cast<unsigned char>(h[j])))) {
      if (h[j] == '[') ++depth;
      else if (h[j] == ']') --depth;
      ++j;
    }
    out.push_back(h.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

ParseOutcome parse_rule(std::string_view text, const ParseContext& ctx) {
  ParseOutcome out;
  text = trim(text);
  auto open = text.find('(');
  if (open == std::string_view::npos) {
    out.error = "no '(' starting the rule options";
    return out;
  }
  if (text.back() != ')') {
    out.error = "rule does not end with ')'";
    return out;
  }
  auto toks = header_tokens(text.substr(0, open));
  if (toks.size() != 7) {
    out.error = "rule header must be 'action proto src_addr src_port direction dst_addr dst_port', got " +
                std::to_string(toks.size()) + " fields: '" + std::string(trim(text.substr(0, open))) + "'";
    return out;
  }
  std::vector<Option> opts;
  if (auto e = split_options(text.substr(open + 1, text.size() - open - 2), opts); !e.empty()) {
    out.error = e;
    return out;
  }
  // Unsupported keywords first: such a rule is skipped as a whole, never half-applied.
  std::vector<std::string> unsupported;
  auto add_unsupported = [&](std::string k) {
    if (std::find(unsupported.begin(), unsupported.end(), k) == unsupported.end()) unsupported.push_back(std::move(k));
  };
  bool ok_proto, app_layer;
  Proto proto = parse_proto(toks[1], ok_proto, app_layer);
  if (app_layer) add_unsupported("proto:" + std::string(toks[1]));
  for (const auto& o : opts) {
    if (o.key.empty()) {
      out.error = "unknown rule keyword ''.";
      return out;
    }
    if (!supported_keywords().count(o.key)) {
      add_unsupported(std::string(o.key));
      continue;
    }
    if (o.key == "pcre") {  // HTTP buffer modifiers are sticky-buffer selectors in disguise
      auto v = o.value;
      auto last = v.rfind('/');
      if (last != std::string_view::npos)
        for (char f : v.substr(last + 1))
          if (std::strchr("UIPHDMCKSYVWQ", f) && f != '"') add_unsupported(std::string("pcre/") + f);
    }
    if (o.key == "flow")
      for (auto p : split(o.value, ','))
        if (p == "no_frag" || p == "only_frag") add_unsupported("flow:" + std::string(p));
    if (o.key == "threshold" || o.key == "detection_filter") {
      if (o.value.find("by_flow") != std::string_view::npos) add_unsupported(std::string(o.key) + ":by_flow");
      if (o.value.find("backoff") != std::string_view::npos) add_unsupported("threshold:backoff");
    }
    if ((o.key == "byte_test" || o.key == "byte_jump" || o.key == "byte_extract") &&
        o.value.find("dce") != std::string_view::npos)
      add_unsupported(std::string(o.key) + ":dce");
  }
  std::string_view action = toks[0];
  if (action != "alert" && action != "drop" && action != "reject" && action != "rejectsrc" && action != "rejectdst" &&
      action != "rejectboth" && action != "pass" && action != "log" && action != "sdrop") {
    out.error = "unknown action '" + std::string(action) + "'";
    return out;
  }
  if (!ok_proto) {
    out.error = "unknown protocol '" + std::string(toks[1]) + "'";
    return out;
  }
  if (toks[4] != "->" && toks[4] != "<>") {
    out.error = "invalid direction '" + std::string(toks[4]) + "' (expected -> or <>)";
    return out;
  }
  if (!unsupported.empty()) {
    out.unsupported = std::move(unsupported);
    return out;
  }

  auto rule = std::make_unique<Rule>();
  Rule& r = *rule;
  r.meta.action = std::string(action);
  if (action == "sdrop" || action == "log") r.meta.action = "alert";
  if (action.starts_with("reject")) r.meta.action = "reject";
  r.proto = proto;
  r.bidirectional = toks[4] == "<>";
  auto src = ctx.vars->address(toks[2]);
  auto dst = ctx.vars->address(toks[5]);
  auto sp = ctx.vars->port(toks[3]);
  auto dp = ctx.vars->port(toks[6]);
  if (!src) {
    out.error = "source address: " + src.error().message;
    return out;
  }
  if (!dst) {
    out.error = "destination address: " + dst.error().message;
    return out;
  }
  if (!sp) {
    out.error = "source port: " + sp.error().message;
    return out;
  }
  if (!dp) {
    out.error = "destination port: " + dp.error().message;
    return out;
  }
  r.src = std::move(*src);
  r.dst = std::move(*dst);
  r.sport = std::move(*sp);
  r.dport = std::move(*dp);
  r.src_any = r.src.is_any();
  r.dst_any = r.dst.is_any();
  r.sport_any = r.sport.is_any();
  r.dport_any = r.dport.is_any();
  bool has_ports = !r.sport_any || !r.dport_any;
  if (has_ports && proto != Proto::tcp && proto != Proto::udp && proto != Proto::tcp_pkt && proto != Proto::tcp_stream &&
      proto != Proto::sctp && proto != Proto::ip) {
    out.error = "ports given for protocol '" + std::string(toks[1]) + "' that has none";
    return out;
  }

  Parser p{ctx, r, {}, {}, -1, false};
  for (const auto& o : opts) {
    if (!p.keyword(o)) {
      out.error = p.err;
      return out;
    }
  }
  if (!p.finish()) {
    out.error = p.err;
    return out;
  }
  bool negated_addr = ctx.vars->expand(toks[2]).find('!') != std::string::npos ||
                      ctx.vars->expand(toks[5]).find('!') != std::string::npos;
  if (r.tcp_flags && proto != Proto::tcp && proto != Proto::tcp_pkt && proto != Proto::tcp_stream && proto != Proto::ip) {
    out.error = "flags needs protocol tcp";
    return out;
  }
  r.ip_only = !r.has_payload() && !r.has_flow && !r.dsize && !r.itype && !r.icode && !r.ttl && !r.ip_proto && !r.tcp_flags &&
              !r.reads_flowbits && r.sport_any && r.dport_any && !negated_addr && proto != Proto::tcp_stream;
  out.rule = std::move(rule);
  return out;
}

const std::string& builtin_classification_config() {
  // Suricata's stock classification.config (same table as ET Open ships).
  static const std::string s =
#include "core/detect/net/classification.inc"
      ;
  return s;
}

Result<std::map<std::string, std::pair<std::string, int>>> parse_classification(const std::string& text,
                                                                                const std::string& name) {
  std::map<std::string, std::pair<std::string, int>> out;
  size_t line_no = 0, pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = std::string_view(text).substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    constexpr std::string_view prefix = "config classification:";
    if (!line.starts_with(prefix))
      return make_error(ErrorCode::parse_error, name + ":" + std::to_string(line_no) + ": expected 'config classification: name,description,priority'");
    auto parts = split(line.substr(prefix.size()), ',');
    int64_t prio;
    if (parts.size() != 3 || parts[0].empty() || !parse_i64(parts[2], prio) || prio < 1 || prio > 255)
      return make_error(ErrorCode::parse_error, name + ":" + std::to_string(line_no) + ": expected 'config classification: name,description,priority'");
    out[std::string(parts[0])] = {std::string(parts[1]), static_cast<int>(prio)};
  }
  return out;
}

}  // namespace halong::detect::net
