// Loading: files -> parsed rules -> ordered ruleset -> rule groups with one Hyperscan
// literal database of fast patterns each (cached on disk).
#include <malloc.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <tuple>
#include <sstream>

#include "core/detect/net/ruleset_impl.hpp"

namespace halong::detect::net {

namespace fs = std::filesystem;

// ---------------------------------------------------------------- LoadReport

size_t LoadReport::loaded() const {
  size_t n = 0;
  for (auto& f : files) n += f.loaded;
  return n;
}
size_t LoadReport::skipped() const {
  size_t n = 0;
  for (auto& f : files) n += f.skipped;
  return n;
}
size_t LoadReport::error_count() const {
  size_t n = errors.size();
  for (auto& f : files) n += f.errors.size();
  return n;
}
std::map<std::string, size_t> LoadReport::skipped_by_keyword() const {
  std::map<std::string, size_t> m;
  for (auto& f : files)
    for (auto& [k, v] : f.skipped_by_keyword) m[k] += v;
  return m;
}

namespace {
std::string keyword_counts(const std::map<std::string, size_t>& m) {
  std::vector<std::pair<std::string, size_t>> v(m.begin(), m.end());
  std::stable_sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second > b.second; });
  std::string s;
  for (auto& [k, n] : v) s += "      " + k + ": " + std::to_string(n) + "\n";
  return s;
}

std::string report_text(const LoadReport& r, bool verbose) {
  std::string s;
  for (const auto& f : r.files) {
    s += f.path + ": " + std::to_string(f.loaded) + " loaded, " + std::to_string(f.skipped) + " skipped, " +
         std::to_string(f.errors.size()) + " errors\n";
    if (!f.skipped_by_keyword.empty()) {
      s += "    skipped by keyword:\n" + keyword_counts(f.skipped_by_keyword);
    }
    if (verbose)
      for (auto& d : f.skip_details) s += "    " + d + "\n";
    for (auto& e : f.errors) s += "    error: " + e + "\n";
  }
  for (auto& e : r.errors) s += "error: " + e + "\n";
  s += "total: " + std::to_string(r.files.size()) + " files, " + std::to_string(r.loaded()) + " rules loaded, " +
       std::to_string(r.skipped()) + " skipped, " + std::to_string(r.error_count()) + " errors\n";
  auto kw = r.skipped_by_keyword();
  if (!kw.empty()) s += "  skipped by keyword (a rule counts under each unsupported keyword it uses):\n" + keyword_counts(kw);
  if (r.fast_patterns || r.groups)
    s += "  " + std::to_string(r.groups) + " rule groups, " + std::to_string(r.fast_patterns) + " fast patterns, " +
         std::to_string(r.database_bytes) + " bytes of Hyperscan databases, compiled in " +
         std::to_string(static_cast<long>(r.compile_ms)) + " ms" + (r.cache_hit ? " (from cache)" : "") + "\n";
  return s;
}
}  // namespace

std::string LoadReport::to_text() const { return report_text(*this, false); }
std::string LoadReport::to_text_verbose() const { return report_text(*this, true); }

// ---------------------------------------------------------------- Ruleset

Ruleset::Ruleset(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ruleset::~Ruleset() = default;
size_t Ruleset::size() const { return impl_->rules.size(); }
const RuleMeta& Ruleset::meta(size_t i) const { return impl_->rules[i]->meta; }
const RuleMeta* Ruleset::find_sid(uint64_t sid, uint32_t gid) const {
  for (auto& r : impl_->rules)
    if (r->meta.sid == sid && r->meta.gid == gid) return &r->meta;
  return nullptr;
}
RulesetStats Ruleset::stats() const { return impl_->stats; }

// ---------------------------------------------------------------- to_alert_info

halong::AlertInfo to_alert_info(const RuleMeta& r) {
  halong::AlertInfo a;
  a.action = (r.action == "drop" || r.action == "reject") ? "blocked" : "allowed";
  a.gid = r.gid;
  a.signature_id = r.sid;
  a.rev = r.rev;
  a.signature = r.msg;
  a.category = r.category;
  a.severity = r.priority;
  a.engine = "suricata";
  for (const auto& m : r.metadata) {
    auto sp = m.find(' ');
    std::string k = sp == std::string::npos ? m : m.substr(0, sp);
    std::string v = sp == std::string::npos ? "" : m.substr(sp + 1);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    a.metadata[k].push_back(v);
  }
  a.references = r.references;
  if (!r.classtype.empty()) a.tags.push_back(r.classtype);
  return a;
}

// ---------------------------------------------------------------- loading

namespace {

std::string trim_copy(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

struct Loader {
  const LoadOptions& opts;
  LoadReport& report;
  VarResolver vars;
  std::map<std::string, std::pair<std::string, int>> classes;
  std::map<std::string, uint32_t> flowbit_ids;
  std::vector<std::unique_ptr<Rule>> rules;
  std::map<std::pair<uint32_t, uint64_t>, std::string> seen;  // (gid,sid) -> file:line

  static std::map<std::string, std::string> merged(std::map<std::string, std::string> defaults,
                                                   const std::map<std::string, std::string>& given) {
    for (auto& [k, v] : given) defaults[k.starts_with("$") ? k.substr(1) : k] = v;
    return defaults;
  }

  Loader(const LoadOptions& o, LoadReport& r)
      : opts(o), report(r), vars(merged(default_address_vars(), o.address_vars), merged(default_port_vars(), o.port_vars)) {}

  Status init() {
    std::string text = builtin_classification_config(), name = "builtin classification.config";
    if (!opts.classification_file.empty()) {
      std::ifstream in(opts.classification_file, std::ios::binary);
      if (!in) return make_error(ErrorCode::io_error, "cannot read classification file '" + opts.classification_file + "'");
      std::stringstream ss;
      ss << in.rdbuf();
      text = ss.str();
      name = opts.classification_file;
    }
    auto c = parse_classification(text, name);
    if (!c) return c.error();
    classes = std::move(*c);
    return {};
  }

  void load_text(const std::string& text, const std::string& name) {
    FileReport fr;
    fr.path = name;
    ParseContext ctx{&vars, &classes, &flowbit_ids};
    size_t pos = 0, line_no = 0;
    std::string pending;
    size_t pending_line = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      std::string_view line = std::string_view(text).substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? text.size() : nl + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (pending.empty()) pending_line = line_no;
      if (!line.empty() && line.back() == '\\') {  // continuation
        pending.append(line.substr(0, line.size() - 1));
        continue;
      }
      pending.append(line);
      std::string rule_text = trim_copy(pending);
      pending.clear();
      if (rule_text.empty() || rule_text[0] == '#') continue;
      std::string where = name + ":" + std::to_string(pending_line);
      if (rule_text.size() > 64 * 1024) {
        fr.errors.push_back(where + ": rule longer than 64 KiB");
        continue;
      }
      ParseOutcome o = parse_rule(rule_text, ctx);
      if (!o.error.empty()) {
        fr.errors.push_back(where + ": " + o.error);
        continue;
      }
      if (!o.unsupported.empty()) {
        ++fr.skipped;
        std::string kws;
        for (auto& k : o.unsupported) {
          ++fr.skipped_by_keyword[k];
          kws += (kws.empty() ? "" : ", ") + k;
        }
        std::string sid = "?";
        if (auto p = rule_text.find("sid:"); p != std::string::npos) {
          auto e = rule_text.find(';', p);
          sid = trim_copy(std::string_view(rule_text).substr(p + 4, e == std::string::npos ? 0 : e - p - 4));
        }
        fr.skip_details.push_back(where + ": sid " + sid + " skipped: unsupported " + kws);
        continue;
      }
      auto key = std::make_pair(o.rule->meta.gid, o.rule->meta.sid);
      if (auto it = seen.find(key); it != seen.end()) {
        fr.errors.push_back(where + ": duplicate sid " + std::to_string(key.second) + " (first defined at " + it->second + ")");
        continue;
      }
      seen[key] = where;
      o.rule->meta.file = name;
      o.rule->meta.line = pending_line;
      o.rule->load_index = rules.size();
      rules.push_back(std::move(o.rule));
      ++fr.loaded;
    }
    report.files.push_back(std::move(fr));
  }

  Status load_path(const std::string& path) {
    std::error_code ec;
    std::vector<std::string> files;
    if (fs::is_directory(path, ec)) {
      for (auto& e : fs::directory_iterator(path, ec))
        if (e.is_regular_file() && e.path().extension() == ".rules") files.push_back(e.path().string());
      std::sort(files.begin(), files.end());
    } else if (fs::exists(path, ec)) {
      files.push_back(path);
    } else {
      return make_error(ErrorCode::not_found, "rules path '" + path + "' does not exist");
    }
    for (auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      if (!in) {
        report.errors.push_back("cannot read '" + f + "'");
        continue;
      }
      std::stringstream ss;
      ss << in.rdbuf();
      load_text(ss.str(), f);
    }
    return {};
  }

  // threshold.config: suppress / threshold / event_filter lines.
  void apply_threshold_config() {
    const std::string& text = opts.threshold_config;
    size_t pos = 0, line_no = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      std::string line = trim_copy(std::string_view(text).substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
      pos = nl == std::string::npos ? text.size() : nl + 1;
      ++line_no;
      if (line.empty() || line[0] == '#') continue;
      std::string where = opts.threshold_config_name + ":" + std::to_string(line_no) + ": ";
      auto sp = line.find(' ');
      std::string kind = line.substr(0, sp);
      if (kind != "suppress" && kind != "threshold" && kind != "event_filter") {
        report.errors.push_back(where + "unknown directive '" + kind + "' (expected suppress, threshold or event_filter)");
        continue;
      }
      std::map<std::string, std::string> kv;
      std::string rest = sp == std::string::npos ? "" : line.substr(sp + 1);
      bool bad = false;
      size_t p = 0;
      while (p <= rest.size()) {
        size_t c = rest.find(',', p);
        std::string item = trim_copy(std::string_view(rest).substr(p, c == std::string::npos ? std::string::npos : c - p));
        p = c == std::string::npos ? rest.size() + 1 : c + 1;
        if (item.empty()) continue;
        auto s2 = item.find(' ');
        if (s2 == std::string::npos) {
          bad = true;
          break;
        }
        kv[item.substr(0, s2)] = trim_copy(std::string_view(item).substr(s2 + 1));
      }
      if (bad || !kv.count("gen_id") || !kv.count("sig_id")) {
        report.errors.push_back(where + "expected 'gen_id G, sig_id S, ...'");
        continue;
      }
      uint64_t gid = 0, sid = 0;
      try {
        gid = std::stoull(kv["gen_id"]);
        sid = std::stoull(kv["sig_id"]);
      } catch (...) {
        report.errors.push_back(where + "gen_id and sig_id must be numbers");
        continue;
      }
      std::vector<Rule*> targets;
      for (auto& r : rules)
        if ((sid == 0 || r->meta.sid == sid) && (gid == 0 || r->meta.gid == gid)) targets.push_back(r.get());
      if (kind == "suppress") {
        SuppressSpec s;
        if (kv.count("track") || kv.count("ip")) {
          if (!kv.count("track") || !kv.count("ip") || (kv["track"] != "by_src" && kv["track"] != "by_dst" && kv["track"] != "by_either")) {
            report.errors.push_back(where + "suppress with an address needs 'track by_src|by_dst|by_either, ip ADDR'");
            continue;
          }
          auto ip = vars.address(kv["ip"]);
          if (!ip) {
            report.errors.push_back(where + ip.error().message);
            continue;
          }
          s.has_ip = true;
          s.ip = std::move(*ip);
          s.track = kv["track"] == "by_dst" ? Track::by_dst : kv["track"] == "by_either" ? Track::by_both : Track::by_src;
        }
        for (auto* r : targets) r->suppress.push_back(s);
      } else {
        ThresholdSpec t;
        std::string type = kv["type"], track = kv["track"];
        if (type == "limit") t.type = ThresholdSpec::limit;
        else if (type == "threshold") t.type = ThresholdSpec::threshold;
        else if (type == "both") t.type = ThresholdSpec::both;
        else {
          report.errors.push_back(where + "type must be limit, threshold or both");
          continue;
        }
        t.track = track == "by_dst" ? Track::by_dst : track == "by_rule" ? Track::by_rule : track == "by_both" ? Track::by_both : Track::by_src;
        try {
          t.count = static_cast<uint32_t>(std::stoul(kv["count"]));
          t.seconds = static_cast<uint32_t>(std::stoul(kv["seconds"]));
        } catch (...) {
          report.errors.push_back(where + "count and seconds must be numbers");
          continue;
        }
        for (auto* r : targets) r->threshold = t;  // threshold.config overrides the rule's own
      }
    }
  }
};

int action_rank(const std::string& a) {
  // Suricata's default action-order: pass, drop, reject, alert.
  if (a == "pass") return 0;
  if (a == "drop") return 1;
  if (a == "reject") return 2;
  return 3;
}

void sha256_update(EVP_MD_CTX* c, const std::string& s) {
  uint64_t n = s.size();
  EVP_DigestUpdate(c, &n, sizeof n);
  EVP_DigestUpdate(c, s.data(), s.size());
}

}  // namespace

// Builds groups and their Hyperscan databases (or reads them from the cache).
Status build_groups(Ruleset::Impl& rs, const LoadOptions& opts);

static Result<std::shared_ptr<const Ruleset>> finish_load(Loader& L, const LoadOptions& opts, LoadReport& report) {
  L.apply_threshold_config();
  auto& rules = L.rules;
  // Evaluation order (Suricata's default orderers): action, flowbits setters before
  // readers, priority, then load order.
  std::stable_sort(rules.begin(), rules.end(), [](const std::unique_ptr<Rule>& a, const std::unique_ptr<Rule>& b) {
    int aa = action_rank(a->meta.action), ba = action_rank(b->meta.action);
    if (aa != ba) return aa < ba;
    auto fb = [](const Rule& r) { return r.sets_flowbits && !r.reads_flowbits ? 0 : r.sets_flowbits ? 1 : r.reads_flowbits ? 2 : 3; };
    int af = fb(*a), bf = fb(*b);
    if (af != bf) return af < bf;
    if (a->meta.priority != b->meta.priority) return a->meta.priority < b->meta.priority;
    return a->load_index < b->load_index;
  });
  auto impl = std::make_unique<Ruleset::Impl>();
  impl->rules = std::move(rules);
  impl->flowbit_count = L.flowbit_ids.size() + kReservedFlowbits;
  for (auto& r : impl->rules) impl->max_vars = std::max(impl->max_vars, static_cast<size_t>(r->n_vars));
  auto t0 = std::chrono::steady_clock::now();
  if (auto st = build_groups(*impl, opts); !st) return st.error();
  if (!impl->stats.cache_hit)
    impl->stats.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  impl->stats.rules = impl->rules.size();
  report.fast_patterns = impl->stats.fast_patterns;
  report.groups = impl->stats.groups;
  report.database_bytes = impl->stats.database_bytes;
  report.compile_ms = impl->stats.compile_ms;
  report.cache_hit = impl->stats.cache_hit;
  malloc_trim(0);  // hand the parse/compile scratch back to the OS: steady RSS is what operators see
  return std::shared_ptr<const Ruleset>(std::make_shared<Ruleset>(std::move(impl)));
}

Result<std::shared_ptr<const Ruleset>> load_rules(const std::vector<std::string>& paths, const LoadOptions& opts,
                                                  LoadReport& report) {
  Loader L(opts, report);
  if (auto st = L.init(); !st) return st.error();
  for (const auto& p : paths)
    if (auto st = L.load_path(p); !st) return st.error();
  return finish_load(L, opts, report);
}

Result<std::shared_ptr<const Ruleset>> load_rules_from_string(const std::string& text, const std::string& name,
                                                              const LoadOptions& opts, LoadReport& report) {
  Loader L(opts, report);
  if (auto st = L.init(); !st) return st.error();
  L.load_text(text, name);
  return finish_load(L, opts, report);
}

// ---------------------------------------------------------------- groups

namespace {

constexpr size_t kMaxPortsPerGroupKey = 64;

struct PatternKey {
  std::string bytes;
  bool nocase;
  bool operator<(const PatternKey& o) const { return std::tie(bytes, nocase) < std::tie(o.bytes, o.nocase); }
};

struct GroupBuilder {
  std::map<PatternKey, uint32_t> ids;
  std::vector<PatternKey> patterns;
  std::vector<std::vector<uint32_t>> pattern_rules;
  std::vector<uint32_t> always;
  std::vector<uint32_t> iponly;
  std::vector<uint32_t> pcre_rules;  // no fast pattern, but a pcre Hyperscan may prefilter

  void add(const Rule& r, uint32_t idx) {
    if (r.ip_only) {
      iponly.push_back(idx);
      return;
    }
    if (r.fast_content < 0) {
      if (r.prefilter_pcre >= 0) pcre_rules.push_back(idx);
      else always.push_back(idx);
      return;
    }
    const ContentSm& c = r.contents[static_cast<size_t>(r.fast_content)];
    PatternKey k{c.fp_chop_off >= 0 ? c.bytes.substr(static_cast<size_t>(c.fp_chop_off), static_cast<size_t>(c.fp_chop_len))
                                    : c.bytes,
                 c.nocase};
    auto [it, inserted] = ids.emplace(k, static_cast<uint32_t>(patterns.size()));
    if (inserted) {
      patterns.push_back(k);
      pattern_rules.emplace_back();
    }
    pattern_rules[it->second].push_back(idx);
  }
};

int choose_fast_pattern(const Rule& r) {
  if (r.buffers.empty()) return -1;
  int best = -1;
  for (const auto& sm : r.buffers[0].sms) {
    if (sm.kind != Sm::content) continue;
    const auto& c = r.contents[sm.idx];
    if (c.fast_pattern) return c.negated ? -1 : static_cast<int>(sm.idx);
  }
  for (const auto& sm : r.buffers[0].sms) {
    if (sm.kind != Sm::content) continue;
    const auto& c = r.contents[sm.idx];
    if (c.negated) continue;
    if (best < 0 || c.bytes.size() > r.contents[static_cast<size_t>(best)].bytes.size()) best = static_cast<int>(sm.idx);
  }
  return best;
}

Result<hs::Database> compile_literals(const std::vector<PatternKey>& pats) {
  std::vector<const char*> exprs;
  std::vector<size_t> lens;
  std::vector<unsigned> flags, ids;
  for (size_t i = 0; i < pats.size(); ++i) {
    exprs.push_back(pats[i].bytes.data());
    lens.push_back(pats[i].bytes.size());
    flags.push_back(HS_FLAG_SINGLEMATCH | (pats[i].nocase ? HS_FLAG_CASELESS : 0u));
    ids.push_back(static_cast<unsigned>(i));
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  if (hs_compile_lit_multi(exprs.data(), flags.data(), ids.data(), lens.data(), static_cast<unsigned>(pats.size()),
                           HS_MODE_BLOCK, nullptr, &db, &err) != HS_SUCCESS) {
    std::string m = std::string("hyperscan: ") + (err && err->message ? err->message : "compile failed");
    hs_free_compile_error(err);
    return make_error(ErrorCode::internal, m);
  }
  return hs::Database(db);
}

// The Hyperscan prefilter form of a rule's pcre, or false when Hyperscan can't take it.
// HS_FLAG_PREFILTER may over-match (verification with PCRE2 decides) but never misses.
bool pcre_prefilter(const Rule& r, hs::Pattern& out) {
  if (r.prefilter_pcre < 0) return false;
  const PcreSm& p = r.pcres[static_cast<size_t>(r.prefilter_pcre)];
  unsigned f = HS_FLAG_PREFILTER | HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY;
  for (char c : p.flags_text) {
    switch (c) {
      case 'i': f |= HS_FLAG_CASELESS; break;
      case 's': f |= HS_FLAG_DOTALL; break;
      case 'm': f |= HS_FLAG_MULTILINE; break;
      case 'B': case 'O': case 'G': case 'E': break;
      default: return false;  // x, A: no Hyperscan equivalent
    }
  }
  out.expression = p.source;
  out.flags = f;
  std::vector<hs::Pattern> one{out};
  return hs::compile(one).ok();
}

// Builds one address index from (lo, hi, rule) intervals; false when the segment lists
// would grow past `budget` entries (heavily overlapping sets: the caller lists them instead).
template <class T>
bool build_index(std::vector<std::tuple<T, T, uint32_t>>& iv, std::vector<T>& starts, std::vector<std::vector<uint32_t>>& rules,
                 size_t budget) {
  starts.clear();
  rules.clear();
  if (iv.empty()) return true;
  for (auto& [lo, hi, r] : iv) {
    starts.push_back(lo);
    if (hi != std::numeric_limits<T>::max()) starts.push_back(static_cast<T>(hi + 1));
  }
  std::sort(starts.begin(), starts.end());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  rules.resize(starts.size());
  size_t used = 0;
  for (auto& [lo, hi, r] : iv) {
    size_t a = static_cast<size_t>(std::lower_bound(starts.begin(), starts.end(), lo) - starts.begin());
    size_t b = hi == std::numeric_limits<T>::max()
                   ? starts.size()
                   : static_cast<size_t>(std::lower_bound(starts.begin(), starts.end(), static_cast<T>(hi + 1)) - starts.begin());
    for (size_t k = a; k < b; ++k) {
      if (rules[k].empty() || rules[k].back() != r) rules[k].push_back(r);
      if (++used > budget) return false;
    }
  }
  for (auto& v : rules) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    v.shrink_to_fit();
  }
  return true;
}

double addr_weight(const AddrSet& s) {
  double w = 0;
  for (auto& [lo, hi] : s.v4) w += static_cast<double>(hi - lo) + 1;
  for (auto& [lo, hi] : s.v6) w += static_cast<double>(hi - lo) / 1e28 + 1;  // IPv6 spans are scaled down
  return w;
}

void build_iponly(const Ruleset::Impl& rs, const std::vector<uint32_t>& ids, Group& G) {
  constexpr double kSelective = 1 << 24;  // a side narrower than a /8 is worth indexing
  std::vector<std::tuple<uint32_t, uint32_t, uint32_t>> s4, d4;
  std::vector<std::tuple<u128, u128, uint32_t>> s6, d6;
  std::vector<uint32_t> src_rules, dst_rules;
  for (uint32_t id : ids) {
    const Rule& r = *rs.rules[id];
    double ws = r.src_any ? 1e300 : addr_weight(r.src), wd = r.dst_any ? 1e300 : addr_weight(r.dst);
    if (r.bidirectional || std::min(ws, wd) > kSelective) {
      G.iponly.push_back(id);
      continue;
    }
    const AddrSet& side = ws <= wd ? r.src : r.dst;
    auto& v4 = ws <= wd ? s4 : d4;
    auto& v6 = ws <= wd ? s6 : d6;
    for (auto& [lo, hi] : side.v4) v4.emplace_back(lo, hi, id);
    for (auto& [lo, hi] : side.v6) v6.emplace_back(lo, hi, id);
    (ws <= wd ? src_rules : dst_rules).push_back(id);
  }
  auto finish = [&](auto& v4, auto& v6, IpIndex& ix, const std::vector<uint32_t>& rules_of_side) {
    size_t n = v4.size() + v6.size();
    size_t budget = 8 * n + 100000;
    if (!build_index(v4, ix.v4_starts, ix.v4_rules, budget) || !build_index(v6, ix.v6_starts, ix.v6_rules, budget)) {
      ix = IpIndex{};
      G.iponly.insert(G.iponly.end(), rules_of_side.begin(), rules_of_side.end());
    }
  };
  finish(s4, s6, G.iponly_by_src, src_rules);
  finish(d4, d6, G.iponly_by_dst, dst_rules);
  std::sort(G.iponly.begin(), G.iponly.end());
}

}  // namespace

void IpIndex::query(const halong::net::IpAddr& a, std::vector<uint32_t>& out) const {
  auto look = [&](const auto& starts, const auto& rules, auto x) {
    auto it = std::upper_bound(starts.begin(), starts.end(), x);
    if (it == starts.begin()) return;
    const auto& v = rules[static_cast<size_t>(it - starts.begin() - 1)];
    out.insert(out.end(), v.begin(), v.end());
  };
  if (a.version == 4 && !v4_starts.empty()) {
    uint32_t x = (uint32_t{a.bytes[0]} << 24) | (uint32_t{a.bytes[1]} << 16) | (uint32_t{a.bytes[2]} << 8) | a.bytes[3];
    look(v4_starts, v4_rules, x);
  } else if (a.version == 6 && !v6_starts.empty()) {
    u128 x = 0;
    for (int i = 0; i < 16; ++i) x = (x << 8) | a.bytes[static_cast<size_t>(i)];
    look(v6_starts, v6_rules, x);
  }
}

Status build_groups(Ruleset::Impl& rs, const LoadOptions& opts) {
  // Group keys: proto class x (any | dport P | sport P).
  std::vector<GroupBuilder> builders;
  std::vector<std::string> keys;  // for the cache hash and debugging
  auto group_of = [&](ProtoGroups& pg, int kind, uint16_t port, const std::string& name) -> GroupBuilder& {
    uint32_t* slot = nullptr;
    if (kind == 0) slot = &pg.any;
    else {
      auto& m = kind == 1 ? pg.by_dport : pg.by_sport;
      auto it = m.find(port);
      if (it == m.end()) it = m.emplace(port, kNoGroup).first;
      slot = &it->second;
    }
    if (*slot == kNoGroup) {
      *slot = static_cast<uint32_t>(builders.size());
      builders.emplace_back();
      keys.push_back(name + (kind == 0 ? "/any" : kind == 1 ? "/dp" + std::to_string(port) : "/sp" + std::to_string(port)));
    }
    return builders[*slot];
  };
  for (uint32_t i = 0; i < rs.rules.size(); ++i) {
    Rule& r = *rs.rules[i];
    r.fast_content = choose_fast_pattern(r);
    r.prefilter_pcre = -1;
    if (r.fast_content < 0 && !r.buffers.empty())
      for (const auto& sm : r.buffers[0].sms)
        if (sm.kind == Sm::pcre && !r.pcres[sm.idx].negated && !r.pcres[sm.idx].relative) {
          r.prefilter_pcre = static_cast<int>(sm.idx);
          break;
        }
    if (r.fast_content < 0 && !r.ip_only) ++rs.stats.no_content_rules;
    if (r.ip_only) ++rs.stats.ip_only_rules;
    std::vector<std::pair<ProtoGroups*, std::string>> pgs;
    switch (r.proto) {
      case Proto::tcp: case Proto::tcp_pkt: case Proto::tcp_stream: pgs = {{&rs.tcp, "tcp"}}; break;
      case Proto::udp: pgs = {{&rs.udp, "udp"}}; break;
      case Proto::icmp: case Proto::icmpv6: case Proto::sctp: pgs = {{&rs.other, "other"}}; break;
      case Proto::ip: pgs = {{&rs.tcp, "tcp"}, {&rs.udp, "udp"}, {&rs.other, "other"}}; break;
    }
    for (auto& [pg, name] : pgs) {
      bool ported = pg != &rs.other && !r.bidirectional;
      if (ported && !r.dport_any && r.dport.count() <= kMaxPortsPerGroupKey) {
        for (auto& [lo, hi] : r.dport.r)
          for (uint32_t p = lo; p <= hi; ++p) group_of(*pg, 1, static_cast<uint16_t>(p), name).add(r, i);
      } else if (ported && !r.sport_any && r.sport.count() <= kMaxPortsPerGroupKey) {
        for (auto& [lo, hi] : r.sport.r)
          for (uint32_t p = lo; p <= hi; ++p) group_of(*pg, 2, static_cast<uint16_t>(p), name).add(r, i);
      } else {
        group_of(*pg, 0, 0, name).add(r, i);
      }
    }
  }
  // Cache key: every group's patterns, Hyperscan version and CPU features.
  std::string hex;
  {
    EVP_MD_CTX* c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), nullptr);
    sha256_update(c, hs::version_and_platform());
    sha256_update(c, "halong-net-v1");
    for (size_t g = 0; g < builders.size(); ++g) {
      sha256_update(c, keys[g]);
      for (auto& p : builders[g].patterns) sha256_update(c, p.bytes + (p.nocase ? "\x01" : "\x00"));
    }
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(c, md, &n);
    EVP_MD_CTX_free(c);
    char buf[3];
    for (unsigned i = 0; i < n; ++i) {
      std::snprintf(buf, sizeof buf, "%02x", md[i]);
      hex += buf;
    }
  }
  rs.cache_key = hex;
  // Cache file: per group [u64 literal db length][literal db][u64 n][n x u32 pcre-prefiltered
  // rule ids][u64 regex db length][regex db].
  std::string blob;
  fs::path cache_file;
  if (!opts.cache_dir.empty()) {
    cache_file = fs::path(opts.cache_dir) / ("net-" + hex + ".hsdb");
    std::ifstream in(cache_file, std::ios::binary);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      blob = ss.str();
    }
  }
  size_t bp = 0;
  bool from_cache = !blob.empty();
  auto get_u64 = [&](uint64_t& v) {
    if (!from_cache || bp + 8 > blob.size()) return from_cache = false;
    std::memcpy(&v, blob.data() + bp, 8);
    bp += 8;
    return true;
  };
  auto get_db = [&](hs::Database& db) {
    uint64_t n;
    if (!get_u64(n) || n > blob.size() - bp) return from_cache = false;
    if (n == 0) return true;
    auto d = hs::Database::deserialize(blob.substr(bp, n));
    bp += n;
    if (!d) return from_cache = false;
    db = std::move(*d);
    return true;
  };
  std::string to_cache;
  auto put_u64 = [&](uint64_t v) { to_cache.append(reinterpret_cast<const char*>(&v), 8); };
  auto put_db = [&](const hs::Database& db) {
    if (!db) return put_u64(0);
    auto ser = db.serialize();
    if (!ser) return put_u64(0);
    put_u64(ser->size());
    to_cache += *ser;
  };
  rs.groups.resize(builders.size());
  for (size_t g = 0; g < builders.size(); ++g) {
    auto& b = builders[g];
    Group& G = rs.groups[g];
    G.pattern_rules = std::move(b.pattern_rules);
    G.always = std::move(b.always);
    for (auto& v : G.pattern_rules) std::sort(v.begin(), v.end());
    build_iponly(rs, b.iponly, G);
    rs.stats.fast_patterns += b.patterns.size();
    // Literal database of fast patterns.
    if (from_cache) get_db(G.db);
    if (!from_cache && !b.patterns.empty()) {
      auto db = compile_literals(b.patterns);
      if (!db) return db.error();
      G.db = std::move(*db);
    }
    if (!b.patterns.empty() && !G.db) return make_error(ErrorCode::internal, "hyperscan: group database missing");
    // Regex prefilter database for rules whose only prefilter is a pcre.
    bool cached_re = false;
    if (from_cache) {
      uint64_t n = 0;
      if (get_u64(n) && n <= b.pcre_rules.size() && bp + n * 4 <= blob.size()) {
        for (uint64_t k = 0; k < n; ++k) {
          uint32_t id;
          std::memcpy(&id, blob.data() + bp, 4);
          bp += 4;
          G.re_rules.push_back(id);
        }
        cached_re = get_db(G.re_db);
      } else {
        from_cache = false;
      }
    }
    if (!cached_re) {
      G.re_rules.clear();
      G.re_db = hs::Database();
      std::vector<hs::Pattern> pats;
      for (uint32_t id : b.pcre_rules) {
        hs::Pattern pt;
        if (pcre_prefilter(*rs.rules[id], pt)) {
          pt.id = static_cast<unsigned>(G.re_rules.size());
          pats.push_back(std::move(pt));
          G.re_rules.push_back(id);
        }
      }
      if (!pats.empty()) {
        auto db = hs::compile(pats);
        if (!db) {  // should not happen (each compiled alone): fall back to checking always
          G.re_rules.clear();
        } else {
          G.re_db = std::move(*db);
        }
      }
    }
    for (uint32_t id : b.pcre_rules)
      if (std::find(G.re_rules.begin(), G.re_rules.end(), id) == G.re_rules.end()) G.always.push_back(id);
    std::sort(G.always.begin(), G.always.end());
    rs.stats.pcre_prefiltered += G.re_rules.size();
    rs.stats.database_bytes += G.db.size_bytes() + G.re_db.size_bytes();
    if (!opts.cache_dir.empty()) {
      put_db(G.db);
      put_u64(G.re_rules.size());
      for (uint32_t id : G.re_rules) to_cache.append(reinterpret_cast<const char*>(&id), 4);
      put_db(G.re_db);
    }
  }
  if (from_cache && bp != blob.size()) from_cache = false;
  rs.stats.cache_hit = from_cache;
  if (!from_cache && !blob.empty()) {
    // A stale or damaged cache file: rebuild everything without it.
    LoadOptions no_cache = opts;
    no_cache.cache_dir.clear();
    for (auto& G : rs.groups) G = Group{};
    rs.tcp = rs.udp = rs.other = ProtoGroups{};
    rs.stats = RulesetStats{};
    if (auto st = build_groups(rs, no_cache); !st) return st;
    blob.clear();
    to_cache.clear();
    for (auto& G : rs.groups) {
      put_db(G.db);
      put_u64(G.re_rules.size());
      for (uint32_t id : G.re_rules) to_cache.append(reinterpret_cast<const char*>(&id), 4);
      put_db(G.re_db);
    }
  }
  rs.stats.groups = builders.size();
  if (!opts.cache_dir.empty() && !rs.stats.cache_hit) {
    std::error_code ec;
    fs::create_directories(opts.cache_dir, ec);
    fs::path tmp = cache_file;
    tmp += ".tmp";
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (out && out.write(to_cache.data(), static_cast<std::streamsize>(to_cache.size())) && (out.close(), !out.fail())) {
      fs::rename(tmp, cache_file, ec);
      if (ec) spdlog::warn("detect.net: cannot store rule database cache {}: {}", cache_file.string(), ec.message());
    } else {
      spdlog::warn("detect.net: cannot write rule database cache {}", tmp.string());
    }
  }
  return {};
}

}  // namespace halong::detect::net
