#include "agent/decode/defrag.hpp"

#include <algorithm>
#include <cstring>

namespace halong::agent::net {

bool FragKey::operator==(const FragKey& o) const {
  return id == o.id && version == o.version && proto == o.proto && std::memcmp(addr, o.addr, sizeof addr) == 0;
}

size_t FragKeyHash::operator()(const FragKey& k) const {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint8_t b) { h = (h ^ b) * 1099511628211ull; };
  for (uint8_t b : k.addr) mix(b);
  for (int i = 0; i < 4; ++i) mix(static_cast<uint8_t>(k.id >> (8 * i)));
  mix(k.version);
  mix(k.proto);
  return static_cast<size_t>(h);
}

Defragmenter::Defragmenter(DefragSettings settings, DecodeCounters& counters)
    : settings_(settings), counters_(counters) {}

namespace {
uint16_t ipv4_checksum(const uint8_t* h, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(h[i] << 8 | h[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}
}  // namespace

Defragmenter::Outcome Defragmenter::add_ipv4(const uint8_t* frame, size_t link_len, size_t ihl, const uint8_t* data,
                                             size_t len, int64_t ts_us, std::vector<uint8_t>& out, size_t& ip_at) {
  const uint8_t* ip = frame + link_len;
  FragKey k{};
  std::memcpy(k.addr, ip + 12, 4);
  std::memcpy(k.addr + 16, ip + 16, 4);
  k.id = static_cast<uint32_t>(ip[4] << 8 | ip[5]);
  k.version = 4;
  k.proto = ip[9];
  uint16_t fo = static_cast<uint16_t>(ip[6] << 8 | ip[7]);
  uint32_t offset = static_cast<uint32_t>(fo & 0x1fff) * 8;
  bool more = (fo & 0x2000) != 0;
  Outcome r = add(k, offset, more, data, len, ts_us, frame, link_len + ihl, link_len, 0, 0, out, ip_at);
  if (r == Outcome::complete) {
    uint8_t* h = out.data() + ip_at;
    size_t hl = static_cast<size_t>(h[0] & 0x0f) * 4;
    size_t total = out.size() - ip_at;
    h[2] = static_cast<uint8_t>(total >> 8);
    h[3] = static_cast<uint8_t>(total);
    h[6] = 0;
    h[7] = 0;
    h[10] = 0;
    h[11] = 0;
    uint16_t c = ipv4_checksum(h, hl);
    h[10] = static_cast<uint8_t>(c >> 8);
    h[11] = static_cast<uint8_t>(c);
  }
  return r;
}

Defragmenter::Outcome Defragmenter::add_ipv6(const uint8_t* frame, size_t link_len, size_t unfrag_len, size_t nh_at,
                                             uint8_t next_header, uint32_t id, uint32_t offset, bool more,
                                             const uint8_t* data, size_t len, int64_t ts_us,
                                             std::vector<uint8_t>& out, size_t& ip_at) {
  const uint8_t* ip = frame + link_len;
  FragKey k{};
  std::memcpy(k.addr, ip + 8, 16);
  std::memcpy(k.addr + 16, ip + 24, 16);
  k.id = id;
  k.version = 6;
  k.proto = 0;
  Outcome r = add(k, offset, more, data, len, ts_us, frame, link_len + unfrag_len, link_len, link_len + nh_at,
                  next_header, out, ip_at);
  if (r == Outcome::complete) {
    size_t payload = out.size() - ip_at - 40;
    out[ip_at + 4] = static_cast<uint8_t>(payload >> 8);
    out[ip_at + 5] = static_cast<uint8_t>(payload);
  }
  return r;
}

void Defragmenter::drop(List::iterator it) {
  mem_ -= it->mem();
  map_.erase(it->key);
  lru_.erase(it);
}

void Defragmenter::expire(int64_t ts_us) {
  while (!lru_.empty() && lru_.front().first_ts + settings_.timeout_us < ts_us) {
    counters_.inc(DecodeCounter::frag_timeouts);
    drop(lru_.begin());
  }
}

bool Defragmenter::make_room(size_t need) {
  while (!lru_.empty() && (mem_ + need > settings_.memcap || map_.size() >= settings_.max_trackers)) {
    counters_.inc(DecodeCounter::frag_evicted);
    drop(lru_.begin());
  }
  return mem_ + need <= settings_.memcap && map_.size() < settings_.max_trackers;
}

Defragmenter::Outcome Defragmenter::add(const FragKey& key, uint32_t offset, bool more, const uint8_t* data,
                                        size_t len, int64_t ts_us, const uint8_t* hdr, size_t hdr_len, size_t ip_at,
                                        size_t nh_at, uint8_t next_header, std::vector<uint8_t>& out,
                                        size_t& out_ip_at) {
  expire(ts_us);
  const uint32_t end = offset + static_cast<uint32_t>(len);
  // IPv4 datagrams are at most 65535 bytes including the header; IPv6 (no jumbograms)
  // payloads at most 65535 bytes. Anything that reassembles beyond is an attack.
  const uint32_t limit = key.version == 4 ? 65535u - static_cast<uint32_t>(hdr_len - ip_at) : 65535u;
  if (end > limit || (more && len % 8 != 0) || (more && len == 0)) {
    counters_.inc(DecodeCounter::frag_bad);
    return Outcome::dropped;
  }
  auto found = map_.find(key);
  List::iterator it;
  if (found == map_.end()) {
    if (!make_room(end + 256)) {
      counters_.inc(DecodeCounter::frag_evicted);
      return Outcome::dropped;
    }
    Tracker t;
    t.key = key;
    t.first_ts = ts_us;
    lru_.push_back(std::move(t));
    it = std::prev(lru_.end());
    map_.emplace(key, it);
    mem_ += it->mem();
  } else {
    it = found->second;
  }
  Tracker& t = *it;
  const size_t mem_before = t.mem();

  auto fail = [&]() {
    counters_.inc(DecodeCounter::frag_bad);
    drop(it);
    return Outcome::dropped;
  };
  if (++t.nfrags > settings_.max_fragments) return fail();
  if (!more) {
    if (t.have_last && end != t.total) return fail();  // two different ends: inconsistent
    if (!t.ranges.empty() && t.ranges.back().second > end) return fail();  // data beyond the end
    t.have_last = true;
    t.total = end;
  } else if (t.have_last && end > t.total) {
    return fail();
  }
  if (offset == 0 && !t.have_first) {
    t.have_first = true;
    t.header.assign(hdr, hdr + hdr_len);
    t.ip_at = ip_at;
    t.nh_at = nh_at;
    t.next_header = next_header;
  }

  // Insert the bytes not yet covered (first wins).
  if (len > 0) {
    if (t.data.size() < end) {
      size_t grow = end - t.data.size();
      if (mem_ + grow > settings_.memcap) return fail();
      t.data.resize(end);
    }
    uint32_t pos = offset;
    bool overlapped = false;
    std::vector<std::pair<uint32_t, uint32_t>> merged;
    merged.reserve(t.ranges.size() + 1);
    for (const auto& r : t.ranges) {
      if (r.second <= pos || r.first >= end) continue;
      overlapped = true;
      if (r.first > pos) std::memcpy(t.data.data() + pos, data + (pos - offset), r.first - pos);
      pos = std::max(pos, r.second);
    }
    if (pos < end) std::memcpy(t.data.data() + pos, data + (pos - offset), end - pos);
    if (overlapped) counters_.inc(DecodeCounter::frag_overlaps);
    // Merge [offset, end) into the range list.
    std::pair<uint32_t, uint32_t> cur{offset, end};
    bool placed = false;
    for (const auto& r : t.ranges) {
      if (r.second < cur.first) {
        merged.push_back(r);
      } else if (r.first > cur.second) {
        if (!placed) merged.push_back(cur), placed = true;
        merged.push_back(r);
      } else {
        cur.first = std::min(cur.first, r.first);
        cur.second = std::max(cur.second, r.second);
      }
    }
    if (!placed) merged.push_back(cur);
    t.ranges.swap(merged);
  }
  mem_ = mem_ - mem_before + t.mem();

  if (t.have_first && t.have_last && t.ranges.size() == 1 && t.ranges[0].first == 0 &&
      t.ranges[0].second == t.total) {
    out.clear();
    out.reserve(t.header.size() + t.total);
    out.insert(out.end(), t.header.begin(), t.header.end());
    if (key.version == 6 && t.nh_at < out.size()) out[t.nh_at] = t.next_header;
    out.insert(out.end(), t.data.begin(), t.data.begin() + t.total);
    out_ip_at = t.ip_at;
    counters_.inc(DecodeCounter::reassembled);
    drop(it);
    return Outcome::complete;
  }
  return Outcome::held;
}

}  // namespace halong::agent::net
