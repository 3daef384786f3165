// Per-packet inspection: Hyperscan prefilter over the packet's rule groups, then full
// verification of the candidates in rule order; flowbits, IP-only once per flow
// direction, thresholds, suppress, pass, per-packet alert cap.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "core/detect/net/ruleset_impl.hpp"

namespace halong::detect::net {

namespace {

constexpr int kStepBudget = 20000;
constexpr size_t kStreamLookback = 2048;
constexpr uint32_t kPcreMatchLimit = 3500, kPcreDepthLimit = 1500;  // stream bytes before the new data that are inspected  // backtracking steps per rule and buffer (Suricata: 3000 recursions)

bool has_bit(const halong::net::FlowInfo* f, uint32_t id) {
  return f && std::find(f->flowbits.begin(), f->flowbits.end(), id) != f->flowbits.end();
}
void set_bit(halong::net::FlowInfo* f, uint32_t id) {
  if (f && !has_bit(f, id)) f->flowbits.push_back(id);
}
void unset_bit(halong::net::FlowInfo* f, uint32_t id) {
  if (!f) return;
  auto it = std::find(f->flowbits.begin(), f->flowbits.end(), id);
  if (it != f->flowbits.end()) f->flowbits.erase(it);
}

struct LowerTable {
  uint8_t t[256];
  constexpr LowerTable() : t{} {
    for (int i = 0; i < 256; ++i) t[i] = static_cast<uint8_t>(i >= 'A' && i <= 'Z' ? i + 32 : i);
  }
};
constexpr LowerTable kLower;

size_t find_bytes(const uint8_t* buf, size_t start, size_t end, const ContentSm& c) {
  const size_t n = c.bytes.size();
  if (end < start || end - start < n) return SIZE_MAX;
  if (!c.nocase) {
    const void* p = memmem(buf + start, end - start, c.bytes.data(), n);
    return p ? static_cast<size_t>(static_cast<const uint8_t*>(p) - buf) : SIZE_MAX;
  }
  const auto* pat = reinterpret_cast<const uint8_t*>(c.lower.data());
  for (size_t i = start; i + n <= end; ++i) {
    if (kLower.t[buf[i]] != pat[0]) continue;
    size_t k = 1;
    while (k < n && kLower.t[buf[i + k]] == pat[k]) ++k;
    if (k == n) return i;
  }
  return SIZE_MAX;
}

struct Verifier {
  const Rule& r;
  const uint8_t* buf;
  size_t len;
  size_t min_end;  // stream: a match must end after this (new data); 0 = no constraint
  pcre2_match_data* md;
  pcre2_match_context* mctx;
  int64_t vars[32] = {};
  int steps = 0;

  int64_t val(const VarNum& v) const { return v.var >= 0 ? vars[v.var] : v.value; }

  bool read_number(const ByteOpts& o, int64_t pos, uint64_t& out) const {
    if (pos < 0 || static_cast<uint64_t>(pos) + o.nbytes > len) return false;
    const uint8_t* p = buf + pos;
    uint64_t v = 0;
    if (o.string) {
      size_t i = 0;
      bool any = false;
      for (; i < o.nbytes; ++i) {
        int d;
        char ch = static_cast<char>(p[i]);
        if (ch >= '0' && ch <= '9') d = ch - '0';
        else if (o.base == 16 && std::isxdigit(static_cast<unsigned char>(ch))) d = std::tolower(ch) - 'a' + 10;
        else break;
        if (d >= o.base) break;
        v = v * static_cast<uint64_t>(o.base) + static_cast<uint64_t>(d);
        any = true;
      }
      if (!any) return false;
    } else if (o.endian == Endian::big) {
      for (uint32_t i = 0; i < o.nbytes; ++i) v = (v << 8) | p[i];
    } else {
      for (uint32_t i = o.nbytes; i-- > 0;) v = (v << 8) | p[i];
    }
    if (o.has_bitmask) {
      v &= o.bitmask;
      uint64_t m = o.bitmask;
      while (m && !(m & 1)) {
        m >>= 1;
        v >>= 1;
      }
    }
    out = v;
    return true;
  }

  bool next_is_relative(size_t i) const {
    const auto& sms = r.buffers[0].sms;
    if (i + 1 >= sms.size()) return false;
    const Sm& n = sms[i + 1];
    switch (n.kind) {
      case Sm::content: return r.contents[n.idx].relative();
      case Sm::pcre: return r.pcres[n.idx].relative;
      case Sm::isdataat: return r.isdataats[n.idx].relative;
      case Sm::byte_test: return r.byte_tests[n.idx].o.relative;
      case Sm::byte_jump: return r.byte_jumps[n.idx].o.relative;
      case Sm::byte_extract: return r.byte_extracts[n.idx].o.relative;
      case Sm::bsize: return false;
    }
    return false;
  }

  bool run(size_t i, size_t prev_end, size_t max_end) {
    if (++steps > kStepBudget) return false;
    const auto& sms = r.buffers[0].sms;
    if (i == sms.size()) return min_end == 0 || max_end > min_end;
    const Sm& sm = sms[i];
    switch (sm.kind) {
      case Sm::content: {
        const ContentSm& c = r.contents[sm.idx];
        const int64_t n = static_cast<int64_t>(c.bytes.size());
        int64_t start, end;
        if (c.startswith) {
          start = 0;
          end = n;
        } else if (c.relative()) {
          int64_t d = c.has_distance ? val(c.distance) : 0;
          start = static_cast<int64_t>(prev_end) + d;
          end = c.has_within ? static_cast<int64_t>(prev_end) + d + val(c.within) : static_cast<int64_t>(len);
          if (start < 0) start = 0;
        } else {
          start = c.has_offset ? val(c.offset) : 0;
          end = c.has_depth ? start + val(c.depth) : static_cast<int64_t>(len);
        }
        if (end > static_cast<int64_t>(len)) end = static_cast<int64_t>(len);
        if (c.endswith) start = std::max(start, end - n);
        if (start < 0) start = 0;
        if (c.negated) {
          if (end - start >= n && find_bytes(buf, static_cast<size_t>(start), static_cast<size_t>(end), c) != SIZE_MAX)
            return false;
          return run(i + 1, prev_end, max_end);
        }
        size_t from = static_cast<size_t>(start);
        while (true) {
          if (end - static_cast<int64_t>(from) < n) return false;
          size_t pos = find_bytes(buf, from, static_cast<size_t>(end), c);
          if (pos == SIZE_MAX) return false;
          size_t mend = pos + static_cast<size_t>(n);
          if (c.endswith && mend != len) return false;
          if (run(i + 1, mend, std::max(max_end, mend))) return true;
          if (!next_is_relative(i) && min_end == 0) return false;
          from = pos + 1;
          if (steps > kStepBudget) return false;
        }
      }
      case Sm::pcre: {
        const PcreSm& pc = r.pcres[sm.idx];
        size_t base = pc.relative ? prev_end : 0;
        if (base > len) return false;
        PCRE2_SIZE startoff = 0;
        while (true) {
          int rc = pcre2_match(pc.code.get(), buf + base, len - base, startoff, 0, md, mctx);
          if (rc < 0) return pc.negated ? run(i + 1, prev_end, max_end) : false;
          if (pc.negated) return false;
          PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
          size_t ms = base + ov[0], me = base + ov[1];
          if (run(i + 1, me, std::max(max_end, me))) return true;
          if (!next_is_relative(i) && min_end == 0) return false;
          startoff = ov[0] + 1;
          if (base + startoff > len || steps > kStepBudget) return false;
          (void)ms;
        }
      }
      case Sm::isdataat: {
        const IsDataAtSm& s = r.isdataats[sm.idx];
        // Suricata: relative = at least N more bytes after the previous match
        // (prev + N <= len); absolute = a byte exists at position N (N < len).
        int64_t at = (s.relative ? static_cast<int64_t>(prev_end) : 0) + val(s.at);
        bool has = s.relative ? (at >= 0 && at <= static_cast<int64_t>(len)) : (at >= 0 && at < static_cast<int64_t>(len));
        if (has == s.negated) return false;
        return run(i + 1, prev_end, max_end);
      }
      case Sm::bsize: {
        if (!r.bsizes[sm.idx].cmp.test(static_cast<int64_t>(len))) return false;
        return run(i + 1, prev_end, max_end);
      }
      case Sm::byte_test: {
        const ByteTestSm& b = r.byte_tests[sm.idx];
        int64_t off = b.o.offset_var >= 0 ? vars[b.o.offset_var] : b.o.offset;
        int64_t pos = (b.o.relative ? static_cast<int64_t>(prev_end) : 0) + off;
        uint64_t v;
        if (!read_number(b.o, pos, v)) return false;
        uint64_t want = b.value_var >= 0 ? static_cast<uint64_t>(vars[b.value_var]) : b.value;
        bool ok = false;
        switch (b.op) {
          case '<': ok = v < want; break;
          case '>': ok = v > want; break;
          case '=': ok = v == want; break;
          case '&': ok = (v & want) != 0; break;
          case '^': ok = (v ^ want) != 0; break;
          case 'l': ok = v <= want; break;
          case 'g': ok = v >= want; break;
        }
        if (ok == b.negated) return false;
        return run(i + 1, prev_end, max_end);
      }
      case Sm::byte_jump: {
        const ByteJumpSm& b = r.byte_jumps[sm.idx];
        int64_t off = b.o.offset_var >= 0 ? vars[b.o.offset_var] : b.o.offset;
        int64_t pos = (b.o.relative ? static_cast<int64_t>(prev_end) : 0) + off;
        uint64_t v;
        if (!read_number(b.o, pos, v)) return false;
        if (v > (1ull << 40)) return false;
        int64_t jump = static_cast<int64_t>(v) * b.multiplier;
        if (b.align && (jump % 4)) jump += 4 - (jump % 4);
        int64_t np;
        if (b.from_beginning) np = jump;
        else if (b.from_end) np = static_cast<int64_t>(len) + jump;
        else np = pos + b.o.nbytes + jump;
        np += b.post_offset;
        if (np < 0 || np >= static_cast<int64_t>(len)) return false;  // Suricata: must land inside the buffer
        return run(i + 1, static_cast<size_t>(np), max_end);
      }
      case Sm::byte_extract: {
        const ByteExtractSm& b = r.byte_extracts[sm.idx];
        int64_t pos = (b.o.relative ? static_cast<int64_t>(prev_end) : 0) + b.o.offset;
        uint64_t v;
        if (!read_number(b.o, pos, v)) return false;
        if (v > (1ull << 40)) return false;
        int64_t x = static_cast<int64_t>(v) * b.multiplier;
        if (b.align && (x % b.align)) x += b.align - (x % b.align);
        vars[b.index] = x;
        return run(i + 1, static_cast<size_t>(pos) + b.o.nbytes, max_end);
      }
    }
    return false;
  }
};

struct ThreshKey {
  uint32_t rule;
  halong::net::IpAddr a, b;
  bool operator==(const ThreshKey& o) const { return rule == o.rule && a == o.a && b == o.b; }
};
struct ThreshKeyHash {
  size_t operator()(const ThreshKey& k) const {
    size_t h = k.rule * 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 16; ++i) h = (h ^ k.a.bytes[static_cast<size_t>(i)]) * 0x100000001b3ull;
    for (int i = 0; i < 16; ++i) h = (h ^ k.b.bytes[static_cast<size_t>(i)]) * 0x100000001b3ull;
    return h;
  }
};
struct ThreshEntry {
  int64_t first_us = 0;
  uint64_t count = 0;
};

constexpr size_t kMaxThresholdEntries = 200000;

int hs_on_match(unsigned id, unsigned long long, unsigned long long, unsigned, void* ctx) {
  static_cast<std::vector<uint32_t>*>(ctx)->push_back(id);
  return 0;
}

}  // namespace

struct Matcher::State {
  std::shared_ptr<const Ruleset> rs;
  const Ruleset::Impl* I = nullptr;
  MatcherOptions opts;
  MatcherCounters counters;
  hs::Scratch scratch;
  pcre2_match_data* md = nullptr;
  pcre2_match_context* mctx = nullptr;
  std::vector<uint32_t> hits, cands, stream_cands;
  std::vector<uint32_t> matched_stamp;
  uint32_t stamp = 0;
  struct Hit {
    uint32_t idx;
    bool stream;
  };
  std::vector<Hit> matched;
  std::unordered_map<ThreshKey, ThreshEntry, ThreshKeyHash> thresholds;

  ~State() {
    if (md) pcre2_match_data_free(md);
    if (mctx) pcre2_match_context_free(mctx);
  }

  const ProtoGroups* proto_groups(uint8_t ip_proto) const {
    if (ip_proto == halong::net::ipproto::tcp) return &I->tcp;
    if (ip_proto == halong::net::ipproto::udp) return &I->udp;
    return &I->other;
  }

  void scan_groups(const halong::net::Packet& p, const ProtoGroups& pg, const uint8_t* buf, size_t len, bool iponly_run,
                   std::vector<uint32_t>& out) {
    auto one = [&](uint32_t g) {
      if (g == kNoGroup) return;
      const Group& G = I->groups[g];
      out.insert(out.end(), G.always.begin(), G.always.end());
      if (iponly_run) {
        out.insert(out.end(), G.iponly.begin(), G.iponly.end());
        G.iponly_by_src.query(p.src, out);
        G.iponly_by_dst.query(p.dst, out);
      }
      if (len == 0 || !buf) return;
      if (G.db) {
        hits.clear();
        ++counters.scans;
        if (hs_scan(G.db.get(), reinterpret_cast<const char*>(buf), static_cast<unsigned>(len), 0, scratch.get(),
                    hs_on_match, &hits) == HS_SUCCESS) {
          for (uint32_t id : hits) out.insert(out.end(), G.pattern_rules[id].begin(), G.pattern_rules[id].end());
        } else {  // can't prefilter: verify every rule of the group
          ++counters.scan_errors;
          for (const auto& v : G.pattern_rules) out.insert(out.end(), v.begin(), v.end());
        }
      }
      if (G.re_db) {
        hits.clear();
        ++counters.scans;
        if (hs_scan(G.re_db.get(), reinterpret_cast<const char*>(buf), static_cast<unsigned>(len), 0, scratch.get(),
                    hs_on_match, &hits) == HS_SUCCESS) {
          for (uint32_t id : hits) out.push_back(G.re_rules[id]);
        } else {
          ++counters.scan_errors;
          out.insert(out.end(), G.re_rules.begin(), G.re_rules.end());
        }
      }
    };
    one(pg.any);
    if (&pg != &I->other) {
      if (auto it = pg.by_dport.find(p.dst_port); it != pg.by_dport.end()) one(it->second);
      if (auto it = pg.by_sport.find(p.src_port); it != pg.by_sport.end()) one(it->second);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }

  static bool proto_ok(const Rule& r, const halong::net::Packet& p) {
    switch (r.proto) {
      case Proto::ip: return true;
      case Proto::tcp: case Proto::tcp_pkt: case Proto::tcp_stream: return p.ip_proto == halong::net::ipproto::tcp;
      case Proto::udp: return p.ip_proto == halong::net::ipproto::udp;
      case Proto::icmp: return p.ip_proto == halong::net::ipproto::icmp || p.ip_proto == halong::net::ipproto::icmpv6;
      case Proto::icmpv6: return p.ip_proto == halong::net::ipproto::icmpv6;
      case Proto::sctp: return p.ip_proto == halong::net::ipproto::sctp;
    }
    return false;
  }

  static bool header_ok(const Rule& r, const halong::net::Packet& p) {
    auto fwd = [&](const halong::net::IpAddr& s, uint16_t sp, const halong::net::IpAddr& d, uint16_t dp) {
      return (r.src_any || r.src.contains(s)) && (r.dst_any || r.dst.contains(d)) && (r.sport_any || r.sport.contains(sp)) &&
             (r.dport_any || r.dport.contains(dp));
    };
    if (fwd(p.src, p.src_port, p.dst, p.dst_port)) return true;
    return r.bidirectional && fwd(p.dst, p.dst_port, p.src, p.src_port);
  }

  // Everything but the payload lists: header, flow, packet keywords, flowbit tests.
  bool packet_checks(const Rule& r, const halong::net::Packet& p, bool iponly_run, bool stream) {
    if (!proto_ok(r, p)) return false;
    if (r.ip_only && !iponly_run) return false;
    if (!header_ok(r, p)) return false;
    if (r.has_flow) {
      const auto* f = p.flow;
      // Suricata's flow:established is the state *before* this packet: for TCP the
      // packet that completes the handshake (or the first midstream packet) is not yet
      // established. FlowInfo::established already includes this packet, so for TCP
      // the engine uses "established on an earlier packet" (marker set after inspection).
      bool est = f && f->established &&
                 (p.ip_proto != halong::net::ipproto::tcp || has_bit(f, kFlowbitEstablishedSeen));
      if (r.flow_established && !est) return false;
      if (r.flow_not_established && est) return false;
      if (r.flow_to_server && !(f && f->to_server)) return false;
      if (r.flow_to_client && !(f && !f->to_server)) return false;
      if (r.flow_only_stream && !stream) return false;
      if (r.flow_no_stream && stream) return false;
    }
    if (r.proto == Proto::tcp_pkt && stream) return false;
    if (r.proto == Proto::tcp_stream && !stream) return false;
    if (r.dsize && !r.dsize->test(static_cast<int64_t>(p.payload_len))) return false;
    if (r.itype && (p.icmp_type < 0 || !r.itype->test(p.icmp_type))) return false;
    if (r.icode && (p.icmp_code < 0 || !r.icode->test(p.icmp_code))) return false;
    if (r.ttl && (p.ip_version == 0 || !r.ttl->test(p.ttl))) return false;
    if (r.ip_proto && !r.ip_proto->test(p.ip_proto)) return false;
    if (r.tcp_flags) {
      if (p.ip_proto != halong::net::ipproto::tcp) return false;
      const auto& tf = *r.tcp_flags;
      const uint8_t f = static_cast<uint8_t>(p.tcp_flags & ~tf.ignore);
      bool ok = tf.modifier == '+'   ? (f & tf.test) == tf.test
                : tf.modifier == '*' ? (f & tf.test) != 0
                : tf.modifier == '!' ? (f & tf.test) != tf.test
                                     : f == tf.test;
      if (!ok) return false;
    }
    for (const auto& fb : r.flowbits) {
      if (fb.cmd != FlowbitCmd::isset && fb.cmd != FlowbitCmd::isnotset) continue;
      bool want = fb.cmd == FlowbitCmd::isset;
      if (fb.any_of) {
        bool any = false;
        for (auto id : fb.ids) any |= has_bit(p.flow, id) == want;
        if (!any) return false;
      } else {
        for (auto id : fb.ids)
          if (has_bit(p.flow, id) != want) return false;
      }
    }
    return true;
  }

  bool payload_ok(const Rule& r, const uint8_t* buf, size_t len, size_t min_end) {
    if (!r.has_payload()) return true;
    if (!buf || len == 0) return false;
    Verifier v{r, buf, len, min_end, md, mctx};
    return v.run(0, 0, 0);
  }

  void post_match(const Rule& r, const halong::net::Packet& p) {
    for (const auto& fb : r.flowbits) {
      for (auto id : fb.ids) {
        if (fb.cmd == FlowbitCmd::set) set_bit(p.flow, id);
        else if (fb.cmd == FlowbitCmd::unset) unset_bit(p.flow, id);
        else if (fb.cmd == FlowbitCmd::toggle) {
          if (has_bit(p.flow, id)) unset_bit(p.flow, id);
          else set_bit(p.flow, id);
        }
      }
    }
  }

  // true = alert passes thresholds and suppressions.
  bool rate_ok(uint32_t idx, const Rule& r, const halong::net::Packet& p) {
    for (const auto& s : r.suppress) {
      if (!s.has_ip) return false;
      bool hit = s.track == Track::by_src ? s.ip.contains(p.src)
                 : s.track == Track::by_dst ? s.ip.contains(p.dst)
                                           : (s.ip.contains(p.src) || s.ip.contains(p.dst));
      if (hit) return false;
    }
    if (!r.threshold) return true;
    const ThresholdSpec& t = *r.threshold;
    ThreshKey k{idx, {}, {}};
    if (t.track == Track::by_src) k.a = p.src;
    else if (t.track == Track::by_dst) k.a = p.dst;
    else if (t.track == Track::by_both) {
      k.a = std::min(p.src, p.dst);
      k.b = std::max(p.src, p.dst);
    }
    if (thresholds.size() >= kMaxThresholdEntries) expire(p.ts_us);
    auto [it, fresh] = thresholds.try_emplace(k);
    ThreshEntry& e = it->second;
    const int64_t window = static_cast<int64_t>(t.seconds) * 1000000;
    bool in_window = !fresh && p.ts_us - e.first_us < window;
    if (!in_window) {
      e.first_us = p.ts_us;
      e.count = 0;
    }
    ++e.count;
    switch (t.type) {
      case ThresholdSpec::limit: return e.count <= t.count;
      case ThresholdSpec::threshold:
        if (e.count >= t.count) {
          e.count = 0;
          return true;
        }
        return false;
      case ThresholdSpec::both: return e.count == t.count;
      case ThresholdSpec::detection_filter: return e.count > t.count;
    }
    return true;
  }

  void expire(int64_t now_us) {
    for (auto it = thresholds.begin(); it != thresholds.end();) {
      const auto& th = I->rules[it->first.rule]->threshold;
      int64_t window = th ? static_cast<int64_t>(th->seconds) * 1000000 : 0;
      if (now_us - it->second.first_us >= window) it = thresholds.erase(it);
      else ++it;
    }
    if (thresholds.size() >= kMaxThresholdEntries) thresholds.clear();  // bounded memory beats exact counts
  }
};

Matcher::Matcher(std::shared_ptr<const Ruleset> rs, MatcherOptions opts) : st_(std::make_unique<State>()) {
  st_->rs = std::move(rs);
  if (!st_->rs) {  // no ruleset: behave as an empty one
    LoadReport rep;
    auto empty = load_rules_from_string("", "empty", {}, rep);
    if (!empty) std::abort();
    st_->rs = *empty;
  }
  st_->I = &st_->rs->impl();
  st_->opts = opts;
  if (st_->opts.max_alerts_per_packet == 0) st_->opts.max_alerts_per_packet = 15;
  for (const auto& g : st_->I->groups) {
    if (g.db)
      if (auto s = st_->scratch.allocate_for(g.db); !s) std::abort();  // out of memory at start-up
    if (g.re_db)
      if (auto s = st_->scratch.allocate_for(g.re_db); !s) std::abort();
  }
  st_->md = pcre2_match_data_create(32, nullptr);
  st_->mctx = pcre2_match_context_create(nullptr);
  if (!st_->md || !st_->mctx) std::abort();
  // Suricata's pcre.match-limit / match-limit-recursion defaults: a regex that needs more
  // backtracking than this on hostile data does not match (instead of stalling the thread).
  pcre2_set_match_limit(st_->mctx, kPcreMatchLimit);
  pcre2_set_depth_limit(st_->mctx, kPcreDepthLimit);
  st_->matched_stamp.assign(st_->I->rules.size(), 0);
}

Matcher::~Matcher() = default;
Matcher::Matcher(Matcher&&) noexcept = default;
Matcher& Matcher::operator=(Matcher&&) noexcept = default;
const MatcherCounters& Matcher::counters() const { return st_->counters; }
const Ruleset& Matcher::ruleset() const { return *st_->rs; }

void Matcher::inspect(const halong::net::Packet& p, std::vector<Match>& out) {
  State& S = *st_;
  const auto& I = *S.I;
  ++S.counters.packets;
  if (p.ip_version == 0) return;
  if (++S.stamp == 0) {
    std::fill(S.matched_stamp.begin(), S.matched_stamp.end(), 0);
    S.stamp = 1;
  }
  const ProtoGroups& pg = *S.proto_groups(p.ip_proto);
  const uint32_t dir_marker = (p.flow && !p.flow->to_server) ? 1 : 0;
  const bool iponly_run = !p.flow || !has_bit(p.flow, dir_marker);

  S.matched.clear();
  S.cands.clear();
  auto packet_eligible = [](const Rule& r) { return r.proto != Proto::tcp_stream && !r.flow_only_stream; };
  auto stream_eligible = [](const Rule& r) {
    return r.has_payload() && !r.dsize && r.proto != Proto::tcp_pkt && !r.flow_no_stream;
  };
  const bool tcp = p.ip_proto == halong::net::ipproto::tcp;
  // Data carried on a RST is never stream data (Suricata does not add it to the stream).
  const bool rst = p.tcp_flags & halong::net::tcpflag::rst;
  const size_t new_len = (tcp && !rst && p.stream && p.stream_len > 0) ? std::min(p.stream_new_len, p.stream_len) : 0;
  // Stream window: the new bytes plus kStreamLookback bytes before them (Suricata
  // inspects the raw stream in chunks the same way), so cost stays linear in traffic.
  const uint8_t* win = nullptr;
  size_t win_len = 0, min_end = 0;
  if (new_len > 0) {
    size_t start = p.stream_len - new_len > kStreamLookback ? p.stream_len - new_len - kStreamLookback : 0;
    win = p.stream + start;
    win_len = p.stream_len - start;
    min_end = win_len - new_len;
  }
  if (win && new_len == p.payload_len) {
    // In-order data: the payload is the tail of the window; one scan serves both.
    S.scan_groups(p, pg, win, win_len, iponly_run, S.cands);
    S.counters.candidates += S.cands.size();
    for (uint32_t idx : S.cands) {
      const Rule& r = *I.rules[idx];
      bool hit = false, from_stream = false;
      if (packet_eligible(r) && S.packet_checks(r, p, iponly_run, false) && S.payload_ok(r, p.payload, p.payload_len, 0)) {
        hit = true;
      } else if (stream_eligible(r) && S.packet_checks(r, p, iponly_run, true) && S.payload_ok(r, win, win_len, min_end)) {
        hit = from_stream = true;
      }
      if (!hit) continue;
      S.post_match(r, p);
      S.matched.push_back({idx, from_stream});
    }
  } else {
    S.scan_groups(p, pg, p.payload, p.payload_len, iponly_run, S.cands);
    S.counters.candidates += S.cands.size();
    for (uint32_t idx : S.cands) {
      const Rule& r = *I.rules[idx];
      if (!packet_eligible(r)) continue;
      if (!S.packet_checks(r, p, iponly_run, false)) continue;
      if (!S.payload_ok(r, p.payload, p.payload_len, 0)) continue;
      S.post_match(r, p);
      S.matched_stamp[idx] = S.stamp;
      S.matched.push_back({idx, false});
    }
    if (win) {  // out-of-order data filled a gap: inspect what became available
      S.stream_cands.clear();
      S.scan_groups(p, pg, win, win_len, false, S.stream_cands);
      S.counters.candidates += S.stream_cands.size();
      for (uint32_t idx : S.stream_cands) {
        if (S.matched_stamp[idx] == S.stamp) continue;
        const Rule& r = *I.rules[idx];
        if (!stream_eligible(r)) continue;
        if (!S.packet_checks(r, p, iponly_run, true)) continue;
        if (!S.payload_ok(r, win, win_len, min_end)) continue;
        S.post_match(r, p);
        S.matched_stamp[idx] = S.stamp;
        S.matched.push_back({idx, true});
      }
    }
  }
  if (p.flow && iponly_run) set_bit(p.flow, dir_marker);
  if (p.flow && p.flow->established && tcp) set_bit(p.flow, kFlowbitEstablishedSeen);
  if (S.matched.empty()) return;
  S.counters.matches += S.matched.size();
  std::sort(S.matched.begin(), S.matched.end(), [](const State::Hit& a, const State::Hit& b) { return a.idx < b.idx; });
  // A matching pass rule (ordered first) passes the packet: no alerts from it.
  if (I.rules[S.matched.front().idx]->meta.action == "pass") return;
  size_t emitted = 0;
  for (const auto& h : S.matched) {
    const Rule& r = *I.rules[h.idx];
    if (r.meta.noalert) continue;
    if (!S.rate_ok(h.idx, r, p)) {
      ++S.counters.thresholded;
      continue;
    }
    if (emitted >= S.opts.max_alerts_per_packet) {
      ++S.counters.alerts_dropped;
      continue;
    }
    out.push_back(Match{&r.meta, h.stream});
    ++emitted;
    ++S.counters.alerts;
  }
}

}  // namespace halong::detect::net
