// Sigma YAML -> compiled Ruleset: rule documents, detection grammar, conditions,
// correlations, then one Hyperscan database per (logsource, field).
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

#include "core/detect/sigma/engine.hpp"
#include "core/detect/sigma/internal.hpp"
#include "core/detect/sigma/values.hpp"
#include "core/yaml_config.hpp"

namespace halong::detect::sigma {

using namespace detail;

namespace {

struct Skip {
  std::string kind;
  std::string msg;
  int line = 0;
};
using MaybeSkip = std::optional<Skip>;

Skip skip(std::string kind, std::string msg, int line) { return Skip{std::move(kind), std::move(msg), line}; }

int line_of(const YAML::Node& n) {
  auto m = n.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Walks the document once with a node budget and a depth limit: yaml-cpp shares the node
// of an alias, so an alias bomb is small in memory but exponential to walk.
bool within_budget(const YAML::Node& n, size_t depth, size_t& budget, const LoadOptions& o) {
  if (budget == 0 || depth > o.max_yaml_depth) return false;
  --budget;
  if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!within_budget(it->first, depth + 1, budget, o)) return false;
      if (!within_budget(it->second, depth + 1, budget, o)) return false;
    }
  } else if (n.IsSequence()) {
    for (auto it = n.begin(); it != n.end(); ++it)
      if (!within_budget(*it, depth + 1, budget, o)) return false;
  }
  return true;
}

std::string scalar_or_empty(const YAML::Node& map, const char* key) {
  auto n = map[key];
  if (n && n.IsScalar()) return n.Scalar();
  return {};
}

std::vector<std::string> string_list(const YAML::Node& map, const char* key) {
  std::vector<std::string> out;
  auto n = map[key];
  if (!n) return out;
  if (n.IsScalar()) {
    out.push_back(n.Scalar());
  } else if (n.IsSequence()) {
    for (auto it = n.begin(); it != n.end(); ++it)
      if (it->IsScalar()) out.push_back(it->Scalar());
  }
  return out;
}

void fill_meta(const YAML::Node& doc, RuleMeta& m) {
  m.id = scalar_or_empty(doc, "id");
  m.name = scalar_or_empty(doc, "name");
  m.title = scalar_or_empty(doc, "title");
  m.description = scalar_or_empty(doc, "description");
  m.status = scalar_or_empty(doc, "status");
  m.level = lower(scalar_or_empty(doc, "level"));
  m.author = scalar_or_empty(doc, "author");
  m.tags = string_list(doc, "tags");
  m.falsepositives = string_list(doc, "falsepositives");
  m.references = string_list(doc, "references");
  m.signature_id = derive_signature_id(!m.id.empty() ? m.id : m.title);
}

bool glob_match(std::string_view pat, std::string_view s) {
  // '*' only (Sigma identifier patterns)
  size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && pat[p] != '*' && pat[p] == s[i]) {
      ++p;
      ++i;
    } else if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}


// ---------------------------------------------------------------------------------------
// One detection rule.
class RuleBuilder {
 public:
  RuleBuilder(Rule& r, std::vector<PcreTest>& pcres, std::vector<std::string>& notes)
      : r_(r), pcres_(pcres), notes_(notes) {}

  // `is_filter`: a Sigma filter's `filter:` section (its `rules:` key is not an identifier).
  MaybeSkip build(const YAML::Node& detection, bool is_filter = false) {
    if (!detection.IsMap()) return skip("rule:detection", "detection must be a map", line_of(detection));
    YAML::Node cond;
    for (auto it = detection.begin(); it != detection.end(); ++it) {
      if (!it->first.IsScalar()) return skip("rule:detection", "detection keys must be strings", line_of(it->first));
      const std::string& k = it->first.Scalar();
      if (k == "condition") {
        cond = it->second;
      } else if (k == "timeframe") {
        timeframe_ = true;
      } else if (is_filter && k == "rules") {
        continue;
      } else {
        idents_.push_back({k, it->second});
      }
    }
    if (!cond) return skip("rule:condition", "detection has no condition", line_of(detection));
    std::vector<std::string> conds;
    if (cond.IsScalar()) {
      conds.push_back(cond.Scalar());
    } else if (cond.IsSequence()) {
      for (auto it = cond.begin(); it != cond.end(); ++it) {
        if (!it->IsScalar()) return skip("rule:condition", "condition list items must be strings", line_of(*it));
        conds.push_back(it->Scalar());
      }
    } else {
      return skip("rule:condition", "condition must be a string or a list of strings", line_of(cond));
    }
    if (conds.empty()) return skip("rule:condition", "empty condition", line_of(cond));
    std::vector<uint32_t> roots;
    for (const auto& c : conds) {
      uint32_t root = 0;
      if (auto s = parse_condition(c, line_of(cond), root)) return s;
      roots.push_back(root);
    }
    if (timeframe_) notes_.push_back("detection.timeframe ignored (only used by aggregations)");
    r_.root = roots.size() == 1 ? roots[0] : add(Node{Op::or_, false, 0, 0, roots});
    return std::nullopt;
  }

 private:
  uint32_t add(Node n) {
    r_.nodes.push_back(std::move(n));
    return static_cast<uint32_t>(r_.nodes.size() - 1);
  }
  uint32_t add_leaf(Leaf l) {
    r_.leaves.push_back(std::move(l));
    Node n;
    n.op = Op::leaf;
    n.leaf = static_cast<uint32_t>(r_.leaves.size() - 1);
    return add(std::move(n));
  }
  uint32_t combine(Op op, std::vector<uint32_t> kids) {
    if (kids.size() == 1) return kids[0];
    Node n;
    n.op = op;
    n.kids = std::move(kids);
    return add(std::move(n));
  }
  uint32_t constant(bool v) {
    Node n;
    n.op = Op::constant;
    n.value = v;
    return add(std::move(n));
  }

  // --- search identifiers ---
  MaybeSkip identifier(const std::string& name, uint32_t& out) {
    auto f = built_.find(name);
    if (f != built_.end()) {
      out = f->second;
      return std::nullopt;
    }
    const YAML::Node* node = nullptr;
    for (auto& [k, v] : idents_)
      if (k == name) node = &v;
    if (!node) return skip("condition:undefined-identifier", "condition names '" + name + "', which detection does not define", 0);
    if (auto s = build_identifier(*node, out)) return s;
    built_[name] = out;
    return std::nullopt;
  }

  MaybeSkip build_identifier(const YAML::Node& n, uint32_t& out) {
    if (n.IsMap()) return build_map(n, out);
    if (n.IsSequence()) {
      if (n.size() == 0) return skip("rule:detection", "empty search identifier list", line_of(n));
      bool maps = false, scalars = false;
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (it->IsMap()) maps = true;
        else if (it->IsScalar()) scalars = true;
        else return skip("rule:detection", "search identifier list items must be strings or maps", line_of(*it));
      }
      if (maps && scalars) return skip("rule:detection", "search identifier mixes keywords and maps", line_of(n));
      if (maps) {
        std::vector<uint32_t> kids;
        for (auto it = n.begin(); it != n.end(); ++it) {
          uint32_t k = 0;
          if (auto s = build_map(*it, k)) return s;
          kids.push_back(k);
        }
        out = combine(Op::or_, std::move(kids));
        return std::nullopt;
      }
      return build_field("", n, out);  // keywords: OR of full-text tests
    }
    if (n.IsScalar()) return build_field("", n, out);
    return skip("rule:detection", "empty search identifier", line_of(n));
  }

  MaybeSkip build_map(const YAML::Node& n, uint32_t& out) {
    std::vector<uint32_t> kids;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->first.IsScalar()) return skip("rule:detection", "field names must be strings", line_of(it->first));
      uint32_t k = 0;
      if (auto s = build_field(it->first.Scalar(), it->second, k)) return s;
      kids.push_back(k);
    }
    if (kids.empty()) return skip("rule:detection", "empty map in detection", line_of(n));
    out = combine(Op::and_, std::move(kids));
    return std::nullopt;
  }

  // --- one `field|mod|mod: value(s)` ---
  MaybeSkip build_field(const std::string& key, const YAML::Node& val, uint32_t& out) {
    const int line = line_of(val);
    std::vector<std::string> parts;
    {
      size_t start = 0;
      for (;;) {
        size_t bar = key.find('|', start);
        parts.push_back(key.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
        if (bar == std::string::npos) break;
        start = bar + 1;
      }
    }
    const std::string field = parts[0];
    const bool raw = field.empty();
    enum class Mode { str, re, cidr, numeric, exists, fieldref } mode = Mode::str;
    bool all = false, cased = false, neq = false, re_i = false, re_m = false, re_s = false;
    bool has_position = false;  // contains / startswith / endswith given
    char numop = 0;
    std::vector<std::string> transforms;  // in order
    auto set_mode = [&](Mode m, const std::string& mod) -> MaybeSkip {
      if (mode != Mode::str) return skip("modifier:combination", "modifier '" + mod + "' combined with another type modifier", line);
      mode = m;
      return std::nullopt;
    };
    for (size_t i = 1; i < parts.size(); ++i) {
      const std::string mod = lower(parts[i]);
      MaybeSkip s;
      if (mod == "contains" || mod == "startswith" || mod == "endswith") {
        has_position = true;
        transforms.push_back(mod);
      } else if (mod == "base64" || mod == "base64offset" || mod == "utf16le" || mod == "utf16be" || mod == "utf16" ||
                 mod == "wide" || mod == "windash") {
        transforms.push_back(mod);
      } else if (mod == "all") {
        all = true;
      } else if (mod == "cased") {
        cased = true;
      } else if (mod == "neq") {
        neq = true;
      } else if (mod == "re") {
        s = set_mode(Mode::re, mod);
      } else if (mod == "i" || mod == "m" || mod == "s") {
        if (mode != Mode::re) return skip("modifier:" + mod, "modifier '" + mod + "' is only valid after 're'", line);
        (mod == "i" ? re_i : mod == "m" ? re_m : re_s) = true;
      } else if (mod == "cidr") {
        s = set_mode(Mode::cidr, mod);
      } else if (mod == "lt" || mod == "lte" || mod == "gt" || mod == "gte") {
        s = set_mode(Mode::numeric, mod);
        numop = mod == "lt" ? '<' : mod == "lte" ? 'l' : mod == "gt" ? '>' : 'g';
      } else if (mod == "exists") {
        s = set_mode(Mode::exists, mod);
      } else if (mod == "fieldref") {
        s = set_mode(Mode::fieldref, mod);
      } else if (mod == "expand") {
        return skip("modifier:expand", "modifier 'expand' needs placeholder values, which Halong has no pipeline for", line);
      } else if (mod == "minute" || mod == "hour" || mod == "day" || mod == "week" || mod == "month" || mod == "year") {
        return skip("modifier:" + mod, "time modifier '" + mod + "' is not supported", line);
      } else {
        return skip("modifier:" + mod, "unknown modifier '" + mod + "'", line);
      }
      if (s) return s;
    }
    if (mode != Mode::str && !transforms.empty())
      return skip("modifier:combination", "string modifiers combined with a type modifier in '" + key + "'", line);
    if (raw && (mode == Mode::exists || mode == Mode::fieldref || mode == Mode::numeric || mode == Mode::cidr))
      return skip("modifier:combination", "type modifier without a field name in '" + key + "'", line);

    // values
    std::vector<YAML::Node> vals;
    if (val.IsSequence()) {
      for (auto it = val.begin(); it != val.end(); ++it) {
        if (it->IsMap() || it->IsSequence()) return skip("rule:detection", "value list of '" + key + "' holds a map or list", line_of(*it));
        vals.push_back(*it);
      }
      if (vals.empty()) return skip("rule:detection", "empty value list for '" + key + "'", line);
    } else if (val.IsMap()) {
      return skip("rule:detection", "value of '" + key + "' is a map", line);
    } else {
      vals.push_back(val);  // scalar or null
    }

    std::vector<uint32_t> per_value;
    for (const auto& v : vals) {
      const bool is_null = v.IsNull() || !v.IsDefined();
      if (is_null) {
        if (raw || mode != Mode::str) return skip("value:null", "null value for '" + key + "'", line_of(v));
        Leaf l;
        l.kind = LeafKind::null;
        l.field = field;
        per_value.push_back(add_leaf(std::move(l)));
        continue;
      }
      const std::string text = v.Scalar();
      switch (mode) {
        case Mode::exists: {
          bool b = false;
          if (!YAML::convert<bool>::decode(v, b)) return skip("value:exists", "'exists' needs true or false", line_of(v));
          Leaf l;
          l.kind = LeafKind::exists;
          l.field = field;
          l.negate = !b;
          per_value.push_back(add_leaf(std::move(l)));
          break;
        }
        case Mode::numeric: {
          Leaf l;
          l.kind = LeafKind::numeric;
          l.field = field;
          l.op = numop;
          if (!parse_number(text, l.number)) return skip("value:number", "'" + text + "' is not a number", line_of(v));
          per_value.push_back(add_leaf(std::move(l)));
          break;
        }
        case Mode::cidr: {
          Leaf l;
          l.kind = LeafKind::cidr;
          l.field = field;
          if (!parse_cidr(text, l.net)) return skip("value:cidr", "'" + text + "' is not a CIDR network", line_of(v));
          per_value.push_back(add_leaf(std::move(l)));
          break;
        }
        case Mode::fieldref: {
          Leaf l;
          l.kind = LeafKind::fieldref;
          l.field = field;
          l.ref_field = text;
          l.cased = cased;
          per_value.push_back(add_leaf(std::move(l)));
          break;
        }
        case Mode::re: {
          uint32_t node = 0;
          if (auto s = regex_leaf(field, text, re_i, re_m, re_s, line_of(v), node)) return s;
          per_value.push_back(node);
          break;
        }
        case Mode::str: {
          std::vector<SStr> variants{parse_sigma_string(text)};
          for (const auto& t : transforms) {
            std::vector<SStr> next;
            for (auto& s : variants) {
              if (t == "contains") {
                add_contains(s);
              } else if (t == "startswith") {
                add_startswith(s);
              } else if (t == "endswith") {
                add_endswith(s);
              } else if (t == "windash") {
                windash(s);
              } else if (t == "utf16le" || t == "wide") {
                s = utf16(s, true, false);
              } else if (t == "utf16be") {
                s = utf16(s, false, false);
              } else if (t == "utf16") {
                s = utf16(s, true, true);
              } else if (t == "base64" || t == "base64offset") {
                if (has_wildcards(s))
                  return skip("modifier:" + t, "'" + t + "' on a value with wildcards ('" + text + "')", line_of(v));
                if (t == "base64") {
                  s = from_plain(base64(plain(s)));
                } else {
                  for (auto& e : base64offset(plain(s))) next.push_back(from_plain(e));
                  continue;
                }
              }
              next.push_back(std::move(s));
            }
            variants = std::move(next);
          }
          std::vector<uint32_t> kids;
          for (auto& s : variants) {
            if (raw && !has_position) add_contains(s);  // keywords are full-text searches
            kids.push_back(string_leaf(field, s, cased));
          }
          if (kids.empty()) kids.push_back(constant(false));
          per_value.push_back(combine(Op::or_, std::move(kids)));
          break;
        }
      }
    }
    out = combine(all ? Op::and_ : Op::or_, std::move(per_value));
    if (neq) {
      Node n;
      n.op = Op::not_;
      n.kids = {out};
      out = add(std::move(n));
    }
    return std::nullopt;
  }

  uint32_t string_leaf(const std::string& field, const SStr& s, bool cased) {
    Leaf l;
    l.field = field;
    if (s.empty()) {
      l.kind = field.empty() ? LeafKind::constant : LeafKind::empty;
    } else if (only_stars(s)) {
      l.kind = field.empty() ? LeafKind::constant : LeafKind::exists;
    } else {
      bool a = false, b = false;
      l.kind = LeafKind::hs;
      l.expr = to_hs_regex(s, a, b);
      l.hs_flags = HS_FLAG_SINGLEMATCH | HS_FLAG_DOTALL | (cased ? 0u : unsigned(HS_FLAG_CASELESS));
    }
    return add_leaf(std::move(l));
  }

  MaybeSkip regex_leaf(const std::string& field, const std::string& re, bool i, bool m, bool s, int line, uint32_t& out) {
    Leaf l;
    l.field = field;
    l.expr = re;
    unsigned flags = HS_FLAG_SINGLEMATCH | (i ? unsigned(HS_FLAG_CASELESS) : 0u) | (m ? unsigned(HS_FLAG_MULTILINE) : 0u) |
                     (s ? unsigned(HS_FLAG_DOTALL) : 0u);
    hs_expr_info_t* info = nullptr;
    hs_compile_error_t* err = nullptr;
    std::string why;
    if (re.find('\0') != std::string::npos) {
      why = "NUL byte in pattern";
    } else if (hs_expression_info(re.c_str(), flags, &info, &err) != HS_SUCCESS) {
      why = err && err->message ? err->message : "rejected";
      hs_free_compile_error(err);
    } else {
      if (info->min_width == 0) why = "pattern can match the empty string";
      std::free(info);
    }
    if (why.empty()) {
      l.kind = LeafKind::hs;
      l.hs_flags = flags;
      out = add_leaf(std::move(l));
      return std::nullopt;
    }
    // PCRE2 fallback
    uint32_t opts = (i ? PCRE2_CASELESS : 0u) | (m ? PCRE2_MULTILINE : 0u) | (s ? PCRE2_DOTALL : 0u);
    int errcode = 0;
    PCRE2_SIZE erroff = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(), opts, &errcode, &erroff, nullptr);
    if (!code) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(errcode, buf, sizeof buf);
      return skip("regex:invalid", "regex /" + re + "/ does not compile: " + reinterpret_cast<char*>(buf) + " at offset " +
                                        std::to_string(erroff),
                  line);
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional speed-up; interpreter otherwise
    PcreTest t;
    t.code.reset(code);
    t.pattern = re;
    pcres_.push_back(std::move(t));
    l.kind = LeafKind::pcre;
    l.pcre_index = static_cast<uint32_t>(pcres_.size() - 1);  // local; rebased when the rule is accepted
    l.hs_flags = opts;
    notes_.push_back("regex /" + re + "/ runs on PCRE2 (Hyperscan: " + why + ")");
    out = add_leaf(std::move(l));
    return std::nullopt;
  }

  // --- condition grammar ---
  //   expr := and ('or' and)* ; and := not ('and' not)* ; not := 'not' not | prim
  //   prim := '(' expr ')' | ('1'|'all'|'any'|N) 'of' (pattern|'them') | identifier
  MaybeSkip parse_condition(const std::string& text, int line, uint32_t& out) {
    line_ = line;
    if (auto bar = text.find('|'); bar != std::string::npos && lower(text.substr(bar + 1)).find("near") != std::string::npos)
      return skip("condition:near", "condition '" + text + "' uses 'near' (deprecated Sigma 1 syntax; use a temporal correlation)",
                  line);
    if (text.find('|') != std::string::npos)
      return skip("condition:aggregation",
                  "condition '" + text + "' uses a pipe aggregation (deprecated Sigma 1 syntax; use a correlation rule)",
                  line);
    toks_.clear();
    pos_ = 0;
    std::string cur;
    for (char c : text) {
      if (c == '(' || c == ')') {
        if (!cur.empty()) toks_.push_back(cur), cur.clear();
        toks_.push_back(std::string(1, c));
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        if (!cur.empty()) toks_.push_back(cur), cur.clear();
      } else {
        cur.push_back(c);
      }
    }
    if (!cur.empty()) toks_.push_back(cur);
    if (toks_.empty()) return skip("rule:condition", "empty condition", line);
    if (toks_.size() > 4096) return skip("rule:condition", "condition too long", line);
    depth_ = 0;
    if (auto s = expr(out)) return s;
    if (pos_ != toks_.size()) return skip("condition:syntax", "unexpected '" + toks_[pos_] + "' in condition '" + text + "'", line);
    return std::nullopt;
  }

  bool peek_kw(const char* kw) const { return pos_ < toks_.size() && lower(toks_[pos_]) == kw; }

  MaybeSkip expr(uint32_t& out) {
    if (++depth_ > 64) return skip("condition:syntax", "condition nested too deeply", line_);
    std::vector<uint32_t> kids;
    uint32_t k = 0;
    if (auto s = and_expr(k)) return s;
    kids.push_back(k);
    while (peek_kw("or")) {
      ++pos_;
      if (auto s = and_expr(k)) return s;
      kids.push_back(k);
    }
    out = combine(Op::or_, std::move(kids));
    --depth_;
    return std::nullopt;
  }
  MaybeSkip and_expr(uint32_t& out) {
    std::vector<uint32_t> kids;
    uint32_t k = 0;
    if (auto s = not_expr(k)) return s;
    kids.push_back(k);
    while (peek_kw("and")) {
      ++pos_;
      if (auto s = not_expr(k)) return s;
      kids.push_back(k);
    }
    out = combine(Op::and_, std::move(kids));
    return std::nullopt;
  }
  MaybeSkip not_expr(uint32_t& out) {
    if (peek_kw("not")) {
      ++pos_;
      if (++depth_ > 64) return skip("condition:syntax", "condition nested too deeply", line_);
      uint32_t k = 0;
      if (auto s = not_expr(k)) return s;
      --depth_;
      Node n;
      n.op = Op::not_;
      n.kids = {k};
      out = add(std::move(n));
      return std::nullopt;
    }
    return primary(out);
  }
  MaybeSkip primary(uint32_t& out) {
    if (pos_ >= toks_.size()) return skip("condition:syntax", "condition ends early", line_);
    const std::string t = toks_[pos_];
    const std::string lt = lower(t);
    if (t == "(") {
      ++pos_;
      if (auto s = expr(out)) return s;
      if (pos_ >= toks_.size() || toks_[pos_] != ")") return skip("condition:syntax", "missing ')' in condition", line_);
      ++pos_;
      return std::nullopt;
    }
    if (t == ")" || lt == "and" || lt == "or" || lt == "of")
      return skip("condition:syntax", "unexpected '" + t + "' in condition", line_);
    if (lt == "near") return skip("condition:near", "'near' is not supported", line_);
    if (pos_ + 1 < toks_.size() && lower(toks_[pos_ + 1]) == "of") {
      uint32_t need = 0;
      bool all = false;
      if (lt == "all") {
        all = true;
      } else if (lt == "any") {
        need = 1;
      } else {
        double d = 0;
        if (!parse_number(t, d) || d < 1 || d > 1e6 || d != static_cast<uint32_t>(d))
          return skip("condition:syntax", "'" + t + " of' needs 1, all or a count", line_);
        need = static_cast<uint32_t>(d);
      }
      pos_ += 2;
      if (pos_ >= toks_.size()) return skip("condition:syntax", "'of' without a pattern", line_);
      const std::string pat = toks_[pos_++];
      std::vector<std::string> names;
      for (auto& [k, v] : idents_) {
        if (pat == "them" ? (!k.empty() && k[0] != '_') : glob_match(pat, k)) names.push_back(k);
      }
      if (names.empty()) return skip("condition:undefined-identifier", "'of " + pat + "' matches no search identifier", line_);
      std::vector<uint32_t> kids;
      for (auto& n : names) {
        uint32_t k = 0;
        if (auto s = identifier(n, k)) return s;
        kids.push_back(k);
      }
      if (all) {
        out = combine(Op::and_, std::move(kids));
      } else if (need == 1) {
        out = combine(Op::or_, std::move(kids));
      } else {
        Node n;
        n.op = Op::at_least;
        n.threshold = need;
        n.kids = std::move(kids);
        out = add(std::move(n));
      }
      return std::nullopt;
    }
    ++pos_;
    auto s = identifier(t, out);
    if (s && s->line == 0) s->line = line_;
    return s;
  }

  Rule& r_;
  std::vector<PcreTest>& pcres_;
  std::vector<std::string>& notes_;
  std::vector<std::pair<std::string, YAML::Node>> idents_;
  std::map<std::string, uint32_t> built_;
  std::vector<std::string> toks_;
  size_t pos_ = 0;
  int depth_ = 0;
  int line_ = 0;
  bool timeframe_ = false;
};

// Three-valued evaluation with every Hyperscan leaf false and every other leaf unknown:
// a rule whose condition is then definitely false needs a Hyperscan match to fire.
enum class Tri { f, t, u };
Tri tri_eval(const Rule& r, uint32_t idx) {
  const Node& n = r.nodes[idx];
  switch (n.op) {
    case Op::constant: return n.value ? Tri::t : Tri::f;
    case Op::leaf: {
      const Leaf& l = r.leaves[n.leaf];
      if (l.kind == LeafKind::hs) return Tri::f;
      if (l.kind == LeafKind::constant) return l.negate ? Tri::f : Tri::t;
      return Tri::u;
    }
    case Op::not_: {
      Tri v = tri_eval(r, n.kids[0]);
      return v == Tri::t ? Tri::f : v == Tri::f ? Tri::t : Tri::u;
    }
    case Op::and_: {
      Tri acc = Tri::t;
      for (auto k : n.kids) {
        Tri v = tri_eval(r, k);
        if (v == Tri::f) return Tri::f;
        if (v == Tri::u) acc = Tri::u;
      }
      return acc;
    }
    case Op::or_: {
      Tri acc = Tri::f;
      for (auto k : n.kids) {
        Tri v = tri_eval(r, k);
        if (v == Tri::t) return Tri::t;
        if (v == Tri::u) acc = Tri::u;
      }
      return acc;
    }
    case Op::at_least: {
      uint32_t t = 0, u = 0;
      for (auto k : n.kids) {
        Tri v = tri_eval(r, k);
        if (v == Tri::t) ++t;
        if (v == Tri::u) ++u;
      }
      if (t >= n.threshold) return Tri::t;
      if (t + u < n.threshold) return Tri::f;
      return Tri::u;
    }
  }
  return Tri::u;
}

// ---------------------------------------------------------------------------------------
struct PendingCorr {
  Correlation c;
  std::vector<std::string> refs;   // `rules:` as written
  std::map<std::string, std::map<std::string, std::string>> aliases;  // alias -> rule name -> field
  bool generate = false;
  bool have_bound = false;
  size_t entry = 0;                // index into report.entries
  int line = 0;
};

struct PendingFilter {
  YAML::Node filter;         // the `filter:` section
  logs::LogSource logsource;  // keys set in the filter's logsource
  std::vector<std::string> refs;
  size_t entry = 0;
  int line = 0;
};

struct Loader {
  Loader(const LoadOptions& o, LoadReport& r) : opts(o), report(r) {}
  std::vector<PendingFilter> filters;
  const LoadOptions& opts;
  LoadReport& report;
  std::shared_ptr<Ruleset> rs = std::make_shared<Ruleset>();
  std::vector<PendingCorr> pending;

  void add_entry(const std::string& file, int line, const RuleMeta& m, bool corr) {
    LoadEntry e;
    e.file = file;
    e.line = line;
    e.title = m.title;
    e.id = m.id;
    e.correlation = corr;
    report.entries.push_back(std::move(e));
  }
  void mark_skipped(size_t entry, const Skip& s) {
    auto& e = report.entries[entry];
    e.loaded = false;
    e.reason_kind = s.kind;
    e.reason = e.file + ":" + std::to_string(s.line ? s.line : e.line) + ": " + s.msg;
  }

  void file_error(const std::string& msg) { report.file_errors.push_back(msg); }

  void load_text(const std::string& text, const std::string& file) {
    ++report.files;
    if (text.size() > opts.max_file_bytes) {
      file_error(file + ": " + std::to_string(text.size()) + " bytes is over the limit of " +
                 std::to_string(opts.max_file_bytes) + " for a rule file");
      return;
    }
    // Control bytes and stray top-level commas make yaml-cpp 0.7 loop forever.
    if (auto ok = config::check_yaml_text(text, file, opts.max_yaml_documents); !ok) {
      file_error(ok.error().message);
      return;
    }
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAll(text);
    } catch (const YAML::Exception& e) {
      file_error(file + ":" + std::to_string(e.mark.line + 1) + ": YAML: " + e.msg);
      return;
    } catch (const std::exception& e) {
      file_error(file + ": YAML: " + e.what());
      return;
    }
    for (const auto& doc : docs) {
      try {
        load_doc(doc, file);
      } catch (const std::exception& e) {
        file_error(file + ": " + e.what());
      }
    }
  }

  void load_doc(const YAML::Node& doc, const std::string& file) {
    if (!doc || doc.IsNull()) return;
    size_t budget = opts.max_yaml_nodes;
    const int line = line_of(doc);
    if (!within_budget(doc, 0, budget, opts)) {
      file_error(file + ":" + std::to_string(line) + ": YAML document is too large or too deeply nested (limits: " +
                 std::to_string(opts.max_yaml_nodes) + " nodes, depth " + std::to_string(opts.max_yaml_depth) +
                 "; alias bomb?)");
      return;
    }
    if (!doc.IsMap()) {
      file_error(file + ":" + std::to_string(line) + ": a Sigma document must be a map");
      return;
    }
    RuleMeta meta;
    fill_meta(doc, meta);
    meta.file = file;
    meta.line = line;
    if (doc["action"]) {
      add_entry(file, line, meta, false);
      mark_skipped(report.entries.size() - 1,
                   skip("rule:collection", "rule collections ('action:') are not supported", line_of(doc["action"])));
      return;
    }
    if (doc["filter"] && !doc["detection"] && !doc["correlation"]) {
      add_entry(file, line, meta, false);
      PendingFilter f;
      f.entry = report.entries.size() - 1;
      f.line = line;
      f.filter = doc["filter"];
      auto ls = doc["logsource"];
      if (ls && ls.IsMap()) {
        f.logsource.product = lower(scalar_or_empty(ls, "product"));
        f.logsource.service = lower(scalar_or_empty(ls, "service"));
        f.logsource.category = lower(scalar_or_empty(ls, "category"));
      }
      if (meta.title.empty()) return mark_skipped(f.entry, skip("rule:title", "filter has no title", line));
      if (!f.filter.IsMap()) return mark_skipped(f.entry, skip("filter:syntax", "filter must be a map", line_of(f.filter)));
      f.refs = string_list(f.filter, "rules");
      if (f.refs.empty()) return mark_skipped(f.entry, skip("filter:syntax", "filter has no rules", line_of(f.filter)));
      filters.push_back(std::move(f));
      return;
    }
    if (doc["correlation"]) return load_correlation(doc, std::move(meta));
    add_entry(file, line, meta, false);
    const size_t entry = report.entries.size() - 1;
    if (meta.title.empty()) return mark_skipped(entry, skip("rule:title", "rule has no title", line));
    auto ls = doc["logsource"];
    if (ls && !ls.IsMap()) return mark_skipped(entry, skip("rule:logsource", "logsource must be a map", line_of(ls)));
    if (ls) {
      meta.logsource.product = lower(scalar_or_empty(ls, "product"));
      meta.logsource.service = lower(scalar_or_empty(ls, "service"));
      meta.logsource.category = lower(scalar_or_empty(ls, "category"));
    }
    auto det = doc["detection"];
    if (!det) return mark_skipped(entry, skip("rule:detection", "rule has no detection", line));
    Rule r;
    r.meta = meta;
    std::vector<PcreTest> pcres;
    std::vector<std::string> notes;
    RuleBuilder b(r, pcres, notes);
    if (auto s = b.build(det)) return mark_skipped(entry, *s);
    // accept: rebase PCRE indexes
    const uint32_t base = static_cast<uint32_t>(rs->pcres.size());
    for (auto& l : r.leaves)
      if (l.kind == LeafKind::pcre) l.pcre_index += base;
    report.pcre_fallbacks += pcres.size();
    for (auto& p : pcres) rs->pcres.push_back(std::move(p));
    r.always_evaluate = tri_eval(r, r.root) != Tri::f;
    r.filter_leaf_start = r.leaves.size();
    r.entry = entry;
    auto& e = report.entries[entry];
    e.loaded = true;
    e.notes = std::move(notes);
    rs->rules.push_back(std::move(r));
  }

  void load_correlation(const YAML::Node& doc, RuleMeta meta) {
    const int line = meta.line;
    add_entry(meta.file, line, meta, true);
    PendingCorr p;
    p.entry = report.entries.size() - 1;
    p.line = line;
    meta.correlation = true;
    auto c = doc["correlation"];
    auto fail = [&](const std::string& kind, const std::string& msg, int at) { mark_skipped(p.entry, skip(kind, msg, at)); };
    if (meta.title.empty()) return fail("rule:title", "correlation has no title", line);
    if (!c.IsMap()) return fail("correlation:syntax", "correlation must be a map", line_of(c));
    const std::string type = scalar_or_empty(c, "type");
    meta.correlation_type = type;
    if (type == "event_count") p.c.type = CorrType::event_count;
    else if (type == "value_count") p.c.type = CorrType::value_count;
    else if (type == "temporal") p.c.type = CorrType::temporal;
    else if (type == "temporal_ordered") p.c.type = CorrType::temporal_ordered;
    else return fail("correlation:type", "correlation type '" + type + "' is not supported", line_of(c["type"]));
    p.refs = string_list(c, "rules");
    if (p.refs.empty()) return fail("correlation:syntax", "correlation has no rules", line_of(c));
    p.c.group_by = string_list(c, "group-by");
    auto ts = scalar_or_empty(c, "timespan");
    if (ts.empty()) ts = scalar_or_empty(c, "timeframe");
    auto dur = config::parse_duration_ms(ts);
    if (ts.empty() || !dur.ok() || *dur == 0)
      return fail("correlation:timespan", "correlation needs a timespan like 5m (got '" + ts + "')", line_of(c));
    p.c.timespan_us = static_cast<int64_t>(std::min<uint64_t>(*dur, uint64_t(1) << 40)) * 1000;
    auto cond = c["condition"];
    bool have_bound = false;
    if (cond) {
      if (!cond.IsMap()) return fail("correlation:condition", "correlation condition must be a map", line_of(cond));
      for (auto it = cond.begin(); it != cond.end(); ++it) {
        const std::string k = it->first.IsScalar() ? it->first.Scalar() : "";
        if (k == "field") {
          p.c.value_fields = string_list(cond, "field");
          continue;
        }
        double v = 0;
        if (!it->second.IsScalar() || !parse_number(it->second.Scalar(), v) || v < 0 || v > 1e9)
          return fail("correlation:condition", "condition '" + k + "' needs a number", line_of(it->second));
        if (k == "gte") p.c.gte = static_cast<uint64_t>(v);
        else if (k == "gt") p.c.gte = static_cast<uint64_t>(v) + 1;
        else
          return fail("correlation:condition-op",
                      "condition '" + k + "' is not supported (only gt/gte: matches are evaluated as events arrive)",
                      line_of(it->first));
        if (have_bound) return fail("correlation:condition-op", "more than one bound in condition", line_of(cond));
        have_bound = true;
      }
    }
    if ((p.c.type == CorrType::event_count || p.c.type == CorrType::value_count) && !have_bound)
      return fail("correlation:condition", "correlation needs a condition (gt/gte)", line_of(c));
    if (p.c.type == CorrType::value_count && p.c.value_fields.empty())
      return fail("correlation:condition", "value_count needs condition.field", line_of(c));
    if (p.c.gte == 0) p.c.gte = 1;
    p.have_bound = have_bound;
    if (p.c.type != CorrType::temporal && p.c.type != CorrType::temporal_ordered && p.c.gte > opts.correlation_max_values)
      return fail("correlation:bound", "threshold " + std::to_string(p.c.gte) + " is above the per-group bound " +
                                           std::to_string(opts.correlation_max_values),
                  line_of(cond));
    auto al = c["aliases"];
    if (al && al.IsMap()) {
      for (auto it = al.begin(); it != al.end(); ++it) {
        if (!it->first.IsScalar() || !it->second.IsMap())
          return fail("correlation:aliases", "aliases must map alias -> rule name -> field", line_of(it->first));
        for (auto jt = it->second.begin(); jt != it->second.end(); ++jt)
          if (jt->first.IsScalar() && jt->second.IsScalar())
            p.aliases[it->first.Scalar()][jt->first.Scalar()] = jt->second.Scalar();
      }
    }
    bool gen = false;
    auto g = c["generate"] ? c["generate"] : doc["generate"];
    if (g && g.IsScalar()) YAML::convert<bool>::decode(g, gen);
    p.generate = gen;
    p.c.meta = std::move(meta);
    pending.push_back(std::move(p));
  }

  // Resolves correlation references (by id or name; rules or other correlations), in
  // dependency order; a correlation that references something missing or skipped is skipped.
  void resolve_correlations() {
    std::unordered_map<std::string, uint32_t> rule_by_key;
    for (uint32_t i = 0; i < rs->rules.size(); ++i) {
      const auto& m = rs->rules[i].meta;
      if (!m.id.empty()) rule_by_key.emplace(m.id, i);
      if (!m.name.empty()) rule_by_key.emplace(m.name, i);
    }
    std::unordered_map<std::string, size_t> corr_by_key;
    for (size_t i = 0; i < pending.size(); ++i) {
      const auto& m = pending[i].c.meta;
      if (!m.id.empty()) corr_by_key.emplace(m.id, i);
      if (!m.name.empty()) corr_by_key.emplace(m.name, i);
    }
    // state: 0 new, 1 visiting, 2 done ok, 3 failed
    std::vector<int> state(pending.size(), 0);
    std::vector<int64_t> final_index(pending.size(), -1);
    std::function<bool(size_t)> visit = [&](size_t i) -> bool {
      if (state[i] == 2) return true;
      if (state[i] == 3) return false;
      auto& p = pending[i];
      if (!report.entries[p.entry].reason.empty()) {
        state[i] = 3;
        return false;
      }
      if (state[i] == 1) {
        mark_skipped(p.entry, skip("correlation:cycle", "correlation references itself (cycle)", p.line));
        state[i] = 3;
        return false;
      }
      state[i] = 1;
      std::vector<std::pair<bool, uint32_t>> inputs;  // (is_corr, index)
      for (const auto& ref : p.refs) {
        auto r = rule_by_key.find(ref);
        if (r != rule_by_key.end()) {
          inputs.push_back({false, r->second});
          continue;
        }
        auto c = corr_by_key.find(ref);
        if (c != corr_by_key.end()) {
          if (!visit(c->second)) {
            if (state[i] != 3)
              mark_skipped(p.entry, skip("correlation:missing-rule", "referenced correlation '" + ref + "' is not loaded", p.line));
            state[i] = 3;
            return false;
          }
          inputs.push_back({true, static_cast<uint32_t>(final_index[c->second])});
          continue;
        }
        mark_skipped(p.entry, skip("correlation:missing-rule", "referenced rule '" + ref + "' is not loaded (missing or skipped)", p.line));
        state[i] = 3;
        return false;
      }
      // group-by fields per input, through aliases
      Correlation c = p.c;
      c.n_inputs = inputs.size();
      if ((c.type == CorrType::temporal || c.type == CorrType::temporal_ordered) && !p.have_bound) c.gte = c.n_inputs;
      c.group_fields.assign(inputs.size(), {});
      for (size_t k = 0; k < inputs.size(); ++k) {
        for (const auto& gb : c.group_by) {
          std::string field = gb;
          auto a = p.aliases.find(gb);
          if (a != p.aliases.end()) {
            auto f = a->second.find(p.refs[k]);
            if (f == a->second.end()) {
              // aliases are keyed by rule name; also accept the id
              const std::string& nm = inputs[k].first ? rs->corrs[inputs[k].second].meta.name : rs->rules[inputs[k].second].meta.name;
              f = a->second.find(nm);
            }
            if (f != a->second.end()) field = f->second;
          }
          c.group_fields[k].push_back(field);
        }
      }
      // logsource of the first base rule, for the alert category
      {
        auto first = inputs[0];
        c.meta.logsource = first.first ? rs->corrs[first.second].meta.logsource : rs->rules[first.second].meta.logsource;
      }
      c.standalone = true;
      const uint32_t idx = static_cast<uint32_t>(rs->corrs.size());
      for (size_t k = 0; k < inputs.size(); ++k) {
        auto [is_corr, j] = inputs[k];
        auto& feeds = is_corr ? rs->corrs[j].correlations : rs->rules[j].correlations;
        if (feeds.empty() || feeds.back() != idx) feeds.push_back(idx);
        // only the outermost correlation alerts, unless it says `generate: true`
        if (!p.generate) (is_corr ? rs->corrs[j].standalone : rs->rules[j].standalone) = false;
      }
      c.inputs = inputs;
      c.entry = p.entry;
      c.generate = p.generate;
      rs->corrs.push_back(std::move(c));
      final_index[i] = idx;
      state[i] = 2;
      report.entries[p.entry].loaded = true;
      return true;
    };
    for (size_t i = 0; i < pending.size(); ++i) visit(i);
  }

  // Sigma filters: each referenced rule's condition becomes `(condition) and not (filter
  // condition)`, for the rules whose logsource has every key the filter sets. A filter that
  // does not compile is skipped for all its rules (never half-applied).
  void apply_filters() {
    for (auto& f : filters) {
      {
        Rule probe;
        std::vector<PcreTest> pcres;
        std::vector<std::string> notes;
        RuleBuilder b(probe, pcres, notes);
        if (auto sk = b.build(f.filter, true)) {
          mark_skipped(f.entry, *sk);
          continue;
        }
      }
      auto& e = report.entries[f.entry];
      e.loaded = true;
      std::vector<std::string> applied, missing, other_source;
      for (const auto& ref : f.refs) {
        bool found = false;
        for (auto& r : rs->rules) {
          if (r.meta.id != ref && r.meta.name != ref) continue;
          found = true;
          const auto& ls = r.meta.logsource;
          if ((!f.logsource.product.empty() && f.logsource.product != ls.product) ||
              (!f.logsource.service.empty() && f.logsource.service != ls.service) ||
              (!f.logsource.category.empty() && f.logsource.category != ls.category)) {
            other_source.push_back(ref);
            continue;
          }
          const uint32_t old_root = r.root;
          std::vector<PcreTest> pcres;
          std::vector<std::string> notes;
          RuleBuilder b(r, pcres, notes);
          if (b.build(f.filter, true)) continue;  // cannot happen: the probe built
          const uint32_t base = static_cast<uint32_t>(rs->pcres.size());
          for (size_t li = 0; li < r.leaves.size(); ++li)
            if (r.leaves[li].kind == LeafKind::pcre && li >= r.filter_leaf_start) r.leaves[li].pcre_index += base;
          for (auto& p : pcres) rs->pcres.push_back(std::move(p));
          r.filter_leaf_start = r.leaves.size();
          Node n_not;
          n_not.op = Op::not_;
          n_not.kids = {r.root};
          r.nodes.push_back(std::move(n_not));
          Node n_and;
          n_and.op = Op::and_;
          n_and.kids = {old_root, static_cast<uint32_t>(r.nodes.size() - 1)};
          r.nodes.push_back(std::move(n_and));
          r.root = static_cast<uint32_t>(r.nodes.size() - 1);
          r.always_evaluate = tri_eval(r, r.root) != Tri::f;
          applied.push_back(ref);
        }
        if (!found) missing.push_back(ref);
      }
      auto join = [](const std::vector<std::string>& v) {
        std::string s;
        for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
        return s;
      };
      if (!applied.empty()) e.notes.push_back("filter applied to " + join(applied));
      if (!missing.empty()) e.notes.push_back("filter rules not loaded: " + join(missing));
      if (!other_source.empty()) e.notes.push_back("filter logsource differs from rules: " + join(other_source));
    }
  }

  // Groups, tests and databases for the live rules. On a database Hyperscan refuses as a
  // whole (resource limits), the patterns it refuses alone are found, the rules using
  // them are skipped with the reason, and the build starts again without them.
  Status build_groups() {
    for (int attempt = 0; attempt < 16; ++attempt) {
      rs->groups.clear();
      rs->max_tests = 0;
      rs->other_tests = 0;
      rs->proto = hs::Scratch();
      std::map<std::string, uint32_t> gidx;
      for (uint32_t i = 0; i < rs->rules.size(); ++i) {
        auto& r = rs->rules[i];
        if (r.dead) continue;
        const auto& ls = r.meta.logsource;
        std::string key = ls.product + '\x1f' + ls.service + '\x1f' + ls.category;
        auto [it, fresh] = gidx.emplace(key, static_cast<uint32_t>(rs->groups.size()));
        if (fresh) {
          Group g;
          g.product = ls.product;
          g.service = ls.service;
          g.category = ls.category;
          rs->groups.push_back(std::move(g));
        }
        r.group = it->second;
        auto& g = rs->groups[r.group];
        g.rules.push_back(i);
        if (r.always_evaluate) g.always.push_back(i);
      }
      // tests, deduplicated per group
      std::vector<std::unordered_map<std::string, uint32_t>> keys(rs->groups.size());
      for (uint32_t i = 0; i < rs->rules.size(); ++i) {
        auto& r = rs->rules[i];
        if (r.dead) continue;
        auto& g = rs->groups[r.group];
        for (auto& l : r.leaves) {
          if (l.kind == LeafKind::pcre) continue;  // counted by info() from pcres
          if (l.kind != LeafKind::hs) {
            ++rs->other_tests;
            continue;
          }
          std::string key = l.field + '\0' + l.expr + '\0' + std::to_string(l.hs_flags);
          auto [it, fresh] = keys[r.group].emplace(key, static_cast<uint32_t>(g.tests.size()));
          if (fresh) {
            HsTest t;
            t.field = l.field;
            t.expression = l.expr;
            t.flags = l.hs_flags;
            g.tests.push_back(std::move(t));
          }
          l.hs_id = it->second;
          auto& users = g.tests[l.hs_id].rules;
          if (users.empty() || users.back() != i) users.push_back(i);
        }
      }
      // one database per (group, field)
      bool retry = false;
      for (auto& g : rs->groups) {
        rs->max_tests = std::max(rs->max_tests, g.tests.size());
        std::map<std::string, std::vector<uint32_t>> by_field;
        for (uint32_t t = 0; t < g.tests.size(); ++t) by_field[g.tests[t].field].push_back(t);
        for (auto& [field, ids] : by_field) {
          std::vector<hs::Pattern> pats;
          for (auto id : ids) pats.push_back({g.tests[id].expression, g.tests[id].flags, id});
          auto db = hs::compile(pats);
          if (!db.ok()) {
            size_t killed = 0;
            for (auto& p : pats) {
              auto one = hs::compile({p});
              if (one.ok()) continue;
              for (auto ri : g.tests[p.id].rules) {
                auto& r = rs->rules[ri];
                if (r.dead) continue;
                r.dead = true;
                ++killed;
                mark_skipped(r.entry, skip("hyperscan:refused",
                                           "Hyperscan refuses the test /" + p.expression + "/ on '" + field +
                                               "': " + one.error().message,
                                           r.meta.line));
              }
            }
            if (killed == 0)
              return make_error(ErrorCode::resource_exhausted, "sigma: Hyperscan database for field '" + field +
                                                                   "' of logsource " + g.product + "/" + g.service + "/" +
                                                                   g.category + ": " + db.error().message);
            retry = true;
            break;
          }
          auto st = rs->proto.allocate_for(*db);
          if (!st.ok()) return st.error();
          FieldDb f;
          f.field = field;
          f.db = std::move(*db);
          f.ids = ids;
          g.dbs.push_back(std::move(f));
        }
        if (retry) break;
      }
      if (!retry) return {};
    }
    return make_error(ErrorCode::resource_exhausted, "sigma: Hyperscan refused the databases 16 times");
  }

  // Correlations that lost an input (a rule Hyperscan refused) are skipped too; who stays
  // quiet (inputs of live correlations without `generate`) is recomputed.
  void settle_correlations() {
    for (auto& c : rs->corrs) {
      if (c.dead) continue;
      for (auto [is_corr, j] : c.inputs) {
        if (is_corr ? rs->corrs[j].dead : rs->rules[j].dead) {
          c.dead = true;
          mark_skipped(c.entry, skip("correlation:missing-rule", "a referenced rule was skipped", c.meta.line));
          break;
        }
      }
    }
    for (auto& r : rs->rules) r.standalone = true;
    for (auto& c : rs->corrs) c.standalone = true;
    for (auto& c : rs->corrs) {
      if (c.dead || c.generate) continue;
      for (auto [is_corr, j] : c.inputs) (is_corr ? rs->corrs[j].standalone : rs->rules[j].standalone) = false;
    }
  }

  Status build() {
    apply_filters();
    resolve_correlations();
    if (auto st = build_groups(); !st.ok()) return st;
    settle_correlations();
    for (auto& r : rs->rules)
      if (!r.dead) rs->metas.push_back(r.meta);
    for (auto& c : rs->corrs)
      if (!c.dead) rs->metas.push_back(c.meta);
    rs->opts = opts;
    return {};
  }
};

void finish_report(LoadReport& report) {
  report.loaded = report.skipped = 0;
  for (auto& e : report.entries) (e.loaded ? report.loaded : report.skipped)++;
}

}  // namespace

Result<std::shared_ptr<const Ruleset>> load_sigma(const std::vector<std::string>& paths, LoadReport& report,
                                                  const LoadOptions& opts) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) return make_error(ErrorCode::not_found, p + ": no such file or directory");
    if (fs::is_directory(st)) {
      std::vector<std::string> found;
      fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec), end;
      if (ec) return make_error(ErrorCode::io_error, p + ": " + ec.message());
      for (; it != end; it.increment(ec)) {
        if (ec) return make_error(ErrorCode::io_error, p + ": " + ec.message());
        if (!it->is_regular_file(ec)) continue;
        auto ext = it->path().extension().string();
        if (ext == ".yml" || ext == ".yaml") found.push_back(it->path().string());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(p);
    }
  }
  Loader L(opts, report);
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      ++report.files;
      report.file_errors.push_back(f + ": cannot open file");
      continue;
    }
    std::error_code ec;
    auto size = fs::file_size(f, ec);
    if (!ec && size > opts.max_file_bytes) {
      ++report.files;
      report.file_errors.push_back(f + ": " + std::to_string(size) + " bytes is over the limit of " +
                                   std::to_string(opts.max_file_bytes) + " for a rule file");
      continue;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    L.load_text(ss.str(), f);
  }
  Status st;
  try {
    st = L.build();
  } catch (const std::exception& e) {
    st = make_error(ErrorCode::internal, std::string("sigma: ") + e.what());
  }
  finish_report(report);
  if (!st.ok()) return st.error();
  return std::shared_ptr<const Ruleset>(std::move(L.rs));
}

Result<std::shared_ptr<const Ruleset>> load_sigma_from_string(const std::string& text, const std::string& name,
                                                              LoadReport& report, const LoadOptions& opts) {
  Loader L(opts, report);
  L.load_text(text, name);
  Status st;
  try {
    st = L.build();
  } catch (const std::exception& e) {
    st = make_error(ErrorCode::internal, std::string("sigma: ") + e.what());
  }
  finish_report(report);
  if (!st.ok()) return st.error();
  return std::shared_ptr<const Ruleset>(std::move(L.rs));
}

}  // namespace halong::detect::sigma
