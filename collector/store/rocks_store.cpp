#include "collector/store/rocks_store.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <set>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <thread>
#include <tuple>

#include <pthread.h>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/statistics.h>

#include "collector/store/rocksdb_crc32c.hpp"
#include "collector/store/stats_common.hpp"
#include "collector/store/store_common.hpp"

namespace halong::collector {

namespace json = boost::json;
using namespace keys;

namespace {

enum Cf : int {
  kDefault, kAlerts, kIds, kAgents, kCursors, kByRule, kBySeverity, kByIp, kByPort, kByStatus, kByAssignee,
  kSignatures, kTriage, kIncidents, kAudit, kUsers, kTokens, kSessions, kByAgentStatus, kCounts, kCountsDay, kCountsAgentDay, kNumCf
};
struct CfDef {
  const char* name;
  int hint;  // memtable insert hint: fixed prefix length within which keys arrive in order; -1 = none
};
constexpr CfDef kCfs[kNumCf] = {
    {"default", -1},    {"alerts", 0},      {"ids", 4},      {"agents", -1},  {"cursors", -1},
    {"by_rule", 8},     {"by_severity", 1}, {"by_ip", 17},   {"by_port", 3},  {"by_status", 1},
    {"by_assignee", 4}, {"signatures", -1}, {"triage", -1},  {"incidents", 1}, {"audit", -1},
    {"users", -1},      {"tokens", -1},     {"sessions", -1}, {"by_agent_status", 5}, {"counts", 8},
    {"counts_day", 8},  {"counts_agent_day", 4}};
// Layout version (default family): bumped whenever keys or values change meaning.
constexpr const char* kFormatKey = "format";
constexpr const char* kFormat = "halong-store-5";
// The layout before postings: read as it is (see PostingStream), its version rewritten when
// opened for writing.
constexpr const char* kFormatBeforePostings = "halong-store-4";

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
// [prefix | lo, successor of prefix): one index prefix's keys from lo on. The successor
// is empty for an all-0xFF prefix, which does not occur in our key spaces.
std::pair<std::string, std::string> prefix_range(const std::string& prefix, const std::string& lo) {
  std::string upper = prefix;
  while (!upper.empty() && static_cast<uint8_t>(upper.back()) == 0xFF) upper.pop_back();
  if (!upper.empty()) upper.back() = static_cast<char>(static_cast<uint8_t>(upper.back()) + 1);
  return {prefix + lo, std::move(upper)};
}
// An iterator over [lower, upper) (upper empty: to the end of the family); ro keeps
// pointers to the two slices, which must live as long as the iterator.
std::unique_ptr<rocksdb::Iterator> bounded_iterator(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                                                    rocksdb::ReadOptions& ro, const std::string& lower,
                                                    const std::string& upper, rocksdb::Slice& lower_slice,
                                                    rocksdb::Slice& upper_slice) {
  lower_slice = rocksdb::Slice(lower);
  upper_slice = rocksdb::Slice(upper);
  ro.iterate_lower_bound = &lower_slice;
  ro.iterate_upper_bound = upper.empty() ? nullptr : &upper_slice;
  return std::unique_ptr<rocksdb::Iterator>(db->NewIterator(ro, cf));
}
// RocksDB's estimate of a key range: bytes in table files, entries and bytes in memtables.
struct RangeSize {
  uint64_t file_bytes = 0, mem_count = 0, mem_bytes = 0;
};
RangeSize range_size(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const std::string& lower, const std::string& upper,
                     size_t prefix_len) {
  std::string limit = upper.empty() ? std::string(prefix_len + 21, '\xff') : upper;
  rocksdb::Range r(lower, limit);
  RangeSize z;
  rocksdb::SizeApproximationOptions so;
  so.include_memtables = false;
  so.include_files = true;
  db->GetApproximateSizes(so, cf, &r, 1, &z.file_bytes).PermitUncheckedError();
  db->GetApproximateMemTableStats(cf, r, &z.mem_count, &z.mem_bytes);
  return z;
}

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
      : db_(db), cf_(cf), ro_(ro), prefix_(std::move(prefix)), lo_(std::move(lo)), filter_(value_filter) {
    std::tie(lower_, upper_) = prefix_range(prefix_, lo_);
  }
  uint64_t estimate() override {
    const RangeSize z = range_size(db_, cf_, lower_, upper_, prefix_.size());
    return z.file_bytes / (prefix_.size() + kAlertKeyLen + 8) + z.mem_count;
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
    if (!it_) {
      // Created on first use (a stream that is only probed never needs one), bounded to
      // [prefix | from, prefix successor): an exhausted walk stops at the bound instead of
      // stepping into the neighbouring prefix's blocks and files.
      it_ = bounded_iterator(db_, cf_, ro_, lower_, upper_, lower_slice_, upper_slice_);
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
  std::string prefix_, lo_, key_, lower_, upper_;
  rocksdb::Slice lower_slice_, upper_slice_;
  std::optional<Cidr> filter_;
  bool valid_ = false;
  bool positioned_ = false;
  std::string last_bound_;
};

// Postings (by_rule, by_severity, by_ip, by_port; layout halong-store-5): one record per
// (term, write) instead of one per (term, alert). Key: term prefix | the greatest alert key
// of the posting; value: its entries, each an alert key [+ the 16-byte address for by_ip],
// in ascending order, the last one without its key (it is the record key's). A posting of
// one entry is thus exactly the per-alert record of halong-store-4, which needs no
// conversion. A posting's entries lie less than kPostingSpanUs apart, so a posting
// holding a key below a bound B has its greatest key below time(B) + span: a walk from B
// starts there. Writes of a group of agents' batches (thousands of alerts) then put a few
// postings per severity, rule or service port instead of one record per alert: each
// record costs a memtable insert, WAL bytes, a flush and compactions (~1 us sustained).
constexpr int64_t kPostingSpanUs = 1'000'000;
constexpr size_t kPostingMaxEntries = 4096;
// A probe (contains) steps a posting stream down at most this many entries towards the
// probed key; past it, it seeks.
constexpr int kPostingProbeSteps = 8;

// Descending walk over the postings of one term: a max-heap of the loaded postings' next
// entries; the next posting (descending greatest key) is loaded while the heap's top is
// not above its greatest key, since every entry of it and of the postings after it is at
// most that key.
class PostingStream final : public Stream {
 public:
  PostingStream(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const rocksdb::ReadOptions& ro, std::string prefix,
                std::string lo, size_t vlen, std::optional<Cidr> value_filter = std::nullopt)
      : db_(db), cf_(cf), ro_(ro), prefix_(std::move(prefix)), lo_(std::move(lo)), vlen_(vlen), filter_(value_filter) {
    // From prefix | lo: a posting whose greatest key is below lo holds nothing from lo.
    std::tie(lower_, upper_) = prefix_range(prefix_, lo_);
  }
  uint64_t estimate() override {
    const RangeSize z = range_size(db_, cf_, lower_, upper_, prefix_.size());
    return (z.file_bytes + z.mem_bytes) / (kAlertKeyLen + vlen_);
  }
  // Probes come in descending order (an intersection's driver walks down): the stream
  // steps down to the probed key, a merge join, when it is a few entries away; further
  // (a sparse driver over a dense term), it seeks to it instead. Exact either way.
  bool contains(std::string_view key) override {
    if (positioned_ && key <= std::string_view(probe_)) {
      for (int steps = 0;; ++steps) {
        if (!valid_ || std::string_view(key_) <= key) {
          probe_.assign(key);
          return valid_ && std::string_view(key_) == key;
        }
        if (steps == kPostingProbeSteps) break;
        next();
      }
    }
    std::string b(key);
    b.push_back('\0');
    seek_lt(b);
    probe_.assign(key);
    return valid_ && std::string_view(key_) == key;
  }
  void seek_lt(const std::string& bound) override {
    bound_ = bound;
    posts_.clear();
    free_.clear();
    heap_.clear();
    last_.clear();
    if (!it_) {
      it_ = bounded_iterator(db_, cf_, ro_, lower_, upper_, lower_slice_, upper_slice_);
    }
    const int64_t t = bound.size() >= 8 ? get_time(bound.data()) : INT64_MIN;
    if (t > INT64_MAX - kPostingSpanUs) {
      it_->SeekToLast();
    } else {
      it_->SeekForPrev(prefix_ + alert_key(t + kPostingSpanUs, 0, 0));
    }
    positioned_ = true;
    probe_ = bound;
    advance();
  }
  bool valid() const override { return valid_; }
  std::string_view key() const override { return key_; }
  void next() override {
    if (!heap_.empty()) pop_top();
    advance();
  }

 private:
  struct Post {
    std::string keys;  // alert keys (20 bytes each) in ascending order
    size_t n = 0;      // entries left: keys [0, n)
    std::string_view top() const { return std::string_view(keys.data() + (n - 1) * kAlertKeyLen, kAlertKeyLen); }
  };
  auto cmp() {
    return [this](size_t a, size_t b) { return posts_[a].top() < posts_[b].top(); };
  }
  // Drops the heap's top entry (its posting goes back in with its next entry, if any).
  void pop_top() {
    std::pop_heap(heap_.begin(), heap_.end(), cmp());
    const size_t i = heap_.back();
    heap_.pop_back();
    if (--posts_[i].n > 0) {
      heap_.push_back(i);
      std::push_heap(heap_.begin(), heap_.end(), cmp());
    } else {
      free_.push_back(i);
    }
  }
  // Loads postings until the heap's top is the stream's next key, then takes it (skipping
  // a key equal to the last one taken: the walk never returns an alert twice).
  void advance() {
    for (;;) {
      while (it_->Valid()) {
        auto k = it_->key();
        if (k.size() != prefix_.size() + kAlertKeyLen || !k.starts_with(prefix_)) break;
        std::string_view greatest(k.data() + prefix_.size(), kAlertKeyLen);
        if (greatest < std::string_view(lo_)) break;
        if (!heap_.empty() && posts_[heap_.front()].top() > greatest) break;
        load(greatest, it_->value());
        it_->Prev();
      }
      valid_ = false;
      if (heap_.empty()) return;
      std::string_view top = posts_[heap_.front()].top();  // at or above lo (load keeps no less)
      if (top == std::string_view(last_)) {  // the same alert in two postings: once
        pop_top();
        continue;
      }
      key_.assign(top);
      last_ = key_;
      valid_ = true;
      return;
    }
  }
  // Keeps the entries of one posting that lie in [lo, bound) and pass the address filter.
  // `greatest` is the posting's last entry's key (from the record key, not in the value).
  void load(std::string_view greatest, rocksdb::Slice v) {
    const size_t e = kAlertKeyLen + vlen_;
    if (v.size() < vlen_ || (v.size() - vlen_) % e != 0) return;  // not a posting: skipped like an unreadable entry
    const size_t total = (v.size() - vlen_) / e + 1;
    auto key_at = [&](size_t i) {
      return i + 1 == total ? greatest : std::string_view(v.data() + i * e, kAlertKeyLen);
    };
    auto ip_at = [&](size_t i) { return v.data() + i * e + (i + 1 == total ? 0 : kAlertKeyLen); };
    auto lower = [&](std::string_view x) {  // the first entry not below x
      size_t a = 0, b = total;
      while (a < b) {
        const size_t m = (a + b) / 2;
        if (key_at(m) < x) a = m + 1;
        else b = m;
      }
      return a;
    };
    const size_t first = lower(lo_), end = lower(bound_);  // the entries in [lo, bound)
    if (first >= end) return;
    size_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = posts_.size();
      posts_.emplace_back();
    }
    Post& p = posts_[slot];
    p.keys.clear();
    for (size_t i = first; i < end; ++i) {
      if (filter_) {
        std::array<uint8_t, 16> ip{};
        if (vlen_ != 16) continue;
        std::memcpy(ip.data(), ip_at(i), 16);
        if (!filter_->contains(ip)) continue;
      }
      p.keys.append(key_at(i));
    }
    p.n = p.keys.size() / kAlertKeyLen;
    if (p.n == 0) {
      free_.push_back(slot);
      return;
    }
    heap_.push_back(slot);
    std::push_heap(heap_.begin(), heap_.end(), cmp());
  }
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  rocksdb::ReadOptions ro_;
  std::unique_ptr<rocksdb::Iterator> it_;
  std::string prefix_, lo_, lower_, upper_;
  size_t vlen_;
  rocksdb::Slice lower_slice_, upper_slice_;
  std::optional<Cidr> filter_;
  std::string bound_, key_, last_, probe_;
  std::vector<Post> posts_;
  std::vector<size_t> heap_, free_;
  bool valid_ = false;
  bool positioned_ = false;
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
    // Smallest stream drives; the others are probed smallest (most selective) first, so a
    // candidate is usually rejected by the first probe.
    std::vector<std::pair<uint64_t, size_t>> order;
    for (size_t i = 0; i < c_.size(); ++i) order.emplace_back(c_[i]->estimate(), i);
    std::stable_sort(order.begin(), order.end());
    std::vector<std::unique_ptr<Stream>> sorted;
    for (auto& [n, i] : order) sorted.push_back(std::move(c_[i]));
    c_ = std::move(sorted);
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

// The alerts of a set of agents, from by_agent_status (agent | status | alert key): the union
// of the agents' (agent, status) streams. It stands in for an agent index, an agency index
// (the agents seen with that agency) and the "new" status (never triaged: no by_status
// entry). contains() needs no lookup for the agent part: the agent is in the alert key.
class AgentStatusStream final : public Stream {
 public:
  AgentStatusStream(std::vector<std::unique_ptr<Stream>> c, std::unordered_set<uint32_t> agents,
                    std::optional<uint8_t> status, rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                    const rocksdb::ReadOptions& ro)
      : u_(std::move(c)), agents_(std::move(agents)), status_(status), db_(db), cf_(cf), ro_(ro) {}
  void seek_lt(const std::string& bound) override { u_.seek_lt(bound); }
  bool valid() const override { return u_.valid(); }
  std::string_view key() const override { return u_.key(); }
  void next() override { u_.next(); }
  uint64_t estimate() override { return u_.estimate(); }
  bool contains(std::string_view key) override {
    if (key.size() != kAlertKeyLen) return false;
    uint32_t agent = get_u32(key.data() + 8);
    if (!agents_.count(agent)) return false;
    if (!status_) return true;
    std::string k;
    put_u32(k, agent);
    k.push_back(static_cast<char>(*status_));
    k.append(key);
    rocksdb::PinnableSlice v;
    return db_->Get(ro_, cf_, k, &v).ok();
  }

 private:
  UnionStream u_;
  std::unordered_set<uint32_t> agents_;
  std::optional<uint8_t> status_;
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  rocksdb::ReadOptions ro_;
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
constexpr int64_t kDayUs = 24 * kHourUs;

// counts_agent_day: agent(4) | day(8) | severity(1) -> alerts of that agent that day.
std::string agent_day_key(uint32_t agent, int64_t time_us, int severity) {
  int64_t d = time_us / kDayUs * kDayUs;
  if (time_us < 0 && time_us % kDayUs != 0) d -= kDayUs;
  std::string k;
  put_u32(k, agent);
  put_time(k, d);
  k.push_back(static_cast<char>(std::clamp(severity, 0, 255)));
  return k;
}
// counts / counts_day families: hour or day (8) | agency(4) | severity(1) -> number of alerts
// (8 BE, a sum of merge operands).
std::string count_key(int64_t time_us, uint32_t agency, int severity, int64_t unit = kHourUs) {
  int64_t h = time_us / unit * unit;
  if (time_us < 0 && time_us % unit != 0) h -= unit;
  std::string k;
  put_time(k, h);
  put_u32(k, agency);
  k.push_back(static_cast<char>(std::clamp(severity, 0, 255)));
  return k;
}

}  // namespace

namespace {

// Fixed-length index records of one column family, sorted before they go into the batch:
// the memtable insert then walks each family in key order from the previous insert (the
// per-batch / per-prefix insert hints), instead of searching from the top every time.
class SortedRun {
 public:
  SortedRun(size_t klen, size_t vlen) : klen_(klen), vlen_(vlen) {}
  char* add() {
    buf_.resize(buf_.size() + klen_ + vlen_);
    return buf_.data() + buf_.size() - klen_ - vlen_;
  }
  void put_into(rocksdb::WriteBatch& wb, rocksdb::ColumnFamilyHandle* cf) {
    sort();
    const size_t rec = klen_ + vlen_;
    const char* b = buf_.data();
    for (uint32_t i : idx_) {
      const char* r = b + i * rec;
      wb.Put(cf, rocksdb::Slice(r, klen_), rocksdb::Slice(r + klen_, vlen_)).PermitUncheckedError();
    }
  }
  // Puts the records as postings (see PostingStream): records of the same prefix (the
  // first plen bytes) become one record keyed prefix | greatest alert key, its value the
  // entries (alert key | value) in ascending order, the last one without its key; a
  // posting ends where the next entry is kPostingSpanUs or more after its first, or at
  // kPostingMaxEntries.
  void put_postings(rocksdb::WriteBatch& wb, rocksdb::ColumnFamilyHandle* cf, size_t plen) {
    sort();
    const size_t rec = klen_ + vlen_;
    const char* b = buf_.data();
    size_t n = 0;
    int64_t first_time = 0;
    const char* head = nullptr;  // the posting's first record
    const char* last = nullptr;  // its last record (the greatest alert key)
    auto flush = [&] {
      key_.assign(last, klen_);
      val_.erase(val_.size() - vlen_ - (klen_ - plen), klen_ - plen);  // the last key is in the record key
      wb.Put(cf, key_, val_).PermitUncheckedError();
      val_.clear();
      n = 0;
    };
    for (uint32_t i : idx_) {
      const char* r = b + i * rec;
      const int64_t t = get_time(r + plen);
      if (n > 0 && (std::memcmp(r, head, plen) != 0 || static_cast<uint64_t>(t) - static_cast<uint64_t>(first_time) >= static_cast<uint64_t>(kPostingSpanUs) || n == kPostingMaxEntries))
        flush();
      if (n == 0) {
        head = r;
        first_time = t;
      }
      val_.append(r + plen, klen_ - plen + vlen_);
      last = r;
      ++n;
    }
    if (n > 0) flush();
  }
  // The ids records (agent(4) | seq(8) -> alert key) as runs: one agent's consecutive
  // records become one, keyed agent | the last seq, its value their alert keys in seq
  // order (up to kPostingMaxEntries). A run of one is halong-store-4's record.
  void put_id_runs(rocksdb::WriteBatch& wb, rocksdb::ColumnFamilyHandle* cf) {
    sort();
    const size_t rec = klen_ + vlen_;
    const char* b = buf_.data();
    size_t n = 0;
    const char* last = nullptr;
    for (uint32_t i : idx_) {
      const char* r = b + i * rec;
      if (n > 0 && (std::memcmp(r, last, 4) != 0 || n == kPostingMaxEntries)) {
        wb.Put(cf, rocksdb::Slice(last, klen_), val_).PermitUncheckedError();
        val_.clear();
        n = 0;
      }
      val_.append(r + klen_, vlen_);
      last = r;
      ++n;
    }
    if (n > 0) wb.Put(cf, rocksdb::Slice(last, klen_), val_).PermitUncheckedError();
    val_.clear();
  }
  void clear() { buf_.clear(); }
  size_t size() const { return buf_.size(); }
  void truncate(size_t n) { buf_.resize(n); }

 private:
  void sort() {
    const size_t rec = klen_ + vlen_;
    const size_t n = buf_.size() / rec;
    idx_.resize(n);
    for (size_t i = 0; i < n; ++i) idx_[i] = static_cast<uint32_t>(i);
    const char* b = buf_.data();
    const size_t kl = klen_;
    std::sort(idx_.begin(), idx_.end(), [&](uint32_t x, uint32_t y) {
      return std::memcmp(b + x * rec, b + y * rec, kl) < 0;
    });
  }
  size_t klen_, vlen_;
  std::string buf_;
  std::vector<uint32_t> idx_;
  std::string key_, val_;  // the record put_postings / put_id_runs is building
};

// The alert records and index records a write stages (one agent's batch, or a whole group
// of agents' batches), put into the WriteBatch sorted per family at the end. Per thread,
// capacity kept between writes.
struct Runs {
  SortedRun ids{12, kAlertKeyLen}, by_rule{8 + kAlertKeyLen, 0}, by_sev{1 + kAlertKeyLen, 0},
      by_agent_status{5 + kAlertKeyLen, 0}, by_ip{17 + kAlertKeyLen, 16}, by_port{3 + kAlertKeyLen, 0};
  std::string values;  // alert values, back to back
  std::vector<std::pair<std::array<char, kAlertKeyLen>, std::pair<size_t, size_t>>> alerts;  // key -> value range
  // Open-incident records (open_key -> incident id), in the order staged: a key staged twice
  // (a group whose incident was replaced within the write) keeps its last value.
  std::vector<std::pair<std::string, uint64_t>> opens;
  std::array<SortedRun*, 6> all() { return {&ids, &by_rule, &by_sev, &by_agent_status, &by_ip, &by_port}; }
  struct Mark {
    std::array<size_t, 6> runs;
    size_t values, alerts, opens;
  };
  Mark mark() {
    Mark m{};
    auto a = all();
    for (size_t i = 0; i < a.size(); ++i) m.runs[i] = a[i]->size();
    m.values = values.size();
    m.alerts = alerts.size();
    m.opens = opens.size();
    return m;
  }
  void truncate(const Mark& m) {
    auto a = all();
    for (size_t i = 0; i < a.size(); ++i) a[i]->truncate(m.runs[i]);
    values.resize(m.values);
    alerts.resize(m.alerts);
    opens.resize(m.opens);
  }
  void clear() { truncate(Mark{}); }
};
thread_local Runs t_runs;
// Per-thread buffers (the WriteBatch, the runs) larger than this are freed after use: the
// gateway has 16 store threads. A group (kMaxGroupAlerts) stays under it; one agent's
// merged read-ahead (up to 16,384 alerts, ~17 MB) does not.
constexpr size_t kKeepBufferBytes = size_t{8} << 20;

inline char* w8(char* p, uint8_t v) {
  *p = static_cast<char>(v);
  return p + 1;
}
inline char* w16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
  return p + 2;
}
inline char* w32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * (3 - i)));
  return p + 4;
}
inline char* w64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * (7 - i)));
  return p + 8;
}
inline char* wbytes(char* p, const void* d, size_t n) {
  std::memcpy(p, d, n);
  return p + n;
}

// Counter values (alert_count, hourly counts) are 8-byte big-endian two's-complement sums
// of merge operands: +n from write_batch, -n from retention. Wrapping addition is exactly
// associative, so partial merges in compaction give the same sum; readers treat the value
// as signed and ignore counts <= 0.
class AddMerge final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value, std::string* out,
             rocksdb::Logger*) const override {
    uint64_t a = existing && existing->size() == 8 ? get_u64(existing->data()) : 0;
    uint64_t b = value.size() == 8 ? get_u64(value.data()) : 0;
    out->clear();
    put_u64(*out, a + b);
    return true;
  }
  const char* Name() const override { return "halong.add64"; }
};
std::string delta(int64_t d) { return u64s(static_cast<uint64_t>(d)); }

// Incident records: a compact binary form (decoded on every incident read and list).
void put_str(std::string& o, std::string_view s) {
  put_u32(o, static_cast<uint32_t>(s.size()));
  o.append(s);
}
std::string encode_incident(const Incident& i) {
  std::string o;
  o.reserve(64 + i.agent.size() + i.agency.size() + i.src_ip.size() + i.signature.size() + i.assignee.size());
  o.push_back('\x01');
  put_u64(o, i.id);
  put_u64(o, i.sid);
  put_str(o, i.agent);
  put_str(o, i.agency);
  put_str(o, i.src_ip);
  put_str(o, i.signature);
  put_u64(o, i.count);
  put_time(o, i.first_seen_us);
  put_time(o, i.last_seen_us);
  o.push_back(static_cast<char>(i.status));
  put_str(o, i.assignee);
  return o;
}
Result<Incident> decode_incident(std::string_view v) {
  auto bad = [] { return make_error(ErrorCode::storage_error, "corrupt incident record"); };
  size_t p = 0;
  auto need = [&](size_t n) { return p + n <= v.size(); };
  auto u64 = [&](uint64_t& x) { if (!need(8)) return false; x = get_u64(v.data() + p); p += 8; return true; };
  auto str = [&](std::string& s) {
    if (!need(4)) return false;
    uint32_t n = get_u32(v.data() + p);
    p += 4;
    if (!need(n)) return false;
    s.assign(v.data() + p, n);
    p += n;
    return true;
  };
  Incident i;
  uint64_t first = 0, last = 0;
  if (!need(1) || v[0] != '\x01') return bad();
  p = 1;
  if (!u64(i.id) || !u64(i.sid) || !str(i.agent) || !str(i.agency) || !str(i.src_ip) || !str(i.signature) ||
      !u64(i.count) || !u64(first) || !u64(last) || !need(1))
    return bad();
  i.first_seen_us = static_cast<int64_t>(first ^ (1ULL << 63));
  i.last_seen_us = static_cast<int64_t>(last ^ (1ULL << 63));
  uint8_t st = static_cast<uint8_t>(v[p++]);
  if (st > static_cast<uint8_t>(TriageStatus::false_positive)) return bad();
  i.status = static_cast<TriageStatus>(st);
  if (!str(i.assignee) || p != v.size()) return bad();
  return i;
}
// incidents family: 'i' | id(8) -> record; 'o' | sid(8) | agent(4) | src ip -> open incident id(8).
std::string open_key(uint32_t agent, std::string_view group) {
  std::string k;
  k.reserve(13 + group.size());
  k.push_back('o');
  k.append(group.substr(0, 8));
  put_u32(k, agent);
  k.append(group.substr(8));
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
  auto post = [&](int cf, std::string prefix, std::optional<Cidr> f = std::nullopt) -> std::unique_ptr<Stream> {
    return std::make_unique<PostingStream>(db, s.cf(cf), ro, std::move(prefix), lo, cf == kByIp ? 16 : 0, f);
  };
  auto uni = [&](std::vector<std::unique_ptr<Stream>> v) -> std::unique_ptr<Stream> {
    if (v.empty()) return std::make_unique<EmptyStream>();
    if (v.size() == 1) return std::move(v[0]);
    return std::make_unique<UnionStream>(std::move(v));
  };
  empty = false;
  // Agents the query can touch (agent, agency, scope), walked in by_agent_status.
  std::optional<std::vector<uint32_t>> agents;
  if (q.agent) {
    auto n = s.dict_find("a/" + *q.agent);
    if (!n) { empty = true; return {}; }
    agents = std::vector<uint32_t>{*n};
  } else if (q.agency || q.scope) {
    std::vector<uint32_t> v;
    for (const auto& ag : q.agency ? std::vector<std::string>{*q.agency} : *q.scope) {
      auto more = s.agents_of_agency(ag);
      v.insert(v.end(), more.begin(), more.end());
    }
    if (v.empty()) { empty = true; return {}; }
    agents = std::move(v);
  }
  const uint8_t used = s.statuses_used_.load();
  auto agent_stream = [&](const std::vector<uint32_t>& ags, std::optional<uint8_t> status) -> bool {
    std::vector<uint8_t> sts;
    if (status) sts.push_back(*status);
    else
      for (uint8_t st = 0; st < 8; ++st)
        if (used & (1u << st)) sts.push_back(st);
    if (ags.size() * sts.size() > kMaxUnion) return false;  // too many to merge: the predicate serves
    std::vector<std::unique_ptr<Stream>> v;
    for (uint32_t a : ags)
      for (uint8_t st : sts) v.push_back(idx(kByAgentStatus, u32s(a) + u8s(st)));
    conj.push_back(std::make_unique<AgentStatusStream>(std::move(v), std::unordered_set<uint32_t>(ags.begin(), ags.end()),
                                                       status, db, s.cf(kByAgentStatus), ro));
    return true;
  };
  std::optional<uint8_t> qstatus;
  if (q.status) qstatus = static_cast<uint8_t>(*q.status);
  bool status_served = false;
  if (agents) status_served = agent_stream(*agents, qstatus) && qstatus;
  if (qstatus && !status_served) {
    if (*q.status != TriageStatus::fresh) conj.push_back(idx(kByStatus, u8s(*qstatus)));
    else agent_stream(s.all_agents(), qstatus);  // "new" = not triaged: no by_status entry
  }
  if (q.sid) conj.push_back(post(kByRule, u64s(*q.sid)));
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
      for (auto sid : sids) v.push_back(post(kByRule, u64s(sid)));
      conj.push_back(uni(std::move(v)));
    }
  }
  if (q.min_severity) {
    if (*q.min_severity < 0) { empty = true; return {}; }
    bool capped = false;
    auto ps = distinct_prefixes(db, s.cf(kBySeverity), ro, u8s(0), u8s(sev_byte(*q.min_severity)), kMaxUnion, capped);
    std::vector<std::unique_ptr<Stream>> v;
    for (auto& p : ps) v.push_back(post(kBySeverity, p));
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
    for (auto& p : ps) v.push_back(post(kByIp, p, c));
    conj.push_back(uni(std::move(v)));
  };
  if (q.src_net) net('s', *q.src_net);
  if (q.dest_net) net('d', *q.dest_net);
  if (q.port && *q.port != 0) {
    std::vector<std::unique_ptr<Stream>> v;
    v.push_back(post(kByPort, "s" + u16s(*q.port)));
    v.push_back(post(kByPort, "d" + u16s(*q.port)));
    conj.push_back(uni(std::move(v)));
  }
  if (q.assignee && !q.assignee->empty()) {
    auto n = s.dict_find("u/" + *q.assignee);
    if (!n) { empty = true; return {}; }
    conj.push_back(idx(kByAssignee, u32s(*n)));
  }
  if (q.incident) {
    // An incident's alerts: its agent's alerts of its sid from its source within its seen
    // range (walk clamps the time range to it); membership itself is checked on the record.
    auto inc = s.get_incident(*q.incident);
    if (!inc) { empty = true; return {}; }
    auto n = s.dict_find("a/" + inc->agent);
    if (!n) { empty = true; return {}; }
    if (!q.agent) agent_stream({*n}, std::nullopt);
    if (!q.sid) conj.push_back(post(kByRule, u64s(inc->sid)));
    if (auto ip = parse_ip16(inc->src_ip)) {
      Cidr c;
      c.addr = *ip;
      c.prefix = 128;
      conj.push_back(post(kByIp, ip_prefix('s', ip_bucket(*ip)), c));
    }
  }
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
  std::optional<AlertQuery> clamped;
  if (q.incident) {
    // Every alert of an incident lies in [first_seen, last_seen].
    auto inc = s.get_incident(*q.incident);
    if (!inc) return inc.error().code == ErrorCode::not_found ? Status{} : Status(inc.error());
    clamped = q;
    clamped->from_us = std::max(q.from_us, inc->first_seen_us);
    if (inc->last_seen_us < INT64_MAX) clamped->to_us = std::min(q.to_us, inc->last_seen_us + 1);
    bound = std::min(bound, alert_key(clamped->to_us, 0, 0));
  }
  const AlertQuery& qq = clamped ? *clamped : q;
  auto conj = plan(s, qq, ro, empty);
  if (empty) return {};
  std::unique_ptr<Stream> root;
  if (conj.empty()) root = std::make_unique<IndexStream>(db, s.cf(kAlerts), ro, "", alert_key(qq.from_us, 0, 0));
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
  writers_.reset();  // no chunk write in flight past this point
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
  const bool existed = std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec);
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = o.create_if_missing && !o.read_only;
  dbo.create_missing_column_families = !o.read_only;
  dbo.paranoid_checks = true;
  dbo.max_background_jobs = 2;
  dbo.keep_log_file_num = 4;
  dbo.allow_concurrent_memtable_write = true;        // concurrent writers insert in parallel
  dbo.db_write_buffer_size = o.memtable_mb << 20;     // RocksOptions::memtable_mb
  dbo.enable_write_thread_adaptive_yield = true;
  // Each writer inserts its batch into the memtables as soon as its WAL write is done,
  // without waiting for the rest of its write group (+20-30% at 100 agents on 2 cores).
  // What it gives up: a reader may see part of a batch that is being written, or a later
  // batch before an earlier one still in flight. Readers here tolerate both (an index
  // entry whose alert is not visible yet is skipped, like one deleted by retention); an
  // agent's own batches are still ordered (its lock), a writer reads its own writes, and
  // recovery replays the WAL in order, so what is durable is unchanged (NOTES.md "Writes").
  dbo.unordered_write = true;
  auto stats = rocksdb::CreateDBStatistics();
  stats->set_stats_level(rocksdb::StatsLevel::kExceptHistogramOrTimers);
  dbo.statistics = stats;
  auto cache = rocksdb::NewLRUCache(o.block_cache_mb << 20);
  auto add = std::make_shared<AddMerge>();
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (int i = 0; i < kNumCf; ++i) {
    rocksdb::ColumnFamilyOptions co;
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = cache;
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    t.checksum = rocksdb::kXXH3;  // cheaper than Debian's portable (table) CRC32c in flush/compaction
    co.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    // Insert hints: every family whose keys arrive in order within a prefix (index
    // prefix | time...; ids agent | seq; incidents 'i' | id; alerts by time).
    if (kCfs[i].hint >= 0)
      co.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(static_cast<size_t>(kCfs[i].hint)));
    if (i == kDefault || i == kCounts || i == kCountsDay || i == kCountsAgentDay) co.merge_operator = add;
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
  } else if (!ls.IsPathNotFound() && existed) {
    return storage_err("cannot open store " + dir, ls);
  }
  std::unique_ptr<RocksStore> s(new RocksStore());
  s->dir_ = dir;
  s->opt_ = o;
  s->statistics_ = stats;
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

  // Layout version: a store written with another key layout is refused, never misread.
  rocksdb::ReadOptions ro;
  std::string v;
  st = raw->Get(ro, s->cf(kDefault), kFormatKey, &v);
  if (st.IsNotFound() && !existed && !o.read_only) {
    rocksdb::WriteOptions wo;
    wo.sync = o.sync;
    st = raw->Put(wo, s->cf(kDefault), kFormatKey, kFormat);
    if (!st.ok()) return storage_err("store " + dir + ": writing the layout version", st);
  } else if (st.IsNotFound()) {
    return make_error(ErrorCode::storage_error, "store " + dir +
                                                    " was written by an older Halong version (no layout version; this "
                                                    "collector needs '" + std::string(kFormat) +
                                                    "'): move it aside and start with an empty store directory");
  } else if (!st.ok()) {
    return storage_err("store " + dir + ": reading the layout version", st);
  } else if (v == kFormatBeforePostings) {
    // Its per-alert index records are postings of one entry: only the version changes
    // (read-only: read as it is).
    if (!o.read_only) {
      rocksdb::WriteOptions wo;
      wo.sync = o.sync;
      st = raw->Put(wo, s->cf(kDefault), kFormatKey, kFormat);
      if (!st.ok()) return storage_err("store " + dir + ": writing the layout version", st);
      spdlog::info("store {}: layout {} opened as {} (its index records are postings of one alert)", dir,
                   kFormatBeforePostings, kFormat);
    }
  } else if (v != kFormat) {
    return make_error(ErrorCode::storage_error, "store " + dir + " has layout '" + v.substr(0, 64) +
                                                    "' but this collector reads '" + std::string(kFormat) +
                                                    "': move it aside and start with an empty store directory");
  }

  // Load the dictionary, the signature set, the counters.
  std::unique_ptr<rocksdb::Iterator> it(raw->NewIterator(ro, s->cf(kAgents)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->value().size() != 4) return make_error(ErrorCode::storage_error, "store " + dir + ": corrupt agents record");
    uint32_t n = get_u32(it->value().data());
    auto k = it->key();
    if (k.starts_with("m/")) {  // agent -> agency seen
      if (k.size() != 10) return make_error(ErrorCode::storage_error, "store " + dir + ": corrupt agent/agency record");
      s->pair_add(get_u32(k.data() + 2), get_u32(k.data() + 6));
      continue;
    }
    s->dict_[k.ToString()] = n;
    s->dict_next_ = std::max(s->dict_next_, n + 1);
  }
  // Statuses in use (by_agent_status is walked for these only when no status is asked).
  for (uint8_t stt = 1; stt <= static_cast<uint8_t>(TriageStatus::false_positive); ++stt) {
    std::unique_ptr<rocksdb::Iterator> si(raw->NewIterator(ro, s->cf(kByStatus)));
    si->Seek(u8s(stt));
    if (si->Valid() && si->key().size() > 0 && static_cast<uint8_t>(si->key()[0]) == stt)
      s->statuses_used_ |= static_cast<uint8_t>(1u << stt);
  }
  if (!it->status().ok()) return storage_err("store " + dir + ": reading agents", it->status());
  it.reset(raw->NewIterator(ro, s->cf(kSignatures)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) s->sig_seen_.insert(it->key().ToString());
  if (!it->status().ok()) return storage_err("store " + dir + ": reading signatures", it->status());
  st = raw->Get(ro, s->cf(kDefault), "alert_count", &v);
  if (st.ok() && v.size() == 8) s->count_ = static_cast<uint64_t>(std::max<int64_t>(0, static_cast<int64_t>(get_u64(v.data()))));
  else if (!st.ok() && !st.IsNotFound()) return storage_err("store " + dir + ": reading alert count", st);
  it.reset(raw->NewIterator(ro, s->cf(kIncidents)));
  it->SeekForPrev("i\xff");
  if (it->Valid() && it->key().size() == 9 && it->key()[0] == 'i') s->next_incident_ = get_u64(it->key().data() + 1) + 1;
  if (!it->status().ok()) return storage_err("store " + dir + ": reading incidents", it->status());
  spdlog::debug("store {}: opened, {} alerts, RocksDB checksums by {}", dir, s->count_, rocksdb_crc32c_kind());
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

uint64_t RocksStore::write_groups() {
  return statistics_ ? statistics_->getTickerCount(rocksdb::WRITE_DONE_BY_SELF) : 0;
}

std::optional<uint32_t> RocksStore::dict_find(const std::string& key) {
  std::shared_lock lock(dict_mu_);
  auto it = dict_.find(key);
  if (it == dict_.end()) return std::nullopt;
  return it->second;
}

uint32_t RocksStore::dict_assign(const std::string& key) {
  if (auto n = dict_find(key)) return *n;
  std::unique_lock lock(dict_mu_);
  auto [it, added] = dict_.emplace(key, dict_next_);
  if (added) {
    ++dict_next_;
    dict_pending_.insert(key);
  }
  return it->second;
}

bool RocksStore::dict_pending(const std::string& key) {
  std::shared_lock lock(dict_mu_);
  return !dict_pending_.empty() && dict_pending_.count(key) != 0;
}

void RocksStore::dict_persisted(const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  std::unique_lock lock(dict_mu_);
  for (const auto& k : keys) dict_pending_.erase(k);
}

uint64_t RocksStore::pair_id(uint32_t agent, uint32_t agency) { return (static_cast<uint64_t>(agent) << 32) | agency; }

std::string RocksStore::pair_key(uint32_t agent, uint32_t agency) {
  std::string k = "m/";
  put_u32(k, agent);
  put_u32(k, agency);
  return k;
}

void RocksStore::pair_add(uint32_t agent, uint32_t agency) {
  if (pairs_.insert(pair_id(agent, agency)).second) agency_agents_[agency].push_back(agent);
}

bool RocksStore::pair_pending(uint32_t agent, uint32_t agency) {
  const uint64_t id = pair_id(agent, agency);
  {
    std::shared_lock lock(dict_mu_);
    if (pairs_.count(id)) return pairs_pending_.count(id) != 0;
  }
  std::unique_lock lock(dict_mu_);
  if (pairs_.count(id)) return pairs_pending_.count(id) != 0;
  pair_add(agent, agency);  // visible to queries at once; persisted by the batch that carries it
  pairs_pending_.insert(id);
  return true;
}

void RocksStore::pairs_persisted(const std::vector<uint64_t>& ids) {
  if (ids.empty()) return;
  std::unique_lock lock(dict_mu_);
  for (auto id : ids) pairs_pending_.erase(id);
}

std::vector<uint32_t> RocksStore::agents_of_agency(const std::string& agency) {
  auto g = dict_find("g/" + agency);
  if (!g) return {};
  std::shared_lock lock(dict_mu_);
  auto it = agency_agents_.find(*g);
  return it == agency_agents_.end() ? std::vector<uint32_t>{} : it->second;
}

std::vector<uint32_t> RocksStore::all_agents() {
  std::vector<uint32_t> v;
  std::shared_lock lock(dict_mu_);
  for (const auto& [k, n] : dict_)
    if (k.starts_with("a/")) v.push_back(n);
  return v;
}

Result<uint32_t> RocksStore::dict_get_or_add(const std::string& key) {
  uint32_t n = dict_assign(key);
  if (!dict_pending(key)) return n;
  rocksdb::WriteOptions wo;
  wo.sync = opt_.sync;
  auto st = db_->Put(wo, cf(kAgents), key, u32s(n));
  if (!st.ok()) return storage_err("storing id of " + key, st);
  dict_persisted({key});
  return n;
}

// ---- writes ----------------------------------------------------------------------------
// Each write_batch call stages its own rocksdb::WriteBatch while holding its agent's lock
// (cursor dedup and the agent's incidents are read-modify-write, and only that agent's
// batches touch them), then writes it. Concurrent callers meet in RocksDB's write thread:
// one leader writes the whole group to the WAL with one fsync and, with
// allow_concurrent_memtable_write, every writer inserts its own batch into the memtables
// in parallel. Shared counters (alert count, hourly counts) are merge operands, so batches
// of different agents never read-modify-write the same key.
struct RocksStore::AgentState {
  std::mutex mu;
  uint32_t num = 0;
  bool cursor_loaded = false;
  uint64_t hi = 0;
  // Open incidents of this agent by group (sid(8) | src ip): a cache of the incidents
  // family, valid because only this agent's batches (under mu) and update_incident (also
  // under mu) change them. A batch changes the entries in place (and drops the whole cache
  // if its write fails). `complete`: every group of this agent that has an incident in the
  // store is in the cache, so a miss needs no read (true for an agent with no stored alert,
  // until the cache is dropped). The caches of all agents share RocksOptions::incident_cache_groups entries.
  struct Open {
    Incident inc;
    bool known = false;   // false only while the batch that created the entry stages it
    uint64_t mark = 0;    // the last batch that changed it
  };
  std::unordered_map<std::string, Open> open;
  bool complete = false;
  uint64_t batch_mark = 0;
  // A chunked write failed after some of its chunks were written without a WAL sync: what
  // they hold counts as stored (the cursor), so a batch of only duplicates must sync
  // before it is answered.
  bool unsynced = false;
  std::string last_agency;
  uint32_t last_agency_num = 0;
};


// What a staged batch changes in memory once its write has succeeded.
struct RocksStore::Staged {
  std::vector<AgentState::Open*> touched;  // cache entries the batch changed (each once)
  std::vector<Incident> retired;  // incidents of a group that a new incident replaced in this batch
  std::vector<std::string> new_sigs;
  std::vector<std::string> dict_keys;  // pending dictionary records carried by the batch
  std::vector<uint64_t> pairs;         // pending agent -> agency records carried by the batch
  uint64_t hi = 0;
  uint64_t stored = 0;
};

RocksStore::AgentState* RocksStore::find_agent_state(const std::string& agent_id) {
  std::shared_lock l(agents_mu_);
  auto it = agents_.find(agent_id);
  return it == agents_.end() ? nullptr : it->second.get();
}

RocksStore::AgentState& RocksStore::agent_state(const std::string& agent_id) {
  if (auto* s = find_agent_state(agent_id)) return *s;
  std::unique_lock l(agents_mu_);
  auto& p = agents_[agent_id];
  if (!p) {
    p = std::make_unique<AgentState>();
    p->num = dict_assign("a/" + agent_id);
  }
  return *p;
}

Status RocksStore::load_cursor(AgentState& st, const std::string& agent_id) {
  if (st.cursor_loaded) return {};
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), cf(kCursors), agent_id, &v);
  if (s.IsNotFound()) st.hi = 0;
  else if (!s.ok() || v.size() != 8) return storage_err("reading cursor of agent " + agent_id, s);
  else st.hi = get_u64(v.data());
  st.cursor_loaded = true;
  // No cursor: the agent never stored an alert, so it has no incident either.
  st.complete = s.IsNotFound() && st.open.empty();
  return {};
}

Status RocksStore::sync_if_unsynced(AgentState& st, const std::string& agent_id) {
  if (!st.unsynced) return {};
  auto fs = db_->FlushWAL(true);
  if (!fs.ok()) return storage_err("syncing the WAL for agent " + agent_id, fs);
  st.unsynced = false;
  return {};
}

void RocksStore::drop_incident_cache(AgentState& st) {
  cached_groups_.fetch_sub(st.open.size(), std::memory_order_relaxed);
  st.open.clear();
  st.complete = false;
}

// Threads that write the chunks of one big batch while its caller stages the next chunk
// (write_chunked). Started on first use.
struct RocksStore::Writers {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::packaged_task<rocksdb::Status()>> queue;
  bool stop = false;
  std::vector<std::thread> threads;
  explicit Writers(int n) {
    for (int i = 0; i < n; ++i)
      threads.emplace_back([this] {
        pthread_setname_np(pthread_self(), "hl-store-wr");
        for (;;) {
          std::packaged_task<rocksdb::Status()> t;
          {
            std::unique_lock l(mu);
            cv.wait(l, [&] { return stop || !queue.empty(); });
            if (queue.empty()) return;
            t = std::move(queue.front());
            queue.pop_front();
          }
          t();
        }
      });
  }
  ~Writers() {
    {
      std::lock_guard l(mu);
      stop = true;
    }
    cv.notify_all();
    for (auto& t : threads) t.join();
  }
  std::future<rocksdb::Status> submit(std::function<rocksdb::Status()> f) {
    std::packaged_task<rocksdb::Status()> t(std::move(f));
    auto fut = t.get_future();
    {
      std::lock_guard l(mu);
      queue.push_back(std::move(t));
    }
    cv.notify_one();
    return fut;
  }
};

// What write_batch and write_batches refuse before anything is staged.
Status RocksStore::check_batch(const std::string& agent_id, const std::vector<Alert>& alerts) const {
  if (opt_.read_only) return make_error(ErrorCode::forbidden, "store opened read-only");
  if (agent_id.empty()) return make_error(ErrorCode::invalid_argument, "write_batch: empty agent id");
  for (const auto& a : alerts)
    if (a.seq == 0) return make_error(ErrorCode::invalid_argument, "write_batch: alert with seq 0 from agent " + agent_id);
  return {};
}

Result<BatchResult> RocksStore::write_batch(const std::string& agent_id, const std::vector<Alert>& alerts) {
  if (auto c = check_batch(agent_id, alerts); !c) return c.error();
  // A big batch while nothing else is being written (one busy agent): chunked, so that its
  // staging and its writing overlap. With other writers about, the group is the better use
  // of the two cores.
  if (opt_.pipeline_chunk > 0 && alerts.size() >= 2 * opt_.pipeline_chunk) {
    bool quiet;
    {
      std::lock_guard gl(group_mu_);
      quiet = group_leaders_ == 0 && group_queue_.empty() && !chunked_active_;
      if (quiet) chunked_active_ = true;
    }
    if (quiet) {
      Result<BatchResult> r = BatchResult{};
      {
        AgentState& st = agent_state(agent_id);
        std::lock_guard lock(st.mu);
        if (auto s = load_cursor(st, agent_id); !s) r = s.error();
        else r = write_chunked(st, agent_id, alerts);
      }
      std::lock_guard gl(group_mu_);
      chunked_active_ = false;
      return r;
    }
  }
  return write_grouped(agent_id, alerts);
}

// Smaller batches are written in groups (flat combining): a caller queues its batch; while
// fewer than kMaxGroupLeaders groups are being written, a caller takes what is queued (one
// batch per agent, up to kMaxGroupAlerts alerts) and stages every batch of it into one
// WriteBatch, each under its agent's lock, with the alert and index records of all of them
// sorted per family. Concurrent agents' records then go into the memtables in key order
// from the previous insert, as one agent's do, instead of interleaving at random positions
// (the memtable inserts were two thirds of the store's CPU at 100 agents). Each agent's
// alerts and cursor are still in the same atomic write; a batch whose staging fails is
// rolled back out of the group alone; a failed write fails every batch of the group.
struct RocksStore::Request {
  const std::string* agent;
  const std::vector<Alert>* alerts;
  std::optional<Result<BatchResult>> result;
};
constexpr int kMaxGroupLeaders = 2;
// ~4 MB of WriteBatch (~1 KB per alert with its index records): under kKeepBufferBytes, so a
// store thread reuses its WriteBatch and runs from one group to the next. At 16,384 (~17
// MB) every group freed them and faulted fresh pages in again: page clearing was 9% of all
// CPU at 1,000 agents, and store CPU fell by 0.7-1.5 us per alert with the smaller groups
// (bench/ingest/NOTES.md, session 6). A group still takes whole batches, so it can pass
// this by one batch.
constexpr size_t kMaxGroupAlerts = 4096;

Result<BatchResult> RocksStore::write_grouped(const std::string& agent_id, const std::vector<Alert>& alerts) {
  std::vector<Request> rq{Request{&agent_id, &alerts, std::nullopt}};
  write_grouped(rq);
  return std::move(*rq[0].result);
}

std::vector<Result<BatchResult>> RocksStore::write_batches(const std::vector<BatchRef>& batches) {
  if (batches.size() == 1) return {write_batch(*batches[0].agent_id, *batches[0].alerts)};
  std::vector<Result<BatchResult>> out(batches.size(), Result<BatchResult>(BatchResult{}));
  std::vector<Request> rq;
  std::vector<size_t> where;
  for (size_t i = 0; i < batches.size(); ++i) {
    if (auto c = check_batch(*batches[i].agent_id, *batches[i].alerts); !c) {
      out[i] = c.error();
    } else {
      rq.push_back(Request{batches[i].agent_id, batches[i].alerts, std::nullopt});
      where.push_back(i);
    }
  }
  if (!rq.empty()) write_grouped(rq);
  for (size_t k = 0; k < rq.size(); ++k) out[where[k]] = std::move(*rq[k].result);
  return out;
}

void RocksStore::write_grouped(std::vector<Request>& requests) {
  std::unique_lock l(group_mu_);
  for (auto& rq : requests) group_queue_.push_back(&rq);
  for (;;) {
    if (std::all_of(requests.begin(), requests.end(), [](const Request& r) { return r.result.has_value(); })) return;
    if (group_leaders_ < kMaxGroupLeaders) {
      std::vector<Request*> group;
      size_t n = 0;
      for (auto it = group_queue_.begin(); it != group_queue_.end() && n < kMaxGroupAlerts;) {
        if (!group_agents_.insert(*(*it)->agent).second) {  // this agent's earlier batch is being written
          ++it;
          continue;
        }
        n += (*it)->alerts->size();
        group.push_back(*it);
        it = group_queue_.erase(it);
      }
      if (!group.empty()) {
        ++group_leaders_;
        l.unlock();
        auto results = run_group(group);
        l.lock();
        --group_leaders_;
        for (size_t i = 0; i < group.size(); ++i) {
          group[i]->result = std::move(results[i]);
          group_agents_.erase(*group[i]->agent);
        }
        group_cv_.notify_all();
        continue;
      }
    }
    group_cv_.wait(l);
  }
}

std::vector<Result<BatchResult>> RocksStore::run_group(const std::vector<Request*>& group) {
  thread_local rocksdb::WriteBatch wb;
  wb.Clear();
  t_runs.clear();
  struct Item {
    AgentState* st = nullptr;
    std::unique_lock<std::mutex> lock;
    Staged sg;
    BatchResult r;
    bool write = false;
  };
  std::vector<Item> items(group.size());
  std::vector<Result<BatchResult>> out;
  out.reserve(group.size());
  for (size_t i = 0; i < group.size(); ++i) {
    const std::string& agent_id = *group[i]->agent;
    Item& it = items[i];
    it.st = &agent_state(agent_id);
    it.lock = std::unique_lock(it.st->mu);
    if (auto s = load_cursor(*it.st, agent_id); !s) {
      out.emplace_back(s.error());
      continue;
    }
    it.r.highest_seq = it.st->hi;
    wb.SetSavePoint();
    const auto mark = t_runs.mark();
    auto s = stage(*it.st, agent_id, *group[i]->alerts, it.st->hi, wb, it.sg, it.r);
    if (!s || it.r.stored == 0) {  // nothing of this batch goes into the write
      wb.RollbackToSavePoint().PermitUncheckedError();
      t_runs.truncate(mark);
      if (!s) {
        drop_incident_cache(*it.st);  // staging changed it in place
        out.emplace_back(s.error());
      } else if (auto us = sync_if_unsynced(*it.st, agent_id); !us) {
        out.emplace_back(us.error());
      } else {
        out.emplace_back(it.r);  // only duplicates: everything is already durable
      }
      continue;
    }
    wb.PopSavePoint().PermitUncheckedError();
    it.write = true;
    out.emplace_back(BatchResult{});  // set once written
  }
  if (std::none_of(items.begin(), items.end(), [](const Item& it) { return it.write; })) return out;
  emit_runs(wb);
  rocksdb::WriteOptions wo;
  wo.sync = opt_.sync;
  wo.memtable_insert_hint_per_batch = true;
  auto s = db_->Write(wo, &wb);
  if (wb.GetDataSize() > kKeepBufferBytes) wb = rocksdb::WriteBatch();  // do not keep a huge buffer per thread
  for (size_t i = 0; i < items.size(); ++i) {
    Item& it = items[i];
    if (!it.write) continue;
    if (s.ok()) {
      publish(*it.st, it.sg);
      if (opt_.sync) it.st->unsynced = false;  // this synced write made everything before it durable
      out[i] = it.r;
    } else {
      drop_incident_cache(*it.st);
      out[i] = storage_err("writing batch of agent " + *group[i]->agent, s);
    }
  }
  return out;
}

// Durable (or, for a chunk, written ahead of the synced one): publish the in-memory state.
void RocksStore::publish(AgentState& st, Staged& sg) {
  st.hi = sg.hi;
  count_ += sg.stored;
  dict_persisted(sg.dict_keys);
  pairs_persisted(sg.pairs);
  if (!sg.new_sigs.empty()) {
    std::lock_guard sl(sig_mu_);
    for (auto& s2 : sg.new_sigs) sig_seen_.insert(std::move(s2));
  }
}

// A big batch of one agent (the gateway's read-ahead merges its queued batches) is staged
// and written in chunks, the write of chunk i (on a writer thread) overlapping the staging of
// chunk i+1 here: one agent's ingest is then no longer one thread's staging + insert + fsync
// in a row. Each chunk carries the cursor up to its end, so every prefix of chunks is a
// consistent state. The chunks go to RocksDB one after the other (chunk i+1 is written only
// once chunk i's write returned) and only the last one syncs the WAL, which makes all of
// them durable; the caller acks only after that. A crash in between keeps a prefix of
// chunks with its cursor (the WAL is replayed in order), and the agent resends the rest.
Result<BatchResult> RocksStore::write_chunked(AgentState& st, const std::string& agent_id,
                                              std::span<const Alert> alerts) {
  std::call_once(writers_once_, [this] { writers_ = std::make_unique<Writers>(2); });
  thread_local rocksdb::WriteBatch wbs[2];
  BatchResult total;
  total.highest_seq = st.hi;
  uint64_t hi = st.hi;  // staged so far
  std::future<rocksdb::Status> pending;
  Staged pending_sg;
  bool have_pending = false, synced = true;
  rocksdb::WriteOptions wo;
  wo.memtable_insert_hint_per_batch = true;
  // Waits for the chunk being written; publishes it when it was written.
  auto settle = [&]() -> Status {
    if (!have_pending) return {};
    have_pending = false;
    auto ws = pending.get();
    if (!ws.ok()) return storage_err("writing batch of agent " + agent_id, ws);
    publish(st, pending_sg);
    total.stored += pending_sg.stored;
    total.highest_seq = st.hi;
    return {};
  };
  const size_t chunk = opt_.pipeline_chunk;
  for (size_t off = 0; off < alerts.size(); off += chunk) {
    auto part = alerts.subspan(off, std::min(chunk, alerts.size() - off));
    const bool last = off + chunk >= alerts.size();
    rocksdb::WriteBatch& wb = wbs[(off / chunk) % 2];
    wb.Clear();
    Staged sg;
    BatchResult r;
    t_runs.clear();
    auto staged = stage(st, agent_id, part, hi, wb, sg, r);
    if (staged && r.stored) emit_runs(wb);
    auto written = settle();
    if (!staged || !written) {
      drop_incident_cache(st);
      if (total.stored && opt_.sync && !db_->FlushWAL(true).ok()) st.unsynced = true;
      return !written ? written.error() : staged.error();
    }
    total.duplicates += r.duplicates;
    if (r.stored == 0) continue;
    hi = sg.hi;
    wo.sync = last && opt_.sync;
    synced = wo.sync || !opt_.sync;
    pending = writers_->submit([this, &wb, wo] { return db_->Write(wo, &wb); });
    pending_sg = std::move(sg);
    have_pending = true;
  }
  if (auto s = settle(); !s) {
    drop_incident_cache(st);
    if (total.stored && opt_.sync && !db_->FlushWAL(true).ok()) st.unsynced = true;
    return s.error();
  }
  if (!synced) {  // the last chunk held only duplicates: sync what the others wrote
    auto fs = db_->FlushWAL(true);
    if (!fs.ok()) {
      st.unsynced = true;
      return storage_err("syncing the WAL for agent " + agent_id, fs);
    }
  }
  if (total.stored == 0) {  // nothing written: only duplicates
    if (auto us = sync_if_unsynced(st, agent_id); !us) return us.error();
  }
  st.unsynced = false;  // the last write (or FlushWAL) synced the WAL
  return total;
}

Status RocksStore::stage(AgentState& st, const std::string& agent_id, std::span<const Alert> alerts,
                         uint64_t hi, rocksdb::WriteBatch& wb, Staged& sg, BatchResult& r) {
  const uint32_t anum = st.num;
  const uint64_t mark = ++st.batch_mark;
  // The agents' caches share a bound: an agent whose batch would pass it starts its own
  // cache again (never during a batch: sg.touched points into it).
  if (!st.open.empty() && cached_groups_.load(std::memory_order_relaxed) + alerts.size() > opt_.incident_cache_groups)
    drop_incident_cache(st);
  if (dict_pending("a/" + agent_id)) {
    wb.Put(cf(kAgents), "a/" + agent_id, u32s(anum));
    sg.dict_keys.push_back("a/" + agent_id);
  }
  // Index records, per family: fixed lengths (prefix + 20-byte alert key [+ value]), added
  // to this thread's runs (emit_runs puts them into the batch).
  auto& [ids, by_rule, by_sev, by_agent_status, by_ip, by_port, values, alert_recs, opens] = t_runs;
  std::map<std::string, int64_t> counts, days, agent_days;  // counter deltas
  rocksdb::ReadOptions ro;
  Alert fixed;  // a copy, only when the alert's id / agent id must be corrected
  std::string expect_id, gk, sig;
  uint32_t checked_gnum = 0;  // the agency whose pending records this batch has checked
  std::unordered_map<uint64_t, std::string> sigs_checked;  // sid -> signature record checked in this batch
  for (const auto& a0 : alerts) {
    if (a0.seq <= hi) {
      ++r.duplicates;
      continue;
    }
    hi = a0.seq;
    const Alert* ap = &a0;
    expect_id.assign(agent_id).append(":").append(std::to_string(a0.seq));
    if (a0.agent.id != agent_id || a0.id != expect_id) {
      fixed = a0;
      fixed.agent.id = agent_id;
      fixed.id = expect_id;
      ap = &fixed;
    }
    const Alert& a = *ap;
    if (a.agent.agency != st.last_agency || st.last_agency_num == 0) {
      st.last_agency = a.agent.agency;
      st.last_agency_num = dict_assign("g/" + a.agent.agency);
    }
    const uint32_t gnum = st.last_agency_num;
    // Once per agency per batch (the batch carries the records of pending ids): a later
    // alert of the same agency would find them in sg already.
    if (gnum != checked_gnum) {
      checked_gnum = gnum;
      if (pair_pending(anum, gnum) && std::find(sg.pairs.begin(), sg.pairs.end(), pair_id(anum, gnum)) == sg.pairs.end()) {
        wb.Put(cf(kAgents), pair_key(anum, gnum), u32s(gnum));
        sg.pairs.push_back(pair_id(anum, gnum));
      }
      if (dict_pending("g/" + a.agent.agency) &&
          std::find(sg.dict_keys.begin(), sg.dict_keys.end(), "g/" + a.agent.agency) == sg.dict_keys.end()) {
        wb.Put(cf(kAgents), "g/" + a.agent.agency, u32s(gnum));
        sg.dict_keys.push_back("g/" + a.agent.agency);
      }
    }

    // Incident grouping (sid | agent | src ip), through this batch's changes, then the
    // agent's cache, then the store.
    gk.clear();
    put_u64(gk, a.alert.signature_id);
    gk.append(a.src_ip);
    auto [ci, added] = st.open.try_emplace(gk);
    AgentState::Open& op = ci->second;
    if (added) {
      cached_groups_.fetch_add(1, std::memory_order_relaxed);
      if (!st.complete) {
        std::string ov;
        auto s = db_->Get(ro, cf(kIncidents), open_key(anum, gk), &ov);
        if (s.ok() && ov.size() == 8) {
          std::string iv;
          s = db_->Get(ro, cf(kIncidents), "i" + ov, &iv);
          if (!s.ok()) return storage_err("reading incident " + std::to_string(get_u64(ov.data())), s);
          auto inc = decode_incident(iv);
          if (!inc) return inc.error();
          op.inc = std::move(*inc);
          op.known = true;
        } else if (!s.ok() && !s.IsNotFound()) {
          return storage_err("reading open incident", s);
        }
      }
    }
    if (op.mark != mark) {
      op.mark = mark;
      sg.touched.push_back(&op);
    }
    if (!op.known || !detail::join_incident(op.inc, a, opt_.incidents)) {
      if (op.known) sg.retired.push_back(op.inc);  // its last change must be written too
      op.inc = detail::new_incident(next_incident_.fetch_add(1), a);
      op.known = true;
      opens.emplace_back(open_key(anum, gk), op.inc.id);
    }
    const uint64_t incident = op.inc.id;

    char key[kAlertKeyLen];
    alert_key_into(key, a.timestamp_us, anum, a.seq);
    const size_t vstart = values.size();
    put_u64(values, incident);
    append_json(values, a);
    alert_recs.emplace_back();
    std::memcpy(alert_recs.back().first.data(), key, kAlertKeyLen);
    alert_recs.back().second = {vstart, values.size() - vstart};
    const char* k = key;
    char* p = ids.add();
    p = w32(p, anum);
    p = w64(p, a.seq);
    wbytes(p, k, kAlertKeyLen);
    wbytes(w64(by_rule.add(), a.alert.signature_id), k, kAlertKeyLen);
    wbytes(w8(by_sev.add(), sev_byte(a.alert.severity)), k, kAlertKeyLen);
    wbytes(w8(w32(by_agent_status.add(), anum), static_cast<uint8_t>(TriageStatus::fresh)), k, kAlertKeyLen);
    ++counts[count_key(a.timestamp_us, gnum, a.alert.severity)];
    ++days[count_key(a.timestamp_us, gnum, a.alert.severity, kDayUs)];
    ++agent_days[agent_day_key(anum, a.timestamp_us, a.alert.severity)];
    for (int side = 0; side < 2; ++side) {
      const std::string& ipt = side == 0 ? a.src_ip : a.dest_ip;
      if (auto ip = parse_ip16(ipt)) {
        auto b = ip_bucket(*ip);
        char* q = by_ip.add();
        q = w8(q, side == 0 ? 's' : 'd');
        q = wbytes(q, b.data(), 16);
        q = wbytes(q, k, kAlertKeyLen);
        wbytes(q, ip->data(), 16);
      }
    }
    // Port 0 (log alerts, ICMP) is not indexed: a port-0 query is served by the predicate.
    if (a.src_port) wbytes(w16(w8(by_port.add(), 's'), a.src_port), k, kAlertKeyLen);
    if (a.dest_port) wbytes(w16(w8(by_port.add(), 'd'), a.dest_port), k, kAlertKeyLen);

    sig.clear();
    put_u64(sig, a.alert.signature_id);
    sig.append(a.alert.signature).append(1, '\0').append(a.alert.category).append(1, '\0').append(a.alert.engine);
    // Checked against the store's set once per distinct record per batch (not per alert:
    // the set's lock is shared by every store thread).
    auto [sc, sc_new] = sigs_checked.try_emplace(a.alert.signature_id);
    if (sc_new || sc->second != sig) {
      sc->second = sig;
      bool seen;
      {
        std::lock_guard sl(sig_mu_);
        seen = sig_seen_.count(sig) != 0;
      }
      if (!seen && std::find(sg.new_sigs.begin(), sg.new_sigs.end(), sig) == sg.new_sigs.end()) {
        wb.Put(cf(kSignatures), sig, "");
        sg.new_sigs.push_back(sig);
      }
    }
    ++r.stored;
  }
  if (r.stored == 0) return {};
  for (const auto& inc : sg.retired) wb.Put(cf(kIncidents), "i" + u64s(inc.id), encode_incident(inc));
  for (const AgentState::Open* o : sg.touched) wb.Put(cf(kIncidents), "i" + u64s(o->inc.id), encode_incident(o->inc));
  for (const auto& [ck, d] : counts) wb.Merge(cf(kCounts), ck, delta(d));
  for (const auto& [ck, d] : days) wb.Merge(cf(kCountsDay), ck, delta(d));
  for (const auto& [ck, d] : agent_days) wb.Merge(cf(kCountsAgentDay), ck, delta(d));
  wb.Merge(cf(kDefault), "alert_count", delta(static_cast<int64_t>(r.stored)));
  wb.Put(cf(kCursors), agent_id, u64s(hi));
  sg.hi = hi;
  sg.stored = r.stored;
  r.highest_seq = hi;
  return {};
}

// Puts this thread's staged alert and index records into wb, each family in key order: the
// memtable insert then walks each family from its previous insert (the per-batch insert
// hints) instead of searching from the top every time.
void RocksStore::emit_runs(rocksdb::WriteBatch& wb) {
  auto& recs = t_runs.alerts;
  std::sort(recs.begin(), recs.end(), [](const auto& x, const auto& y) {
    return std::memcmp(x.first.data(), y.first.data(), kAlertKeyLen) < 0;
  });
  for (const auto& [k, v] : recs)
    wb.Put(cf(kAlerts), rocksdb::Slice(k.data(), kAlertKeyLen), rocksdb::Slice(t_runs.values.data() + v.first, v.second));
  t_runs.ids.put_id_runs(wb, cf(kIds));
  t_runs.by_rule.put_postings(wb, cf(kByRule), 8);
  t_runs.by_sev.put_postings(wb, cf(kBySeverity), 1);
  t_runs.by_agent_status.put_into(wb, cf(kByAgentStatus));
  t_runs.by_ip.put_postings(wb, cf(kByIp), 17);
  t_runs.by_port.put_postings(wb, cf(kByPort), 3);
  // By key, like the runs (the 'o' keys start with the sid, so staging order is random);
  // stable, so that of one key staged twice the later value is put last and wins.
  auto& opens = t_runs.opens;
  std::stable_sort(opens.begin(), opens.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  char idv[8];
  for (const auto& [k, id] : opens) {
    w64(idv, id);
    wb.Put(cf(kIncidents), k, rocksdb::Slice(idv, 8));
  }
  if (t_runs.values.capacity() > kKeepBufferBytes) t_runs = Runs();  // every store thread has its own
  t_runs.clear();
}

Result<uint64_t> RocksStore::highest_seq(const std::string& agent_id) {
  AgentState* st = find_agent_state(agent_id);
  if (!st) {
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), cf(kCursors), agent_id, &v);
    if (s.IsNotFound()) return uint64_t{0};
    if (!s.ok() || v.size() != 8) return storage_err("reading cursor of agent " + agent_id, s);
    return get_u64(v.data());
  }
  std::lock_guard lock(st->mu);
  if (auto s = load_cursor(*st, agent_id); !s) return s.error();
  return st->hi;
}

namespace {
// ids holds runs: agent | the run's last seq -> the alert keys of the run, by seq (see
// put_id_runs). The run holding seq is the first record at or after agent | seq.
Result<std::string> find_alert_key(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* ids, std::optional<uint32_t> num,
                                   uint64_t seq, const std::string& id) {
  if (!num) return make_error(ErrorCode::not_found, "no alert " + id);
  const std::string agent = u32s(*num), from = agent + u64s(seq);
  std::string upper = u32s(*num + 1);  // agent numbers are below 2^32 - 1 (dictionary)
  rocksdb::Slice ub(upper);
  rocksdb::ReadOptions ro;
  if (*num != UINT32_MAX) ro.iterate_upper_bound = &ub;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, ids));
  it->Seek(from);
  if (!it->status().ok()) return storage_err("looking up alert " + id, it->status());
  if (!it->Valid() || it->key().size() != 12 || !it->key().starts_with(agent))
    return make_error(ErrorCode::not_found, "no alert " + id);
  auto v = it->value();
  if (v.size() % kAlertKeyLen != 0) return make_error(ErrorCode::storage_error, "corrupt id record of alert " + id);
  size_t a = 0, b = v.size() / kAlertKeyLen;  // the first key whose seq is not below seq
  while (a < b) {
    const size_t m = (a + b) / 2;
    if (get_u64(v.data() + m * kAlertKeyLen + 12) < seq) a = m + 1;
    else b = m;
  }
  if (a == v.size() / kAlertKeyLen || get_u64(v.data() + a * kAlertKeyLen + 12) != seq)
    return make_error(ErrorCode::not_found, "no alert " + id);
  return std::string(v.data() + a * kAlertKeyLen, kAlertKeyLen);
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
    // by_status holds triaged alerts only ("new" is the default state; see plan()).
    if (before->status != TriageStatus::fresh) wb.Delete(cf(kByStatus), u8s(static_cast<uint8_t>(before->status)) + *key);
    if (after.status != TriageStatus::fresh) wb.Put(cf(kByStatus), u8s(static_cast<uint8_t>(after.status)) + *key, "");
    statuses_used_ |= static_cast<uint8_t>(1u << static_cast<unsigned>(after.status));
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

// Dashboard histograms over months must not fetch every alert: when the filters are only
// time (hour-aligned), agency / scope and severity, and the field is agency or severity,
// the answer comes from the hourly counters kept by write_batch and retention.
std::optional<Result<AlertStats>> RocksStore::stats_from_agent_counts(const AlertQuery& q, const StatsRequest& r) {
  if (!q.agent || q.sid || q.engine || q.category || q.src_net || q.dest_net || q.port || q.status || q.assignee ||
      q.incident || q.text)
    return std::nullopt;
  if (r.field != StatsField::agency && r.field != StatsField::severity && r.field != StatsField::agent) return std::nullopt;
  if (!(r.bucket_us > 0 && r.bucket_us % kDayUs == 0 && (q.from_us == INT64_MIN || q.from_us % kDayUs == 0) &&
        (q.to_us == INT64_MAX || q.to_us % kDayUs == 0)))
    return std::nullopt;
  auto n = dict_find("a/" + *q.agent);
  if (!n) return Result<AlertStats>(detail::StatsBuilder(r).finish());
  std::string agency;
  if (q.agency || q.scope || r.field == StatsField::agency) {
    // The counters do not know the agency: only when the agent was only ever seen with one.
    std::vector<std::string> seen;
    {
      std::shared_lock lock(dict_mu_);
      for (const auto& [k, g] : dict_)
        if (k.starts_with("g/") && pairs_.count(pair_id(*n, g))) seen.push_back(k.substr(2));
    }
    if (seen.size() != 1) return std::nullopt;
    agency = seen[0];
    if (q.agency && *q.agency != agency) return Result<AlertStats>(detail::StatsBuilder(r).finish());
    if (q.scope && std::find(q.scope->begin(), q.scope->end(), agency) == q.scope->end())
      return Result<AlertStats>(detail::StatsBuilder(r).finish());
  }
  std::map<std::pair<int, int64_t>, uint64_t> agg;  // (severity, bucket) -> count
  const int64_t w = r.bucket_us;
  std::string start = u32s(*n), end = u32s(*n);
  put_time(start, q.from_us);
  put_time(end, q.to_us);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kCountsAgentDay)));
  for (it->Seek(start); it->Valid() && it->key().compare(end) < 0; it->Next()) {
    auto k = it->key();
    if (k.size() != 13 || it->value().size() != 8) return Result<AlertStats>(make_error(ErrorCode::storage_error, "corrupt counts record"));
    int sev = static_cast<uint8_t>(k[12]);
    if (q.min_severity && sev > *q.min_severity) continue;
    auto c = static_cast<int64_t>(get_u64(it->value().data()));
    if (c <= 0) continue;
    int64_t t = get_time(k.data() + 4);
    int64_t bucket = t / w * w;
    if (t < 0 && t % w != 0) bucket -= w;
    agg[{sev, bucket}] += static_cast<uint64_t>(c);
  }
  if (!it->status().ok()) return Result<AlertStats>(storage_err("reading alert counters", it->status()));
  detail::StatsBuilder b(r);
  for (const auto& [sb, c] : agg)
    b.add_n(r.field == StatsField::severity ? std::to_string(sb.first) : r.field == StatsField::agent ? *q.agent : agency,
            sb.second, c);
  return Result<AlertStats>(b.finish());
}

std::optional<Result<AlertStats>> RocksStore::stats_from_counts(const AlertQuery& q, const StatsRequest& r) {
  if (q.agent) return stats_from_agent_counts(q, r);
  if (q.sid || q.agent || q.engine || q.category || q.src_net || q.dest_net || q.port || q.status || q.assignee ||
      q.incident || q.text)
    return std::nullopt;
  if (r.field != StatsField::agency && r.field != StatsField::severity) return std::nullopt;
  auto aligned = [&](int64_t unit) {
    return r.bucket_us > 0 && r.bucket_us % unit == 0 && (q.from_us == INT64_MIN || q.from_us % unit == 0) &&
           (q.to_us == INT64_MAX || q.to_us % unit == 0);
  };
  // Daily counters when the buckets and the range are whole (UTC) days: 24x fewer records.
  int family;
  if (aligned(kDayUs)) family = kCountsDay;
  else if (aligned(kHourUs)) family = kCounts;
  else return std::nullopt;
  std::unordered_map<uint32_t, std::string> agency_of;
  {
    std::shared_lock lock(dict_mu_);
    for (const auto& [k, n] : dict_)
      if (k.starts_with("g/")) agency_of[n] = k.substr(2);
  }
  std::unordered_map<uint32_t, bool> wanted;  // agency num -> passes agency / scope
  // (value code, bucket) -> count: agency num or severity, summed before the StatsBuilder.
  std::map<std::pair<uint32_t, int64_t>, uint64_t> agg;
  const int64_t w = r.bucket_us;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(family)));
  std::string start, end;
  put_time(start, q.from_us == INT64_MIN ? INT64_MIN : q.from_us);
  put_time(end, q.to_us == INT64_MAX ? INT64_MAX : q.to_us);
  for (it->Seek(start); it->Valid() && it->key().compare(end) < 0; it->Next()) {
    auto k = it->key();
    if (k.size() != 13 || it->value().size() != 8) return Result<AlertStats>(make_error(ErrorCode::storage_error, "corrupt counts record"));
    uint32_t g = get_u32(k.data() + 8);
    auto wi = wanted.find(g);
    if (wi == wanted.end()) {
      auto ag = agency_of.find(g);
      bool ok = ag != agency_of.end() && (!q.agency || ag->second == *q.agency) &&
                (!q.scope || std::find(q.scope->begin(), q.scope->end(), ag->second) != q.scope->end());
      wi = wanted.emplace(g, ok).first;
    }
    if (!wi->second) continue;
    int sev = static_cast<uint8_t>(k[12]);
    if (q.min_severity && sev > *q.min_severity) continue;
    auto n = static_cast<int64_t>(get_u64(it->value().data()));  // a sum of +/- merge operands
    if (n <= 0) continue;
    int64_t t = get_time(k.data());
    int64_t bucket = t / w * w;
    if (t < 0 && t % w != 0) bucket -= w;
    agg[{r.field == StatsField::agency ? g : static_cast<uint32_t>(sev), bucket}] += static_cast<uint64_t>(n);
  }
  if (!it->status().ok()) return Result<AlertStats>(storage_err("reading alert counters", it->status()));
  detail::StatsBuilder b(r);
  for (const auto& [vb, n] : agg)
    b.add_n(r.field == StatsField::agency ? agency_of[vb.first] : std::to_string(vb.first), vb.second, n);
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
  return decode_incident(v);
}

Result<std::vector<Incident>> RocksStore::list_incidents(const AlertQuery& q) {
  std::vector<Incident> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kIncidents)));
  for (it->Seek("i"); it->Valid() && it->key().starts_with("i"); it->Next()) {
    auto i = decode_incident(it->value().ToStringView());
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
    auto probe = get_incident(id);
    if (!probe) return probe.error();
    // The incident record is also changed by its agent's batches (count, last seen):
    // change it under that agent's lock and refresh the agent's cache of it.
    AgentState& ast = agent_state(probe->agent);
    std::lock_guard lock(ast.mu);
    auto before = get_incident(id);
    if (!before) return before.error();
    Incident after = *before;
    if (u.status) after.status = *u.status;
    if (u.assignee) after.assignee = *u.assignee;
    rocksdb::WriteOptions wo;
    wo.sync = opt_.sync;
    auto st = db_->Put(wo, cf(kIncidents), "i" + u64s(id), encode_incident(after));
    if (!st.ok()) return storage_err("writing incident " + std::to_string(id), st);
    for (auto& [gk, o] : ast.open)
      if (o.known && o.inc.id == id) o.inc = after;
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
  std::map<std::string, int64_t> deltas, day_deltas, day_deltas_agent;
  const std::string end = alert_key(cutoff_us, 0, 0);
  std::set<std::string> terms[4];  // by_rule, by_severity, by_ip, by_port terms of a round's alerts
  std::string last_key;            // the round's last (greatest) alert key
  for (;;) {
    std::lock_guard lock(write_mu_);
    rocksdb::WriteBatch wb;
    size_t in_batch = 0;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kAlerts)));
    std::unique_ptr<rocksdb::Iterator> ids_it(db_->NewIterator(rocksdb::ReadOptions(), cf(kIds)));
    std::map<std::string, std::string> runs;                               // ids runs of this round's alerts
    std::unordered_map<uint32_t, std::pair<uint64_t, uint64_t>> run_seqs;  // agent -> seqs of its last run seen
    for (it->SeekToFirst(); it->Valid() && it->key().compare(end) < 0 && in_batch < 1000; it->Next()) {
      std::string key = it->key().ToString();
      std::string tv;
      auto ts = db_->Get(rocksdb::ReadOptions(), cf(kTriage), key, &tv);
      if (!ts.ok() && !ts.IsNotFound()) return storage_err("retention: reading triage", ts);
      auto rec = Impl::decode(it->value().ToStringView(), ts.ok() ? &tv : nullptr);
      wb.Delete(cf(kAlerts), key);
      wb.Delete(cf(kTriage), key);
      last_key = key;
      ++in_batch;
      if (!rec) continue;  // unreadable record: drop it, its index entries are skipped on read
      const Alert& a = rec->first;
      const Triage& t = rec->second;
      auto ak = parse_alert_key(key);
      // Its ids run (agent | last seq -> alert keys), looked up once per run.
      if (auto rr = run_seqs.find(ak.agent); rr == run_seqs.end() || ak.seq < rr->second.first || ak.seq > rr->second.second) {
        ids_it->Seek(u32s(ak.agent) + u64s(ak.seq));
        if (ids_it->Valid() && ids_it->key().size() == 12 && get_u32(ids_it->key().data()) == ak.agent &&
            !ids_it->value().empty() && ids_it->value().size() % kAlertKeyLen == 0) {
          const uint64_t first = get_u64(ids_it->value().data() + 12), last = get_u64(ids_it->key().data() + 4);
          if (first <= ak.seq) {
            runs.emplace(ids_it->key().ToString(), ids_it->value().ToString());
            run_seqs[ak.agent] = {first, last};
          }
        }
        if (!ids_it->status().ok()) return storage_err("retention: reading ids", ids_it->status());
      }
      terms[0].insert(u64s(a.alert.signature_id));
      terms[1].insert(u8s(sev_byte(a.alert.severity)));
      if (auto g = dict_find("g/" + a.agent.agency)) {
        --deltas[count_key(a.timestamp_us, *g, a.alert.severity)];
        --day_deltas[count_key(a.timestamp_us, *g, a.alert.severity, kDayUs)];
      }
      --day_deltas_agent[agent_day_key(ak.agent, a.timestamp_us, a.alert.severity)];
      if (t.status != TriageStatus::fresh) wb.Delete(cf(kByStatus), u8s(static_cast<uint8_t>(t.status)) + key);
      wb.Delete(cf(kByAgentStatus), u32s(ak.agent) + u8s(static_cast<uint8_t>(t.status)) + key);
      if (!t.assignee.empty())
        if (auto u = dict_find("u/" + t.assignee)) wb.Delete(cf(kByAssignee), u32s(*u) + key);
      if (auto ip = parse_ip16(a.src_ip)) terms[2].insert(ip_prefix('s', ip_bucket(*ip)));
      if (auto ip = parse_ip16(a.dest_ip)) terms[2].insert(ip_prefix('d', ip_bucket(*ip)));
      if (a.src_port) terms[3].insert("s" + u16s(a.src_port));
      if (a.dest_port) terms[3].insert("d" + u16s(a.dest_port));
    }
    if (!it->status().ok()) return storage_err("retention: scanning alerts", it->status());
    if (in_batch == 0) break;
    // The ids runs whose alerts are all deleted by now (a run also holding later alerts
    // stays until they go).
    for (const auto& [rk, rv] : runs) {
      bool gone = true;
      for (size_t i = 0; i + kAlertKeyLen <= rv.size() && gone; i += kAlertKeyLen)
        gone = std::string_view(rv.data() + i, kAlertKeyLen) <= std::string_view(last_key);
      if (gone) wb.Delete(cf(kIds), rk);
    }
    // The postings of the terms these alerts had whose greatest key is at most the last
    // alert deleted: every alert in them is deleted by now. A posting that also holds later
    // alerts stays until they go (its deleted entries are skipped on read, as above).
    {
      const int fams[4] = {kByRule, kBySeverity, kByIp, kByPort};
      for (int fi = 0; fi < 4; ++fi) {
        std::unique_ptr<rocksdb::Iterator> pit(db_->NewIterator(rocksdb::ReadOptions(), cf(fams[fi])));
        for (const auto& term : terms[fi]) {
          const std::string last = term + last_key;
          for (pit->Seek(term); pit->Valid() && pit->key().starts_with(term) && pit->key().compare(last) <= 0; pit->Next())
            wb.Delete(cf(fams[fi]), pit->key());
          if (!pit->status().ok()) return storage_err("retention: scanning postings", pit->status());
        }
        terms[fi].clear();
      }
    }
    for (const auto& [ck, d] : deltas) wb.Merge(cf(kCounts), ck, delta(d));
    for (const auto& [ck, d] : day_deltas) wb.Merge(cf(kCountsDay), ck, delta(d));
    for (const auto& [ck, d] : day_deltas_agent) wb.Merge(cf(kCountsAgentDay), ck, delta(d));
    deltas.clear();
    day_deltas.clear();
    day_deltas_agent.clear();
    wb.Merge(cf(kDefault), "alert_count", delta(-static_cast<int64_t>(in_batch)));
    rocksdb::WriteOptions wo;
    wo.sync = opt_.sync;
    auto st = db_->Write(wo, &wb);
    if (!st.ok()) return storage_err("retention: deleting alerts", st);
    count_ -= std::min<uint64_t>(count_.load(), in_batch);
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
