// One direction of a TCP byte stream: in-order reassembly into a bounded window.
//
// Policy (documented in agent/flow/NOTES.md):
//  - FIRST WINS: bytes already accepted (delivered in order, or held out of order) are
//    never replaced by a later segment that overlaps them; only the uncovered bytes of
//    the later segment are taken. Retransmissions therefore never change the stream.
//  - Out-of-order segments are held (bounded per direction and by the table's memcap)
//    until the gap before them fills. A gap that the receiver ACKs past (the data was
//    lost before our capture point) is skipped: the stream continues after the gap and
//    the window is cleared, so no match spans a hole.
//  - Depth: after `depth` bytes (stream.reassembly.depth) nothing more is reassembled.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace halong::agent::net {

struct StreamCounters {
  uint64_t bytes = 0;              // bytes reassembled in order
  uint64_t overlap_bytes = 0;      // segment bytes discarded because already received
  uint64_t overlaps = 0;           // segments that overlapped earlier data
  uint64_t ooo_segments = 0;       // segments held out of order
  uint64_t ooo_dropped = 0;        // out-of-order segments dropped (limits, memcap)
  uint64_t gaps = 0;               // holes skipped after the peer ACKed past them
  uint64_t depth_reached = 0;      // directions that hit the reassembly depth
  uint64_t window_trimmed = 0;     // times the memcap forced a window down to the new bytes
};

struct StreamLimits {
  uint64_t depth = 1u << 20;       // 0 = unlimited
  size_t window = 32u << 10;       // bytes of context kept before the newest data
  size_t max_ooo_bytes = 1u << 20; // held out-of-order bytes per direction
  uint64_t max_ooo_distance = 16u << 20;  // segments further ahead than this are dropped
};

class StreamDirection {
 public:
  bool initialized() const { return init_; }
  // Sets the sequence number of stream offset 0 (ISN + 1 after a SYN; the first seen
  // sequence number on a midstream pick-up).
  void init(uint32_t base_seq);
  // Adds a segment. Returns the number of bytes that became newly contiguous.
  // `mem` is the table-wide byte account, `memcap` its bound.
  size_t add(uint32_t seq, const uint8_t* data, size_t len, const StreamLimits& lim, size_t& mem,
             size_t memcap, StreamCounters& ctr);
  // The peer acknowledged up to `ack`: skip a gap we never saw if data waits behind it.
  size_t on_peer_ack(uint32_t ack, const StreamLimits& lim, size_t& mem, size_t memcap, StreamCounters& ctr);
  // The window to inspect: ends with the newest contiguous byte; covers the `pending`
  // not yet presented bytes and up to lim.window bytes before them. Marks them presented.
  struct View {
    const uint8_t* data = nullptr;
    size_t len = 0;
    size_t new_len = 0;
    uint64_t offset = 0;
  };
  View take_view(const StreamLimits& lim);
  uint64_t next_offset() const { return next_; }
  bool depth_reached() const { return depth_hit_; }
  void release(size_t& mem);  // frees everything (flow end)

 private:
  int64_t rel(uint32_t seq) const;  // stream offset of `seq`, relative to next_
  size_t append(const uint8_t* d, size_t len, const StreamLimits& lim, size_t& mem, size_t memcap,
                StreamCounters& ctr);
  size_t drain(const StreamLimits& lim, size_t& mem, size_t memcap, StreamCounters& ctr);
  size_t mem_use() const { return buf_.capacity() + ooo_bytes_; }
  void sync(size_t& mem) {
    size_t now = mem_use();
    mem = mem - acct_ + now;
    acct_ = now;
  }

  bool init_ = false;
  bool depth_hit_ = false;
  uint32_t base_seq_ = 0;
  uint64_t next_ = 0;            // stream offset of the next expected byte
  std::vector<uint8_t> buf_;     // bytes [buf_start_, next_)
  uint64_t buf_start_ = 0;
  size_t pending_ = 0;           // bytes at the end of buf_ not yet presented
  std::map<uint64_t, std::vector<uint8_t>> ooo_;  // offset -> bytes, non-overlapping
  size_t ooo_bytes_ = 0;
  size_t acct_ = 0;              // what this direction last added to the table's account
};

}  // namespace halong::agent::net
