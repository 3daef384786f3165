// Matcher: per-thread evaluation of events against a Ruleset, and correlation state.
#include <algorithm>
#include <climits>
#include <cstring>
#include <deque>
#include <list>
#include <unordered_map>

#include "core/detect/sigma/engine.hpp"
#include "core/detect/sigma/internal.hpp"
#include "core/detect/sigma/values.hpp"

namespace halong::detect::sigma {

using namespace detail;

namespace {

constexpr int64_t kNone = INT64_MIN;

struct GroupState {
  int64_t last_ts = 0;
  std::deque<int64_t> times;                        // event_count: timestamps in the window
  std::unordered_map<std::string, int64_t> values;  // value_count: value -> last time seen
  std::vector<int64_t> last;                        // temporal: last time per input; ordered: chain start per step
  std::vector<std::pair<std::string, std::string>> group;
  std::list<std::string>::iterator lru;
};

struct CorrState {
  std::unordered_map<std::string, GroupState> groups;
  std::list<std::string> lru;  // least recently updated first
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

}  // namespace

struct Matcher::Impl {
  std::shared_ptr<const Ruleset> rs;
  hs::Scratch scratch;
  pcre2_match_data* md = nullptr;
  pcre2_match_context* mctx = nullptr;
  MatcherStats stats;

  std::vector<uint8_t> hit;
  std::vector<uint32_t> touched;
  std::vector<uint32_t> stamp;  // per rule: epoch when it became a candidate
  uint32_t epoch = 0;
  std::vector<uint32_t> cands;

  struct CacheEntry {
    std::string product, service, category;
    std::vector<uint32_t> groups;
  };
  std::vector<CacheEntry> cache;
  std::vector<CorrState> corr;

  const logs::LogEvent* ev = nullptr;
  const Group* g = nullptr;

  explicit Impl(std::shared_ptr<const Ruleset> r) : rs(std::move(r)) {
    if (!rs) rs = std::make_shared<const Ruleset>();
    auto s = rs->proto.clone();
    if (s.ok()) scratch = std::move(*s);  // on failure scans are counted as errors
    md = pcre2_match_data_create(1, nullptr);
    mctx = pcre2_match_context_create(nullptr);
    if (mctx) {
      pcre2_set_match_limit(mctx, 100000);
      pcre2_set_depth_limit(mctx, 1000);
    }
    hit.assign(rs->max_tests, 0);
    stamp.assign(rs->rules.size(), 0);
    corr.resize(rs->corrs.size());
  }
  ~Impl() {
    if (md) pcre2_match_data_free(md);
    if (mctx) pcre2_match_context_free(mctx);
  }

  const std::vector<uint32_t>& groups_for(const logs::LogSource* src) {
    static const logs::LogSource empty;
    const logs::LogSource& s = src ? *src : empty;
    for (const auto& c : cache)
      if (c.product == s.product && c.service == s.service && c.category == s.category) return c.groups;
    if (cache.size() >= 64) cache.clear();
    CacheEntry e{s.product, s.service, s.category, {}};
    for (uint32_t i = 0; i < rs->groups.size(); ++i) {
      const auto& gr = rs->groups[i];
      if ((gr.product.empty() || gr.product == s.product) && (gr.service.empty() || gr.service == s.service) &&
          (gr.category.empty() || gr.category == s.category))
        e.groups.push_back(i);
    }
    cache.push_back(std::move(e));
    return cache.back().groups;
  }

  void candidate(uint32_t r) {
    if (stamp[r] != epoch) {
      stamp[r] = epoch;
      cands.push_back(r);
    }
  }

  static int on_match(unsigned id, unsigned long long, unsigned long long, unsigned, void* ctx) {
    auto* im = static_cast<Impl*>(ctx);
    if (id < im->hit.size() && !im->hit[id]) {
      im->hit[id] = 1;
      im->touched.push_back(id);
      for (auto r : im->g->tests[id].rules) im->candidate(r);
    }
    return 0;
  }

  bool eval_leaf(const Leaf& l) {
    if (l.kind == LeafKind::hs) return l.negate ? !hit[l.hs_id] : hit[l.hs_id];
    if (l.kind == LeafKind::constant) return !l.negate;
    std::string_view val;
    bool present = false;
    if (l.field.empty()) {
      val = ev->raw;
      present = true;
    } else if (const std::string* f = ev->field(l.field)) {
      val = *f;
      present = true;
    }
    bool v = false;
    switch (l.kind) {
      case LeafKind::empty: v = present && val.empty(); break;
      case LeafKind::null: v = !present; break;
      case LeafKind::exists: v = present; break;
      case LeafKind::numeric: {
        double x = 0;
        if (present && parse_number(trim(val), x)) {
          switch (l.op) {
            case '<': v = x < l.number; break;
            case 'l': v = x <= l.number; break;
            case '>': v = x > l.number; break;
            default: v = x >= l.number; break;
          }
        }
        break;
      }
      case LeafKind::cidr: {
        bool v6 = false;
        std::array<uint8_t, 16> a{};
        v = present && parse_ip(trim(val), v6, a) && in_net(l.net, v6, a);
        break;
      }
      case LeafKind::fieldref: {
        const std::string* other = ev->field(l.ref_field);
        v = present && other && (l.cased ? val == std::string_view(*other) : iequals(val, *other));
        break;
      }
      case LeafKind::pcre: {
        if (present && md && l.pcre_index < rs->pcres.size()) {
          int rc = pcre2_match(rs->pcres[l.pcre_index].code.get(), reinterpret_cast<PCRE2_SPTR>(val.data()), val.size(), 0,
                               0, md, mctx);
          if (rc >= 0) v = true;
          else if (rc != PCRE2_ERROR_NOMATCH) ++stats.pcre_errors;
        }
        break;
      }
      default: break;
    }
    return l.negate ? !v : v;
  }

  bool eval(const Rule& r, uint32_t i) {
    const Node& n = r.nodes[i];
    switch (n.op) {
      case Op::constant: return n.value;
      case Op::leaf: return eval_leaf(r.leaves[n.leaf]);
      case Op::not_: return !eval(r, n.kids[0]);
      case Op::and_:
        for (auto k : n.kids)
          if (!eval(r, k)) return false;
        return true;
      case Op::or_:
        for (auto k : n.kids)
          if (eval(r, k)) return true;
        return false;
      case Op::at_least: {
        uint32_t c = 0;
        for (auto k : n.kids)
          if (eval(r, k) && ++c >= n.threshold) return true;
        return false;
      }
    }
    return false;
  }

  void evaluate(const logs::LogEvent& e, std::vector<Match>& out) {
    ++stats.events;
    ev = &e;
    const auto& gs = groups_for(e.source);
    for (auto gi : gs) {
      g = &rs->groups[gi];
      if (++epoch == 0) {
        std::fill(stamp.begin(), stamp.end(), 0);
        epoch = 1;
      }
      cands.clear();
      for (const auto& db : g->dbs) {
        std::string_view v;
        if (db.field.empty()) {
          v = e.raw;
        } else if (const std::string* f = e.field(db.field)) {
          v = *f;
        } else {
          continue;
        }
        if (v.empty()) continue;
        ++stats.scans;
        const unsigned len = static_cast<unsigned>(std::min<size_t>(v.size(), UINT_MAX));
        if (!scratch.get() || hs_scan(db.db.get(), v.data(), len, 0, scratch.get(), &Impl::on_match, this) != HS_SUCCESS)
          ++stats.scan_errors;
      }
      for (auto r : g->always) candidate(r);
      // rules in load order, so output order is stable
      if (cands.size() > 1) std::sort(cands.begin(), cands.end());
      for (auto ri : cands) {
        const Rule& r = rs->rules[ri];
        if (!eval(r, r.root)) continue;
        ++stats.rule_matches;
        if (r.standalone) {
          Match m;
          m.rule = &r.meta;
          m.ts_us = e.ts_us;
          out.push_back(std::move(m));
        }
        for (auto c : r.correlations) feed(c, false, ri, out, 0);
      }
      for (auto t : touched) hit[t] = 0;
      touched.clear();
    }
    ev = nullptr;
    g = nullptr;
  }

  GroupState& group_state(uint32_t ci, std::string key, int64_t ts, const Correlation& c) {
    auto& cs = corr[ci];
    auto it = cs.groups.find(key);
    if (it != cs.groups.end()) {
      cs.lru.splice(cs.lru.end(), cs.lru, it->second.lru);
      return it->second;
    }
    while (cs.groups.size() >= rs->opts.correlation_max_groups && !cs.lru.empty()) {
      auto old = cs.groups.find(cs.lru.front());
      if (old != cs.groups.end()) {
        if (old->second.last_ts >= ts - c.timespan_us) ++stats.correlation_groups_evicted;
        cs.groups.erase(old);
      }
      cs.lru.pop_front();
    }
    cs.lru.push_back(key);
    auto& st = cs.groups[std::move(key)];
    st.lru = std::prev(cs.lru.end());
    return st;
  }

  void feed(uint32_t ci, bool from_corr, uint32_t from, std::vector<Match>& out, int depth) {
    if (depth > 16) return;
    const Correlation& c = rs->corrs[ci];
    if (c.dead) return;
    const int64_t ts = ev->ts_us;
    for (size_t k = 0; k < c.inputs.size(); ++k) {
      if (c.inputs[k].first != from_corr || c.inputs[k].second != from) continue;
      std::string key;
      std::vector<std::pair<std::string, std::string>> group;
      for (size_t j = 0; j < c.group_fields[k].size(); ++j) {
        const std::string* v = ev->field(c.group_fields[k][j]);
        std::string val = v ? *v : std::string();
        key += val;
        key.push_back('\x1f');
        group.emplace_back(c.group_by[j], std::move(val));
      }
      GroupState& st = group_state(ci, std::move(key), ts, c);
      st.last_ts = ts;
      bool fired = false;
      uint64_t count = 0;
      const int64_t from_ts = ts - c.timespan_us;
      switch (c.type) {
        case CorrType::event_count: {
          st.times.push_back(ts);
          while (!st.times.empty() && st.times.front() < from_ts) st.times.pop_front();
          while (st.times.size() > rs->opts.correlation_max_values) {
            st.times.pop_front();
            ++stats.correlation_values_evicted;
          }
          if (st.times.size() >= c.gte) {
            fired = true;
            count = st.times.size();
            st.times.clear();
          }
          break;
        }
        case CorrType::value_count: {
          std::string value;
          bool any = false;
          for (size_t j = 0; j < c.value_fields.size(); ++j) {
            const std::string* v = ev->field(c.value_fields[j]);
            if (v) any = true;
            if (j) value.push_back('\x1f');
            if (v) value += *v;
          }
          if (!any) break;  // like count(distinct): events without the field do not count
          st.values[value] = ts;
          if (st.values.size() >= c.gte || st.values.size() > rs->opts.correlation_max_values) {
            for (auto it = st.values.begin(); it != st.values.end();)
              it = it->second < from_ts ? st.values.erase(it) : std::next(it);
          }
          while (st.values.size() > rs->opts.correlation_max_values) {
            auto oldest = std::min_element(st.values.begin(), st.values.end(),
                                           [](auto& a, auto& b) { return a.second < b.second; });
            st.values.erase(oldest);
            ++stats.correlation_values_evicted;
          }
          if (st.values.size() >= c.gte) {
            fired = true;
            count = st.values.size();
            st.values.clear();
          }
          break;
        }
        case CorrType::temporal: {
          if (st.last.size() != c.inputs.size()) st.last.assign(c.inputs.size(), kNone);
          st.last[k] = ts;
          uint64_t n = 0;
          for (auto t : st.last)
            if (t != kNone && t >= from_ts) ++n;
          if (n >= c.gte) {
            fired = true;
            count = n;
            st.last.assign(c.inputs.size(), kNone);
          }
          break;
        }
        case CorrType::temporal_ordered: {
          if (st.last.size() != c.inputs.size()) st.last.assign(c.inputs.size(), kNone);
          if (k == 0) {
            st.last[0] = ts;
          } else if (st.last[k - 1] != kNone && st.last[k - 1] >= from_ts) {
            st.last[k] = st.last[k - 1];
          }
          if (st.last.back() != kNone && st.last.back() >= from_ts) {
            fired = true;
            count = c.inputs.size();
            st.last.assign(c.inputs.size(), kNone);
          }
          break;
        }
      }
      if (!fired) continue;
      ++stats.correlation_matches;
      if (c.standalone) {
        Match m;
        m.rule = &c.meta;
        m.ts_us = ts;
        m.correlation = true;
        m.count = count;
        m.group = group;
        out.push_back(std::move(m));
      }
      for (auto dep : c.correlations) feed(dep, true, ci, out, depth + 1);
    }
  }
};

Matcher::Matcher(std::shared_ptr<const Ruleset> rs) : impl_(std::make_unique<Impl>(std::move(rs))) {}
Matcher::~Matcher() = default;
Matcher::Matcher(Matcher&&) noexcept = default;
Matcher& Matcher::operator=(Matcher&&) noexcept = default;

void Matcher::evaluate(const logs::LogEvent& ev, std::vector<Match>& out) { impl_->evaluate(ev, out); }
const MatcherStats& Matcher::stats() const { return impl_->stats; }
const Ruleset& Matcher::ruleset() const { return *impl_->rs; }

}  // namespace halong::detect::sigma
