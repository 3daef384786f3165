// IPv4 / IPv6 fragment reassembly with bounded memory.
//
// Policy: FIRST WINS. Bytes already received for a datagram are kept; a later fragment
// that overlaps them contributes only the bytes not yet covered (the overlap is counted
// in frag_overlaps). This is Suricata's "first" policy; its default "bsd" policy differs
// only for a later fragment that starts before an earlier one. Bounds: at most
// max_trackers datagrams in progress and memcap bytes buffered; when a new datagram would
// exceed either, the oldest datagrams are dropped (frag_evicted). A datagram not complete
// within timeout_us of its first fragment (packet time) is dropped (frag_timeouts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "agent/decode/counters.hpp"

namespace halong::agent::net {

struct DefragSettings {
  bool enabled = true;
  size_t max_trackers = 4096;        // datagrams in reassembly at once
  size_t memcap = 32u << 20;         // bytes buffered across all datagrams
  int64_t timeout_us = 60'000'000;   // Suricata defrag.timeout default: 60 s
  size_t max_fragments = 1024;       // per datagram; more is treated as an attack (dropped)
};

struct FragKey {
  uint8_t addr[32];   // src (16) | dst (16); IPv4 uses the first 4 bytes of each
  uint32_t id;
  uint8_t version;
  uint8_t proto;      // IPv4 only (IPv6 keys on src, dst, id)
  bool operator==(const FragKey& o) const;
};
struct FragKeyHash {
  size_t operator()(const FragKey& k) const;
};

class Defragmenter {
 public:
  enum class Outcome { held, complete, dropped };

  Defragmenter(DefragSettings settings, DecodeCounters& counters);

  // IPv4 fragment. `frame` points at the bytes before the IP header that belong to the
  // packet (link-layer header; may be empty), `ip = frame + link_len` at the fragment's IP
  // header (`ihl` bytes), `data` at its payload. On `complete`, `out` holds the packet as
  // Suricata rebuilds it: the link-layer prefix and IP header of the offset-0 fragment
  // (total length, flags and offset rewritten, checksum recomputed), then the payload;
  // `ip_at` is where the IP header starts in `out`.
  Outcome add_ipv4(const uint8_t* frame, size_t link_len, size_t ihl, const uint8_t* data, size_t len, int64_t ts_us,
                   std::vector<uint8_t>& out, size_t& ip_at);

  // IPv6 fragment. `frame` + `link_len` = the IPv6 header; `unfrag_len` = the IPv6 header
  // plus the extension headers before the fragment header; `nh_at` = offset (from the IPv6
  // header) of the Next Header byte that named the fragment header. On `complete`, `out` =
  // link prefix + unfragmentable part (Next Header set to `next_header`, payload length
  // rewritten) + reassembled payload; `ip_at` as for IPv4.
  Outcome add_ipv6(const uint8_t* frame, size_t link_len, size_t unfrag_len, size_t nh_at, uint8_t next_header,
                   uint32_t id, uint32_t offset, bool more, const uint8_t* data, size_t len, int64_t ts_us,
                   std::vector<uint8_t>& out, size_t& ip_at);

  size_t trackers() const { return map_.size(); }
  size_t memory() const { return mem_; }

 private:
  struct Tracker {
    FragKey key;
    int64_t first_ts = 0;
    std::vector<uint8_t> header;     // link prefix + IP header(s) of the offset-0 fragment
    size_t ip_at = 0;                // where the IP header starts in `header`
    size_t nh_at = 0;                // IPv6: Next Header byte to patch (offset in `header`)
    uint8_t next_header = 0;         // IPv6
    std::vector<uint8_t> data;
    std::vector<std::pair<uint32_t, uint32_t>> ranges;  // received [begin, end), sorted, merged
    uint32_t total = 0;
    bool have_first = false, have_last = false;
    size_t nfrags = 0;
    size_t mem() const { return data.capacity() + header.capacity() + ranges.capacity() * 8 + 128; }
  };
  using List = std::list<Tracker>;

  Outcome add(const FragKey& key, uint32_t offset, bool more, const uint8_t* data, size_t len,
              int64_t ts_us, const uint8_t* hdr, size_t hdr_len, size_t ip_at, size_t nh_at, uint8_t next_header,
              std::vector<uint8_t>& out, size_t& out_ip_at);
  void expire(int64_t ts_us);
  void drop(List::iterator it);
  bool make_room(size_t need);

  DefragSettings settings_;
  DecodeCounters& counters_;
  List lru_;  // oldest first
  std::unordered_map<FragKey, List::iterator, FragKeyHash> map_;
  size_t mem_ = 0;
};

}  // namespace halong::agent::net
