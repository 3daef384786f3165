#include "collector/store/rocks_store.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <cstring>

#include <boost/json.hpp>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>

#include "collector/store/stats_common.hpp"
#include "collector/store/store_common.hpp"

namespace halong::collector {

namespace json = boost::json;
using namespace keys;

namespace {

enum Cf : int {
  kDefault, kAlerts, kIds, kAgents, kCursors, kByAgent, kByAgency, kByRule, kBySeverity, kByIp, kByPort,
  kByStatus, kByAssignee, kByIncident, kSignatures, kTriage, kIncidents, kAudit, kUsers, kTokens, kSessions,
  kByAgentStatus, kCounts, kNumCf
};
struct CfDef {
  const char* name;
  size_t prefix;  // fixed index prefix length (memtable insert hint); 0 = none
};
constexpr CfDef kCfs[kNumCf] = {
    {"default", 0},  {"alerts", 0},     {"ids", 0},        {"agents", 0},      {"cursors", 0},
    {"by_agent", 4}, {"by_agency", 4},  {"by_rule", 8},    {"by_severity", 1}, {"by_ip", 17},
    {"by_port", 3},  {"by_status", 1},  {"by_assignee", 4}, {"by_incident", 8}, {"signatures", 0},
    {"triage", 0},   {"incidents", 0},  {"audit", 0},      {"users", 0},       {"tokens", 0},
    {"sessions", 0},  {"by_agent_status", 5}, {"counts", 8}};

Error storage_err(const std::string& what, const rocksdb::Status& s) {
  return make_error(ErrorCode::storage_error, what + ": " + s.ToString());
}

std::string u8s(uint8_t v) { return std::string(1, static_cast<char>(v)); }
std::string u16s(uint16_t v) { std::string s; put_u16(s, v); return s; }
std::string u32s(uint32_t v) { std::string s; put_u32(s, v); return s; }
std::string u64s(uint64_t v) { std::string s; put_u64(s, v); return s; }

uint8_t sev_byte(int sev) { return static_cast<uint8_t>(std::clamp(sev, 0, 255)); }

// The /24 (IPv4) or /64 (IPv6) bucket an address is indexed under.
std::array<uint8_t, 16> ip_bucket(const std::array<uint8_t, 16>& ip) {
  auto b = ip;
  bool v4 = std::all_of(b.begin(), b.begin() + 10, [](uint8_t x) { return x == 0; }) && b[10] == 0xFF && b[11] == 0xFF;
  if (v4) b[15] = 0;
  else std::fill(b.begin() + 8, b.end(), 0);
  return b;
}
int bucket_bits(const std::array<uint8_t, 16>& ip) {
  bool v4 = std::all_of(ip.begin(), ip.begin() + 10, [](uint8_t x) { return x == 0; }) && ip[10] == 0xFF && ip[11] == 0xFF;
  return v4 ? 120 : 64;
}
std::string ip_prefix(char tag, const std::array<uint8_t, 16>& bucket) {
  std::string s(1, tag);
  s.append(reinterpret_cast<const char*>(bucket.data()), 16);
  return s;
}

// ---- index streams: descending walks of alert keys ---------------------------------
class Stream {
 public:
  virtual ~Stream() = default;
  // Positions at the greatest key strictly less than bound (bound: an alert key, or an
  // alert key + "\0" for "less or equal").
  virtual void seek_lt(const std::string& bound) = 0;
  virtual bool valid() const = 0;
  virtual std::string_view key() const = 0;  // the alert key (20 bytes)
  virtual void next() = 0;
  // Rough number of entries (for choosing the stream that drives an intersection).
  virtual uint64_t estimate() = 0;
  // Whether the alert key is in the stream (a point lookup, bloom-filtered).
  virtual bool contains(std::string_view key) = 0;
};

class IndexStream final : public Stream {
 public:
  IndexStream(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const rocksdb::ReadOptions& ro, std::string prefix,
              std::string lo, std::optional<Cidr> value_filter = std::nullopt)
      : db_(db), cf_(cf), ro_(ro), it_(db->NewIterator(ro, cf)), prefix_(std::move(prefix)), lo_(std::move(lo)),
        filter_(value_filter) {}
  uint64_t estimate() override {
    std::string start = prefix_ + lo_;
    std::string limit = prefix_;
    // successor of the prefix (all 0xFF prefixes do not occur in our key spaces)
    while (!limit.empty() && static_cast<uint8_t>(limit.back()) == 0xFF) limit.pop_back();
    if (limit.empty()) limit = std::string(prefix_.size() + 21, '\xff');
    else limit.back() = static_cast<char>(static_cast<uint8_t>(limit.back()) + 1);
    rocksdb::Range r(start, limit);
    uint64_t bytes = 0, mem_count = 0, mem_size = 0;
    rocksdb::SizeApproximationOptions so;
    so.include_memtables = false;
    so.include_files = true;
    db_->GetApproximateSizes(so, cf_, &r, 1, &bytes).PermitUncheckedError();
    db_->GetApproximateMemTableStats(cf_, r, &mem_count, &mem_size);
    return bytes / (prefix_.size() + kAlertKeyLen + 8) + mem_count;
  }
  bool contains(std::string_view key) override {
    rocksdb::PinnableSlice v;
    auto st = db_->Get(ro_, cf_, prefix_ + std::string(key), &v);
    if (!st.ok()) return false;
    if (!filter_) return true;
    std::array<uint8_t, 16> ip{};
    if (v.size() != 16) return false;
    std::memcpy(ip.data(), v.data(), 16);
    return filter_->contains(ip);
  }
  void seek_lt(const std::string& bound) override {
    // Leapfrog seeks only ever move down: when the bound is below the last one, the answer
    // is at or a few steps below the current entry, cheaper to reach with Prev() than with
    // a new seek. Invariant: no entry of the stream lies in [key_, last_bound_) above key_.
    if (positioned_ && bound <= last_bound_) {
      if (!valid_) return;  // exhausted for a larger bound: still exhausted
      for (int step = 0; step < 8; ++step) {
        if (std::string_view(key_) < std::string_view(bound)) {
          last_bound_ = bound;
          return;
        }
        it_->Prev();
        settle();
        if (!valid_) return;
      }
    }
    std::string target = prefix_ + bound;
    it_->SeekForPrev(target);
    if (it_->Valid() && it_->key() == rocksdb::Slice(target)) it_->Prev();
    settle();
    positioned_ = true;
    last_bound_ = bound;
  }
  bool valid() const override { return valid_; }
  std::string_view key() const override { return key_; }
  void next() override {
    last_bound_ = key_;
    it_->Prev();
    settle();
  }

 private:
  void settle() {
    valid_ = false;
    while (it_->Valid()) {
      auto k = it_->key();
      if (k.size() != prefix_.size() + kAlertKeyLen || !k.starts_with(prefix_)) return;
      std::string_view ak(k.data() + prefix_.size(), kAlertKeyLen);
      if (ak < std::string_view(lo_)) return;
      if (filter_) {
        auto v = it_->value();
        std::array<uint8_t, 16> ip{};
        if (v.size() != 16) { it_->Prev(); continue; }
        std::memcpy(ip.data(), v.data(), 16);
        if (!filter_->contains(ip)) { it_->Prev(); continue; }
      }
      key_.assign(ak);
      valid_ = true;
      return;
    }
  }
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  rocksdb::ReadOptions ro_;
  std::unique_ptr<rocksdb::Iterator> it_;
  std::string prefix_, lo_, key_;
  std::optional<Cidr> filter_;
  bool valid_ = false;
  bool positioned_ = false;
  std::string last_bound_;
};

class UnionStream final : public Stream {
 public:
  explicit UnionStream(std::vector<std::unique_ptr<Stream>> c) : c_(std::move(c)) {}
  void seek_lt(const std::string& bound) override {
    for (auto& s : c_) s->seek_lt(bound);
    pick();
  }
  bool valid() const override { return valid_; }
  std::string_view key() const override { return key_; }
  void next() override {
    for (auto& s : c_)
      if (s->valid() && s->key() == key_) s->next();
    pick();
  }
  uint64_t estimate() override {
    uint64_t n = 0;
    for (auto& s : c_) n += s->estimate();
    return n;
  }
  bool contains(std::string_view key) override {
    for (auto& s : c_)
      if (s->contains(key)) return true;
    return false;
  }

 private:
  void pick() {
    valid_ = false;
    for (auto& s : c_)
      if (s->valid() && (!valid_ || s->key() > std::string_view(key_))) {
        key_.assign(s->key());
        valid_ = true;
      }
  }
  std::vector<std::unique_ptr<Stream>> c_;
  std::string key_;
  bool valid_ = false;
};

// Intersection: the stream with the fewest entries drives (walked in order); each of its
// keys is checked in the others by point lookups (bloom-filtered Gets). With streams of
// similar density this costs one cheap probe per driver entry, where a leapfrog of seeks
// costs a seek per alternation (measured 10-20x slower, docs/benchmarks-store.md).
class IntersectStream final : public Stream {
 public:
  explicit IntersectStream(std::vector<std::unique_ptr<Stream>> c) : c_(std::move(c)) {
    size_t best = 0;
    uint64_t best_n = UINT64_MAX;
    for (size_t i = 0; i < c_.size(); ++i) {
      uint64_t n = c_[i]->estimate();
      if (n < best_n) {
        best_n = n;
        best = i;
      }
    }
    std::swap(c_[0], c_[best]);
  }
  void seek_lt(const std::string& bound) override {
    c_[0]->seek_lt(bound);
    align();
  }
  bool valid() const override { return c_[0]->valid(); }
  std::string_view key() const override { return c_[0]->key(); }
  void next() override {
    c_[0]->next();
    align();
  }
  uint64_t estimate() override { return c_[0]->estimate(); }
  bool contains(std::string_view key) override {
    for (auto& s : c_)
      if (!s->contains(key)) return false;
    return true;
  }

 private:
  void align() {
    while (c_[0]->valid()) {
      bool all = true;
      for (size_t i = 1; i < c_.size() && all; ++i) all = c_[i]->contains(c_[0]->key());
      if (all) return;
      c_[0]->next();
    }
  }
  std::vector<std::unique_ptr<Stream>> c_;
};

class EmptyStream final : public Stream {
 public:
  void seek_lt(const std::string&) override {}
  bool valid() const override { return false; }
  std::string_view key() const override { return {}; }
  void next() override {}
  uint64_t estimate() override { return 0; }
  bool contains(std::string_view) override { return false; }
};

// Distinct fixed-length prefixes present in [lo, hi] of a family (skip-scan), at most cap.
std::vector<std::string> distinct_prefixes(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                                           const rocksdb::ReadOptions& ro, const std::string& lo,
                                           const std::string& hi, size_t cap, bool& capped) {
  std::vector<std::string> out;
  capped = false;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
  it->Seek(lo);
  const size_t L = lo.size();
  while (it->Valid() && it->key().size() >= L) {
    std::string p(it->key().data(), L);
    if (p > hi) break;
    if (out.size() == cap) {
      capped = true;
      break;
    }
    out.push_back(p);
    // successor of p as a big-endian number
    std::string s = p;
    int i = static_cast<int>(L) - 1;
    while (i >= 0 && static_cast<uint8_t>(s[static_cast<size_t>(i)]) == 0xFF) s[static_cast<size_t>(i--)] = 0;
    if (i < 0) break;
    s[static_cast<size_t>(i)] = static_cast<char>(static_cast<uint8_t>(s[static_cast<size_t>(i)]) + 1);
    it->Seek(s);
  }
  return out;
}

constexpr size_t kMaxUnion = 1024;
constexpr int64_t kHourUs = 3600LL * 1000000;

int64_t hour_of(int64_t us) {
  int64_t h = us / kHourUs * kHourUs;
  if (us < 0 && us % kHourUs != 0) h -= kHourUs;
  return h;
}
// counts family: hour(8) | agency(4) | severity(1) -> number of alerts (8 BE).
std::string count_key(int64_t time_us, uint32_t agency, int severity) {
  std::string k;
  put_time(k, hour_of(time_us));
  put_u32(k, agency);
  k.push_back(static_cast<char>(std::clamp(severity, 0, 255)));
  return k;
}

}  // namespace

struct RocksStore::Impl {
  // Builds the streams that serve q's filters; `empty` is set when a filter can match
  // nothing (unknown agent, text matching no signature...).
  static std::vector<std::unique_ptr<Stream>> plan(RocksStore& s, const AlertQuery& q, const rocksdb::ReadOptions& ro,
                                                   bool& empty);
  static Result<std::pair<Alert, Triage>> decode(std::string_view value, const std::string* triage_value);
  // Walks matches newest first from `bound`, calling fn(key, alert, triage) until it returns false.
  template <class Fn>
  static Status walk(RocksStore& s, const AlertQuery& q, std::string bound, size_t chunk, Fn&& fn);
};

std::vector<std::unique_ptr<Stream>> RocksStore::Impl::plan(RocksStore& s, const AlertQuery& q,
                                                            const rocksdb::ReadOptions& ro, bool& empty) {
  std::vector<std::unique_ptr<Stream>> conj;
  rocksdb::DB* db = s.db_.get();
  std::string lo = alert_key(q.from_us, 0, 0);
  auto idx = [&](int cf, std::string prefix, std::optional<Cidr> f = std::nullopt) {
    return std::make_unique<IndexStream>(db, s.cf(cf), ro, std::move(prefix), lo, f);
  };
  auto uni = [&](std::vector<std::unique_ptr<Stream>> v) -> std::unique_ptr<Stream> {
    if (v.empty()) return std::make_unique<EmptyStream>();
    if (v.size() == 1) return std::move(v[0]);
    return std::make_unique<UnionStream>(std::move(v));
  };
  empty = false;
  if (q.agent) {
    auto n = s.dict_find("a/" + *q.agent);
    if (!n) { empty = true; return {}; }
    // The analyst's queue ("new alerts of this agent") has a composite index of its own.
    if (q.status) conj.push_back(idx(kByAgentStatus, u32s(*n) + u8s(static_cast<uint8_t>(*q.status))));
    else conj.push_back(idx(kByAgent, u32s(*n)));
  }
  auto scope_or_agency = [&](const std::vector<std::string>& agencies) {
    std::vector<std::unique_ptr<Stream>> v;
    for (const auto& a : agencies)
      if (auto n = s.dict_find("g/" + a)) v.push_back(idx(kByAgency, u32s(*n)));
    if (v.empty()) empty = true;
    else conj.push_back(uni(std::move(v)));
  };
  if (q.agency) scope_or_agency({*q.agency});
  if (q.scope && !q.agency && !q.agent) {
    if (q.scope->size() <= kMaxUnion) scope_or_agency(*q.scope);
  }
  if (empty) return {};
  if (q.sid) conj.push_back(idx(kByRule, u64s(*q.sid)));
  if (q.text || q.category || q.engine) {
    // The signatures family lists every (sid, signature, category, engine) seen: pick the
    // sids that can match, and walk their by_rule entries.
    std::set<uint64_t> sids;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, s.cf(kSignatures)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto k = it->key();
      if (k.size() < 8) continue;
      Alert probe;
      std::string rest(k.data() + 8, k.size() - 8);
      auto p1 = rest.find('\0'), p2 = rest.find('\0', p1 == std::string::npos ? 0 : p1 + 1);
      if (p1 == std::string::npos || p2 == std::string::npos) continue;
      probe.alert.signature = rest.substr(0, p1);
      probe.alert.category = rest.substr(p1 + 1, p2 - p1 - 1);
      probe.alert.engine = rest.substr(p2 + 1);
      AlertQuery sq;
      sq.text = q.text;
      sq.category = q.category;
      sq.engine = q.engine;
      if (alert_matches(sq, probe, Triage{})) sids.insert(get_u64(k.data()));
    }
    if (sids.empty()) { empty = true; return {}; }
    if (!q.sid && sids.size() <= kMaxUnion) {
      std::vector<std::unique_ptr<Stream>> v;
      for (auto sid : sids) v.push_back(idx(kByRule, u64s(sid)));
      conj.push_back(uni(std::move(v)));
    }
  }
  if (q.min_severity) {
    if (*q.min_severity < 0) { empty = true; return {}; }
    bool capped = false;
    auto ps = distinct_prefixes(db, s.cf(kBySeverity), ro, u8s(0), u8s(sev_byte(*q.min_severity)), kMaxUnion, capped);
    std::vector<std::unique_ptr<Stream>> v;
    for (auto& p : ps) v.push_back(idx(kBySeverity, p));
    conj.push_back(uni(std::move(v)));
  }
  auto net = [&](char tag, const Cidr& c) {
    int bb = bucket_bits(c.addr);
    std::array<uint8_t, 16> first = ip_bucket(c.addr);
    std::array<uint8_t, 16> last = c.addr;
    if (c.prefix < bb) {
      for (int bit = c.prefix; bit < 128; ++bit) last[static_cast<size_t>(bit / 8)] |= static_cast<uint8_t>(0x80 >> (bit % 8));
      last = ip_bucket(last);
    } else {
      last = first;
    }
    bool capped = false;
    auto ps = distinct_prefixes(db, s.cf(kByIp), ro, ip_prefix(tag, first), ip_prefix(tag, last), kMaxUnion, capped);
    if (capped) return;  // too wide to merge: served by the alert scan + predicate
    std::vector<std::unique_ptr<Stream>> v;
    for (auto& p : ps) v.push_back(idx(kByIp, p, c));
    conj.push_back(uni(std::move(v)));
  };
  if (q.src_net) net('s', *q.src_net);
  if (q.dest_net) net('d', *q.dest_net);
  if (q.port) {
    std::vector<std::unique_ptr<Stream>> v;
    v.push_back(idx(kByPort, "s" + u16s(*q.port)));
    v.push_back(idx(kByPort, "d" + u16s(*q.port)));
    conj.push_back(uni(std::move(v)));
  }
  if (q.status && !q.agent) conj.push_back(idx(kByStatus, u8s(static_cast<uint8_t>(*q.status))));
  if (q.assignee && !q.assignee->empty()) {
    auto n = s.dict_find("u/" + *q.assignee);
    if (!n) { empty = true; return {}; }
    conj.push_back(idx(kByAssignee, u32s(*n)));
  }
  if (q.incident) conj.push_back(idx(kByIncident, u64s(*q.incident)));
  return conj;
}

Result<std::pair<Alert, Triage>> RocksStore::Impl::decode(std::string_view value, const std::string* triage_value) {
  if (value.size() < 8) return make_error(ErrorCode::storage_error, "alert record too short");
  auto a = alert_from_json_string(value.substr(8));
  if (!a) return make_error(ErrorCode::storage_error, "stored alert does not parse: " + a.error().message);
  Triage t;
  if (triage_value) {
    auto tr = triage_from_json(*triage_value);
    if (!tr) return tr.error();
    t = std::move(*tr);
  }
  t.incident = get_u64(value.data());
  return std::make_pair(std::move(*a), std::move(t));
}

template <class Fn>
Status RocksStore::Impl::walk(RocksStore& s, const AlertQuery& q, std::string bound, size_t chunk, Fn&& fn) {
  rocksdb::DB* db = s.db_.get();
  const rocksdb::Snapshot* snap = db->GetSnapshot();
  struct Release {
    rocksdb::DB* db;
    const rocksdb::Snapshot* s;
    ~Release() { db->ReleaseSnapshot(s); }
  } release{db, snap};
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  bool empty = false;
  auto conj = plan(s, q, ro, empty);
  if (empty) return {};
  std::unique_ptr<Stream> root;
  if (conj.empty()) root = std::make_unique<IndexStream>(db, s.cf(kAlerts), ro, "", alert_key(q.from_us, 0, 0));
  else if (conj.size() == 1) root = std::move(conj[0]);
  else root = std::make_unique<IntersectStream>(std::move(conj));
  root->seek_lt(bound);
  std::vector<std::string> ks;
  std::vector<rocksdb::Slice> slices;
  std::vector<rocksdb::PinnableSlice> vals, tvals;
  std::vector<rocksdb::Status> st, tst;
  while (root->valid()) {
    ks.clear();
    while (root->valid() && ks.size() < chunk) {
      ks.emplace_back(root->key());
      root->next();
    }
    slices.assign(ks.begin(), ks.end());
    vals.clear();
    vals.resize(ks.size());
    tvals.clear();
    tvals.resize(ks.size());
    st.assign(ks.size(), rocksdb::Status());
    tst.assign(ks.size(), rocksdb::Status());
    db->MultiGet(ro, s.cf(kAlerts), ks.size(), slices.data(), vals.data(), st.data());
    db->MultiGet(ro, s.cf(kTriage), ks.size(), slices.data(), tvals.data(), tst.data());
    for (size_t i = 0; i < ks.size(); ++i) {
      if (st[i].IsNotFound()) continue;  // index entry without alert: deleted concurrently
      if (!st[i].ok()) return storage_err("reading alert", st[i]);
      std::string tv;
      if (tst[i].ok()) tv = tvals[i].ToString();
      else if (!tst[i].IsNotFound()) return storage_err("reading triage", tst[i]);
      auto rec = decode(vals[i].ToStringView(), tst[i].ok() ? &tv : nullptr);
      if (!rec) return rec.error();
      if (!alert_matches(q, rec->first, rec->second)) continue;
      if (!fn(ks[i], rec->first, rec->second)) return {};
    }
  }
  return {};
}

RocksStore::~RocksStore() {
  if (db_) {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }
}

Result<std::unique_ptr<RocksStore>> RocksStore::open(const std::string& dir, const RocksOptions& o) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    if (!o.create_if_missing || o.read_only)
      return make_error(ErrorCode::storage_error, "store directory " + dir + " does not exist");
    std::filesystem::create_directories(dir, ec);
    if (ec) return make_error(ErrorCode::io_error, "cannot create store directory " + dir + ": " + ec.message());
  }
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = o.create_if_missing && !o.read_only;
  dbo.create_missing_column_families = !o.read_only;
  dbo.paranoid_checks = true;
  dbo.max_background_jobs = 2;
  dbo.keep_log_file_num = 4;
  auto cache = rocksdb::NewLRUCache(o.block_cache_mb << 20);
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (int i = 0; i < kNumCf; ++i) {
    rocksdb::ColumnFamilyOptions co;
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = cache;
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    co.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    if (kCfs[i].prefix) co.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(kCfs[i].prefix));
    co.compression = rocksdb::kLZ4Compression;
    descs.emplace_back(kCfs[i].name, co);
  }
  // A database made by something else (unknown families) is refused, not half-opened.
  std::vector<std::string> existing;
  auto ls = rocksdb::DB::ListColumnFamilies(dbo, dir, &existing);
  if (ls.ok()) {
    for (const auto& e : existing) {
      bool known = std::any_of(std::begin(kCfs), std::end(kCfs), [&](const CfDef& d) { return e == d.name; });
      if (!known) return make_error(ErrorCode::storage_error, "store " + dir + " has an unknown column family '" + e + "': not a Halong store");
    }
  } else if (!ls.IsPathNotFound() && std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec)) {
    return storage_err("cannot open store " + dir, ls);
  }
  std::unique_ptr<RocksStore> s(new RocksStore());
  s->dir_ = dir;
  s->opt_ = o;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status st;
  if (o.read_only) {
    // Only the families that exist can be opened read-only.
    std::vector<rocksdb::ColumnFamilyDescriptor> have;
    for (auto& d : descs)
      if (std::find(existing.begin(), existing.end(), d.name) != existing.end()) have.push_back(d);
    if (have.size() != descs.size())
      return make_error(ErrorCode::storage_error, "store " + dir + " is missing column families (not a Halong store?)");
    st = rocksdb::DB::OpenForReadOnly(dbo, dir, descs, &s->handles_, &raw);
  } else {
    st = rocksdb::DB::Open(dbo, dir, descs, &s->handles_, &raw);
  }
  if (!st.ok()) return storage_err("cannot open store " + dir, st);
  s->db_.reset(raw);
  for (int i = 0; i < kNumCf; ++i) s->by_name_[kCfs[i].name] = s->handles_[static_cast<size_t>(i)];

  // Load the dictionary, the signature set, the counters.
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(raw->NewIterator(ro, s->cf(kAgents)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->value().size() != 4) return make_error(ErrorCode::storage_error, "store " + dir + ": corrupt agents record");
    uint32_t n = get_u32(it->value().data());
    s->dict_[it->key().ToString()] = n;
    s->dict_next_ = std::max(s->dict_next_, n + 1);
  }
  if (!it->status().ok()) return storage_err("store " + dir + ": reading agents", it->status());
  it.reset(raw->NewIterator(ro, s->cf(kSignatures)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) s->sig_seen_.insert(it->key().ToString());
  if (!it->status().ok()) return storage_err("store " + dir + ": reading signatures", it->status());
  std::string v;
  st = raw->Get(ro, s->cf(kDefault), "alert_count", &v);
  if (st.ok() && v.size() == 8) s->count_ = get_u64(v.data());
  else if (!st.IsNotFound()) return storage_err("store " + dir + ": reading alert count", st);
  it.reset(raw->NewIterator(ro, s->cf(kIncidents)));
  it->SeekForPrev("i\xff");
  if (it->Valid() && it->key().size() == 9 && it->key()[0] == 'i') s->next_incident_ = get_u64(it->key().data() + 1) + 1;
  if (!it->status().ok()) return storage_err("store " + dir + ": reading incidents", it->status());
  return s;
}

rocksdb::ColumnFamilyHandle* RocksStore::family(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::string RocksStore::property(const std::string& name) const {
  std::string v;
  if (!db_->GetProperty(cf(kAlerts), name, &v)) return {};
  return v;
}

std::optional<uint32_t> RocksStore::dict_find(const std::string& key) {
  std::lock_guard lock(dict_mu_);
  auto it = dict_.find(key);
  if (it == dict_.end()) return std::nullopt;
  return it->second;
}

Result<uint32_t> RocksStore::dict_get_or_add(const std::string& key) {
  std::lock_guard lock(dict_mu_);
  auto it = dict_.find(key);
  if (it != dict_.end()) return it->second;
  uint32_t n = dict_next_;
  rocksdb::WriteOptions wo;
  wo.sync = opt_.sync;
  auto st = db_->Put(wo, cf(kAgents), key, u32s(n));
  if (!st.ok()) return storage_err("storing id of " + key, st);
  ++dict_next_;
  dict_[key] = n;
  return n;
}

// ---- writes: group commit -------------------------------------------------------------
// Concurrent write_batch callers queue up; one of them (the leader) stages every queued
// batch into ONE rocksdb::WriteBatch and writes it with one (synced) Write, then wakes the
// others with their results. Staging state shared across the batches of a group:
struct RocksStore::GroupState {
  std::unordered_map<std::string, uint64_t> hi;      // agent -> highest seq incl. this group
  std::map<std::string, uint64_t> open_of;           // incident group -> open incident id
  std::map<uint64_t, Incident> dirty;                // incidents changed by this group
  std::vector<std::string> new_sigs;
  std::map<std::string, int64_t> counts;             // counts key -> delta
  uint64_t stored = 0;
  uint64_t next_incident = 0;
};

struct RocksStore::PendingWrite {
  const std::string* agent;
  const std::vector<Alert>* alerts;
  Result<BatchResult> result{Error(ErrorCode::internal, "not written")};
  bool done = false;
};

Result<BatchResult> RocksStore::write_batch(const std::string& agent_id, const std::vector<Alert>& alerts) {
  if (opt_.read_only) return make_error(ErrorCode::forbidden, "store opened read-only");
  if (agent_id.empty()) return make_error(ErrorCode::invalid_argument, "write_batch: empty agent id");
  for (const auto& a : alerts)
    if (a.seq == 0) return make_error(ErrorCode::invalid_argument, "write_batch: alert with seq 0 from agent " + agent_id);
  PendingWrite me{&agent_id, &alerts};
  std::unique_lock lk(gc_mu_);
  gc_queue_.push_back(&me);
  while (!me.done && gc_leader_) gc_cv_.wait(lk);
  if (me.done) return std::move(me.result);
  gc_leader_ = true;
  while (!gc_queue_.empty()) {
    std::vector<PendingWrite*> group(gc_queue_.begin(), gc_queue_.end());
    gc_queue_.clear();
    lk.unlock();
    commit_group(group);
    lk.lock();
    ++groups_;
    gc_cv_.notify_all();
  }
  gc_leader_ = false;
  gc_cv_.notify_all();
  return std::move(me.result);
}

void RocksStore::commit_group(const std::vector<PendingWrite*>& group) {
  std::lock_guard lock(write_mu_);
  rocksdb::WriteBatch wb;
  GroupState g;
  std::vector<BatchResult> results;
  // Stage every batch; one that cannot be staged (a storage read error) fails alone and
  // the group is staged again without it (each round removes one, so this ends).
  for (;;) {
    wb.Clear();
    g = GroupState{};
    g.next_incident = next_incident_;
    results.assign(group.size(), BatchResult{});
    bool failed = false;
    for (size_t i = 0; i < group.size() && !failed; ++i) {
      if (group[i]->done) continue;
      if (auto st = stage(*group[i]->agent, *group[i]->alerts, wb, g, results[i]); !st) {
        group[i]->result = st.error();
        group[i]->done = true;
        failed = true;
      }
    }
    if (!failed) break;
  }
  for (const auto& [gk, id] : g.open_of) wb.Put(cf(kIncidents), "o" + gk, u64s(id));
  for (const auto& [id, inc] : g.dirty) wb.Put(cf(kIncidents), "i" + u64s(id), json::serialize(incident_to_json(inc)));
  for (const auto& [agent, hi] : g.hi) wb.Put(cf(kCursors), agent, u64s(hi));
  if (auto cs = apply_counts(wb, g.counts); !cs) {
    for (auto* p : group)
      if (!p->done) {
        p->result = cs.error();
        p->done = true;
      }
    return;
  }
  uint64_t new_count = count_.load() + g.stored;
  wb.Put(cf(kDefault), "alert_count", u64s(new_count));
  rocksdb::WriteOptions wo;
  wo.sync = opt_.sync;
  auto st = db_->Write(wo, &wb);
  for (size_t i = 0; i < group.size(); ++i) {
    if (group[i]->done) continue;
    if (st.ok()) group[i]->result = results[i];
    else group[i]->result = storage_err("writing batch of agent " + *group[i]->agent, st);
    group[i]->done = true;
  }
  if (!st.ok()) return;
  count_ = new_count;
  next_incident_ = g.next_incident;
  for (const auto& [agent, hi] : g.hi) cursor_cache_[agent] = hi;
  std::lock_guard sl(sig_mu_);
  for (auto& sg : g.new_sigs) sig_seen_.insert(std::move(sg));
}

Status RocksStore::stage(const std::string& agent_id, const std::vector<Alert>& alerts, rocksdb::WriteBatch& wb,
                         GroupState& g, BatchResult& r) {
  auto num = dict_get_or_add("a/" + agent_id);
  if (!num) return num.error();
  uint64_t hi = 0;
  if (auto it = g.hi.find(agent_id); it != g.hi.end()) {
    hi = it->second;
  } else {
    auto hi_r = highest_seq_locked(agent_id);
    if (!hi_r) return hi_r.error();
    hi = *hi_r;
  }
  rocksdb::ReadOptions ro;
  const std::string agent4 = u32s(*num);
  for (const auto& a0 : alerts) {
    if (a0.seq <= hi) {
      ++r.duplicates;
      continue;
    }
    hi = a0.seq;
    Alert a = a0;
    a.agent.id = agent_id;
    a.id = agent_id + ":" + std::to_string(a.seq);
    auto ag = dict_get_or_add("g/" + a.agent.agency);
    if (!ag) return ag.error();
    // incident grouping
    std::string gk = detail::incident_group_key(a);
    auto oi = g.open_of.find(gk);
    if (oi == g.open_of.end()) {
      std::string ov;
      auto st = db_->Get(ro, cf(kIncidents), "o" + gk, &ov);
      if (st.ok() && ov.size() == 8) {
        uint64_t id = get_u64(ov.data());
        std::string iv;
        st = db_->Get(ro, cf(kIncidents), "i" + ov, &iv);
        if (!st.ok()) return storage_err("reading incident " + std::to_string(id), st);
        auto inc = incident_from_json(iv);
        if (!inc) return inc.error();
        g.dirty[id] = std::move(*inc);
        oi = g.open_of.emplace(gk, id).first;
      } else if (!st.ok() && !st.IsNotFound()) {
        return storage_err("reading open incident", st);
      }
    }
    if (oi == g.open_of.end() || !detail::join_incident(g.dirty[oi->second], a, opt_.incidents)) {
      uint64_t id = g.next_incident++;
      g.dirty[id] = detail::new_incident(id, a);
      g.open_of[gk] = id;
    }
    uint64_t incident = g.open_of[gk];

    std::string key = alert_key(a.timestamp_us, *num, a.seq);
    std::string value = u64s(incident) + to_json_string(a);
    wb.Put(cf(kAlerts), key, value);
    wb.Put(cf(kIds), agent4 + u64s(a.seq), key);
    wb.Put(cf(kByAgent), agent4 + key, "");
    wb.Put(cf(kByAgency), u32s(*ag) + key, "");
    wb.Put(cf(kByRule), u64s(a.alert.signature_id) + key, "");
    wb.Put(cf(kBySeverity), u8s(sev_byte(a.alert.severity)) + key, "");
    ++g.counts[count_key(a.timestamp_us, *ag, a.alert.severity)];
    wb.Put(cf(kByStatus), u8s(static_cast<uint8_t>(TriageStatus::fresh)) + key, "");
    wb.Put(cf(kByAgentStatus), agent4 + u8s(static_cast<uint8_t>(TriageStatus::fresh)) + key, "");
    wb.Put(cf(kByIncident), u64s(incident) + key, "");
    if (auto ip = parse_ip16(a.src_ip))
      wb.Put(cf(kByIp), ip_prefix('s', ip_bucket(*ip)) + key, rocksdb::Slice(reinterpret_cast<const char*>(ip->data()), 16));
    if (auto ip = parse_ip16(a.dest_ip))
      wb.Put(cf(kByIp), ip_prefix('d', ip_bucket(*ip)) + key, rocksdb::Slice(reinterpret_cast<const char*>(ip->data()), 16));
    wb.Put(cf(kByPort), "s" + u16s(a.src_port) + key, "");
    wb.Put(cf(kByPort), "d" + u16s(a.dest_port) + key, "");
    std::string sig = u64s(a.alert.signature_id) + a.alert.signature + '\0' + a.alert.category + '\0' + a.alert.engine;
    {
      std::lock_guard sl(sig_mu_);
      if (!sig_seen_.count(sig) && std::find(g.new_sigs.begin(), g.new_sigs.end(), sig) == g.new_sigs.end()) {
        wb.Put(cf(kSignatures), sig, "");
        g.new_sigs.push_back(sig);
      }
    }
    ++r.stored;
  }
  g.hi[agent_id] = hi;
  g.stored += r.stored;
  r.highest_seq = hi;
  return {};
}

Result<uint64_t> RocksStore::highest_seq(const std::string& agent_id) {
  std::lock_guard lock(write_mu_);
  return highest_seq_locked(agent_id);
}

Result<uint64_t> RocksStore::highest_seq_locked(const std::string& agent_id) {
  auto it = cursor_cache_.find(agent_id);
  if (it != cursor_cache_.end()) return it->second;
  std::string v;
  auto st = db_->Get(rocksdb::ReadOptions(), cf(kCursors), agent_id, &v);
  if (st.IsNotFound()) return uint64_t{0};
  if (!st.ok() || v.size() != 8) return storage_err("reading cursor of agent " + agent_id, st);
  return get_u64(v.data());
}

namespace {
Result<std::string> find_alert_key(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* ids, std::optional<uint32_t> num,
                                   uint64_t seq, const std::string& id) {
  if (!num) return make_error(ErrorCode::not_found, "no alert " + id);
  std::string key;
  auto st = db->Get(rocksdb::ReadOptions(), ids, u32s(*num) + u64s(seq), &key);
  if (st.IsNotFound()) return make_error(ErrorCode::not_found, "no alert " + id);
  if (!st.ok()) return storage_err("looking up alert " + id, st);
  return key;
}
}  // namespace

Result<Alert> RocksStore::get(const std::string& id) {
  auto parts = split_alert_id(id);
  if (!parts) return parts.error();
  auto key = find_alert_key(db_.get(), cf(kIds), dict_find("a/" + parts->first), parts->second, id);
  if (!key) return key.error();
  std::string v;
  auto st = db_->Get(rocksdb::ReadOptions(), cf(kAlerts), *key, &v);
  if (st.IsNotFound()) return make_error(ErrorCode::not_found, "no alert " + id);
  if (!st.ok()) return storage_err("reading alert " + id, st);
  auto rec = Impl::decode(v, nullptr);
  if (!rec) return rec.error();
  return std::move(rec->first);
}

Result<AlertPage> RocksStore::query(const AlertQuery& q) {
  std::string bound = alert_key(q.to_us, 0, 0);
  if (!q.cursor.empty()) {
    auto c = decode_cursor(q.cursor);
    if (!c) return c.error();
    bound = std::min(bound, *c);
  }
  const size_t limit = std::max<size_t>(1, q.limit);
  AlertPage page;
  std::string last;
  auto st = Impl::walk(*this, q, bound, std::min<size_t>(limit + 1, 256), [&](const std::string& k, Alert& a, Triage& t) {
    if (page.alerts.size() == limit) {
      page.next_cursor = encode_cursor(last);
      return false;
    }
    page.alerts.push_back(std::move(a));
    page.triage.push_back(std::move(t));
    last = k;
    return true;
  });
  if (!st) return st.error();
  return page;
}

Result<Triage> RocksStore::get_triage(const std::string& id) {
  auto parts = split_alert_id(id);
  if (!parts) return parts.error();
  auto key = find_alert_key(db_.get(), cf(kIds), dict_find("a/" + parts->first), parts->second, id);
  if (!key) return key.error();
  std::string v, tv;
  auto st = db_->Get(rocksdb::ReadOptions(), cf(kAlerts), *key, &v);
  if (!st.ok()) return st.IsNotFound() ? make_error(ErrorCode::not_found, "no alert " + id) : storage_err("reading alert " + id, st);
  auto ts = db_->Get(rocksdb::ReadOptions(), cf(kTriage), *key, &tv);
  if (!ts.ok() && !ts.IsNotFound()) return storage_err("reading triage of " + id, ts);
  auto rec = Impl::decode(v, ts.ok() ? &tv : nullptr);
  if (!rec) return rec.error();
  return std::move(rec->second);
}

Result<std::pair<Triage, Triage>> RocksStore::update_triage(const std::string& id, const TriageUpdate& u,
                                                            const std::string& actor, int64_t now_us) {
  if (opt_.read_only) return make_error(ErrorCode::forbidden, "store opened read-only");
  auto parts = split_alert_id(id);
  if (!parts) return parts.error();
  std::lock_guard lock(write_mu_);
  auto key = find_alert_key(db_.get(), cf(kIds), dict_find("a/" + parts->first), parts->second, id);
  if (!key) return key.error();
  auto before = get_triage(id);
  if (!before) return before.error();
  Triage after = *before;
  detail::apply_update(after, u, actor, now_us);
  rocksdb::WriteBatch wb;
  wb.Put(cf(kTriage), *key, json::serialize(triage_to_json(after)));
  if (before->status != after.status) {
    wb.Delete(cf(kByStatus), u8s(static_cast<uint8_t>(before->status)) + *key);
    wb.Put(cf(kByStatus), u8s(static_cast<uint8_t>(after.status)) + *key, "");
    const std::string agent4 = key->substr(8, 4);
    wb.Delete(cf(kByAgentStatus), agent4 + u8s(static_cast<uint8_t>(before->status)) + *key);
    wb.Put(cf(kByAgentStatus), agent4 + u8s(static_cast<uint8_t>(after.status)) + *key, "");
  }
  if (before->assignee != after.assignee) {
    if (!before->assignee.empty()) {
      if (auto n = dict_find("u/" + before->assignee)) wb.Delete(cf(kByAssignee), u32s(*n) + *key);
    }
    if (!after.assignee.empty()) {
      auto n = dict_get_or_add("u/" + after.assignee);
      if (!n) return n.error();
      wb.Put(cf(kByAssignee), u32s(*n) + *key, "");
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = opt_.sync;
  auto st = db_->Write(wo, &wb);
  if (!st.ok()) return storage_err("writing triage of " + id, st);
  return std::make_pair(std::move(*before), std::move(after));
}

Status RocksStore::apply_counts(rocksdb::WriteBatch& wb, const std::map<std::string, int64_t>& deltas) {
  for (const auto& [k, d] : deltas) {
    std::string v;
    auto st = db_->Get(rocksdb::ReadOptions(), cf(kCounts), k, &v);
    if (!st.ok() && !st.IsNotFound()) return storage_err("reading hourly counts", st);
    int64_t cur = st.ok() && v.size() == 8 ? static_cast<int64_t>(get_u64(v.data())) : 0;
    int64_t now = std::max<int64_t>(0, cur + d);
    if (now == 0) wb.Delete(cf(kCounts), k);
    else wb.Put(cf(kCounts), k, u64s(static_cast<uint64_t>(now)));
  }
  return {};
}

// Dashboard histograms over months must not fetch every alert: when the filters are only
// time (hour-aligned), agency / scope and severity, and the field is agency or severity,
// the answer comes from the hourly counters kept by write_batch and retention.
std::optional<Result<AlertStats>> RocksStore::stats_from_counts(const AlertQuery& q, const StatsRequest& r) {
  if (q.sid || q.agent || q.engine || q.category || q.src_net || q.dest_net || q.port || q.status || q.assignee ||
      q.incident || q.text)
    return std::nullopt;
  if (r.field != StatsField::agency && r.field != StatsField::severity) return std::nullopt;
  if (r.bucket_us <= 0 || r.bucket_us % kHourUs != 0) return std::nullopt;
  if ((q.from_us != INT64_MIN && q.from_us % kHourUs != 0) || (q.to_us != INT64_MAX && q.to_us % kHourUs != 0))
    return std::nullopt;
  std::unordered_map<uint32_t, std::string> agency_of;
  {
    std::lock_guard lock(dict_mu_);
    for (const auto& [k, n] : dict_)
      if (k.starts_with("g/")) agency_of[n] = k.substr(2);
  }
  detail::StatsBuilder b(r);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kCounts)));
  std::string start, end;
  put_time(start, q.from_us == INT64_MIN ? INT64_MIN : q.from_us);
  put_time(end, q.to_us == INT64_MAX ? INT64_MAX : q.to_us);
  for (it->Seek(start); it->Valid() && it->key().compare(end) < 0; it->Next()) {
    auto k = it->key();
    if (k.size() != 13 || it->value().size() != 8) return Result<AlertStats>(make_error(ErrorCode::storage_error, "corrupt counts record"));
    int64_t hour = get_time(k.data());
    auto ag = agency_of.find(get_u32(k.data() + 8));
    if (ag == agency_of.end()) continue;
    int sev = static_cast<uint8_t>(k[12]);
    if (q.agency && ag->second != *q.agency) continue;
    if (q.scope && std::find(q.scope->begin(), q.scope->end(), ag->second) == q.scope->end()) continue;
    if (q.min_severity && sev > *q.min_severity) continue;
    b.add_n(r.field == StatsField::agency ? ag->second : std::to_string(sev), hour, get_u64(it->value().data()));
  }
  if (!it->status().ok()) return Result<AlertStats>(storage_err("reading hourly counts", it->status()));
  return Result<AlertStats>(b.finish());
}

Result<AlertStats> RocksStore::stats(const AlertQuery& q, const StatsRequest& r) {
  if (auto fast = stats_from_counts(q, r)) return std::move(*fast);
  detail::StatsBuilder b(r);
  auto st = Impl::walk(*this, q, alert_key(q.to_us, 0, 0), 256, [&](const std::string&, Alert& a, Triage& t) {
    b.add(a, t);
    return true;
  });
  if (!st) return st.error();
  return b.finish();
}

Result<Incident> RocksStore::get_incident(uint64_t id) {
  std::string v;
  auto st = db_->Get(rocksdb::ReadOptions(), cf(kIncidents), "i" + u64s(id), &v);
  if (st.IsNotFound()) return make_error(ErrorCode::not_found, "no incident " + std::to_string(id));
  if (!st.ok()) return storage_err("reading incident " + std::to_string(id), st);
  return incident_from_json(v);
}

Result<std::vector<Incident>> RocksStore::list_incidents(const AlertQuery& q) {
  std::vector<Incident> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kIncidents)));
  for (it->Seek("i"); it->Valid() && it->key().starts_with("i"); it->Next()) {
    auto i = incident_from_json(it->value().ToStringView());
    if (!i) return i.error();
    if (q.scope && std::find(q.scope->begin(), q.scope->end(), i->agency) == q.scope->end()) continue;
    if (q.agency && i->agency != *q.agency) continue;
    if (q.agent && i->agent != *q.agent) continue;
    if (q.status && i->status != *q.status) continue;
    if (q.sid && i->sid != *q.sid) continue;
    out.push_back(std::move(*i));
  }
  if (!it->status().ok()) return storage_err("listing incidents", it->status());
  std::sort(out.begin(), out.end(), [](const Incident& a, const Incident& b) {
    return a.last_seen_us != b.last_seen_us ? a.last_seen_us > b.last_seen_us : a.id > b.id;
  });
  if (out.size() > q.limit) out.resize(q.limit);
  return out;
}

Result<std::pair<Incident, Incident>> RocksStore::update_incident(uint64_t id, const TriageUpdate& u,
                                                                  const std::string& actor, int64_t now_us) {
  if (opt_.read_only) return make_error(ErrorCode::forbidden, "store opened read-only");
  std::vector<std::string> members;
  std::optional<std::pair<Incident, Incident>> result;
  {
    std::lock_guard lock(write_mu_);
    auto before = get_incident(id);
    if (!before) return before.error();
    Incident after = *before;
    if (u.status) after.status = *u.status;
    if (u.assignee) after.assignee = *u.assignee;
    rocksdb::WriteOptions wo;
    wo.sync = opt_.sync;
    auto st = db_->Put(wo, cf(kIncidents), "i" + u64s(id), json::serialize(incident_to_json(after)));
    if (!st.ok()) return storage_err("writing incident " + std::to_string(id), st);
    AlertQuery q;
    q.incident = id;
    auto w = Impl::walk(*this, q, alert_key(INT64_MAX, 0, 0), 256, [&](const std::string&, Alert& a, Triage&) {
      members.push_back(a.id);
      return true;
    });
    if (!w) return w.error();
    result.emplace(std::move(*before), std::move(after));
  }
  // The alerts follow, each one a triage update of its own.
  for (const auto& m : members) {
    auto r = update_triage(m, u, actor, now_us);
    if (!r && r.error().code != ErrorCode::not_found) return r.error();
  }
  return std::move(*result);
}

Result<uint64_t> RocksStore::delete_before(int64_t cutoff_us) {
  if (opt_.read_only) return make_error(ErrorCode::forbidden, "store opened read-only");
  uint64_t n = 0;
  std::map<std::string, int64_t> deltas;
  const std::string end = alert_key(cutoff_us, 0, 0);
  for (;;) {
    std::lock_guard lock(write_mu_);
    rocksdb::WriteBatch wb;
    size_t in_batch = 0;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kAlerts)));
    for (it->SeekToFirst(); it->Valid() && it->key().compare(end) < 0 && in_batch < 1000; it->Next()) {
      std::string key = it->key().ToString();
      std::string tv;
      auto ts = db_->Get(rocksdb::ReadOptions(), cf(kTriage), key, &tv);
      if (!ts.ok() && !ts.IsNotFound()) return storage_err("retention: reading triage", ts);
      auto rec = Impl::decode(it->value().ToStringView(), ts.ok() ? &tv : nullptr);
      wb.Delete(cf(kAlerts), key);
      wb.Delete(cf(kTriage), key);
      ++in_batch;
      if (!rec) continue;  // unreadable record: drop it, its index entries are skipped on read
      const Alert& a = rec->first;
      const Triage& t = rec->second;
      auto ak = parse_alert_key(key);
      wb.Delete(cf(kIds), u32s(ak.agent) + u64s(ak.seq));
      wb.Delete(cf(kByAgent), u32s(ak.agent) + key);
      if (auto g = dict_find("g/" + a.agent.agency)) wb.Delete(cf(kByAgency), u32s(*g) + key);
      wb.Delete(cf(kByRule), u64s(a.alert.signature_id) + key);
      wb.Delete(cf(kBySeverity), u8s(sev_byte(a.alert.severity)) + key);
      if (auto g = dict_find("g/" + a.agent.agency)) --deltas[count_key(a.timestamp_us, *g, a.alert.severity)];
      wb.Delete(cf(kByStatus), u8s(static_cast<uint8_t>(t.status)) + key);
      wb.Delete(cf(kByAgentStatus), u32s(ak.agent) + u8s(static_cast<uint8_t>(t.status)) + key);
      wb.Delete(cf(kByIncident), u64s(t.incident) + key);
      if (!t.assignee.empty())
        if (auto u = dict_find("u/" + t.assignee)) wb.Delete(cf(kByAssignee), u32s(*u) + key);
      if (auto ip = parse_ip16(a.src_ip)) wb.Delete(cf(kByIp), ip_prefix('s', ip_bucket(*ip)) + key);
      if (auto ip = parse_ip16(a.dest_ip)) wb.Delete(cf(kByIp), ip_prefix('d', ip_bucket(*ip)) + key);
      wb.Delete(cf(kByPort), "s" + u16s(a.src_port) + key);
      wb.Delete(cf(kByPort), "d" + u16s(a.dest_port) + key);
    }
    if (!it->status().ok()) return storage_err("retention: scanning alerts", it->status());
    if (in_batch == 0) break;
    if (auto cs = apply_counts(wb, deltas); !cs) return cs.error();
    deltas.clear();
    uint64_t c = count_.load();
    uint64_t new_count = c >= in_batch ? c - in_batch : 0;
    wb.Put(cf(kDefault), "alert_count", u64s(new_count));
    rocksdb::WriteOptions wo;
    wo.sync = opt_.sync;
    auto st = db_->Write(wo, &wb);
    if (!st.ok()) return storage_err("retention: deleting alerts", st);
    count_ = new_count;
    n += in_batch;
  }
  return n;
}

uint64_t RocksStore::alert_count() { return count_.load(); }

std::string RocksStore::metrics_text() {
  std::string m;
  auto line = [&](const char* name, const char* type, const char* help, uint64_t v) {
    m += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
         std::to_string(v) + "\n";
  };
  line("halong_store_write_groups_total", "counter", "Grouped RocksDB writes (one fsync each).", write_groups());
  uint64_t v = 0;
  if (db_->GetIntProperty(cf(kAlerts), "rocksdb.estimate-live-data-size", &v))
    line("halong_store_alerts_live_bytes", "gauge", "Estimated live bytes of the alerts family.", v);
  if (db_->GetIntProperty(cf(kAlerts), "rocksdb.cur-size-all-mem-tables", &v))
    line("halong_store_alerts_memtable_bytes", "gauge", "Memtable bytes of the alerts family.", v);
  if (db_->GetIntProperty("rocksdb.num-running-compactions", &v))
    line("halong_store_running_compactions", "gauge", "RocksDB compactions running.", v);
  if (db_->GetIntProperty("rocksdb.num-running-flushes", &v))
    line("halong_store_running_flushes", "gauge", "RocksDB flushes running.", v);
  if (db_->GetIntProperty(cf(kAlerts), "rocksdb.actual-delayed-write-rate", &v))
    line("halong_store_delayed_write_rate", "gauge", "RocksDB write-stall rate limit (0 = none).", v);
  if (db_->GetIntProperty(cf(kAlerts), "rocksdb.is-write-stopped", &v))
    line("halong_store_write_stopped", "gauge", "1 while RocksDB stops writes.", v);
  return m;
}

Status RocksStore::flush() {
  rocksdb::FlushOptions fo;
  auto st = db_->Flush(fo, handles_);
  if (!st.ok()) return storage_err("flushing store " + dir_, st);
  return {};
}

}  // namespace halong::collector
