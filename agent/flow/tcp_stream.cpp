#include "agent/flow/tcp_stream.hpp"

#include <algorithm>

namespace halong::agent::net {

void StreamDirection::init(uint32_t base_seq) {
  init_ = true;
  base_seq_ = base_seq;
  next_ = 0;
  buf_start_ = 0;
}

int64_t StreamDirection::rel(uint32_t seq) const {
  uint32_t expect = base_seq_ + static_cast<uint32_t>(next_);
  return static_cast<int64_t>(next_) + static_cast<int32_t>(seq - expect);
}

size_t StreamDirection::append(const uint8_t* d, size_t len, const StreamLimits& lim, size_t& mem, size_t memcap,
                               StreamCounters& ctr) {
  if (depth_hit_) return 0;
  if (lim.depth != 0 && next_ + len >= lim.depth) {
    len = static_cast<size_t>(lim.depth - next_);
    depth_hit_ = true;
    ++ctr.depth_reached;
  }
  if (len == 0) return 0;
  buf_.insert(buf_.end(), d, d + len);
  next_ += len;
  pending_ += len;
  ctr.bytes += len;
  // Keep `window` bytes of context before the not-yet-presented bytes; compact lazily.
  size_t keep = lim.window + pending_;
  if (buf_.size() > keep + lim.window) {
    size_t cut = buf_.size() - keep;
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(cut));
    buf_start_ += cut;
  }
  sync(mem);
  if (mem > memcap && buf_.size() > pending_) {  // under pressure: context goes first
    size_t cut = buf_.size() - pending_;
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(cut));
    buf_start_ += cut;
    // Give memory back only when most of the capacity is idle: shrinking on every
    // segment would reallocate twice per packet while the table stays at its memcap.
    if (buf_.capacity() > 4 * buf_.size() + 4096) buf_.shrink_to_fit();
    ++ctr.window_trimmed;
    sync(mem);
  }
  if (depth_hit_ && !ooo_.empty()) {
    ooo_.clear();
    ooo_bytes_ = 0;
    sync(mem);
  }
  return len;
}

size_t StreamDirection::drain(const StreamLimits& lim, size_t& mem, size_t memcap, StreamCounters& ctr) {
  size_t n = 0;
  while (!ooo_.empty() && !depth_hit_) {
    auto it = ooo_.begin();
    if (it->first > next_) break;
    std::vector<uint8_t> seg = std::move(it->second);
    uint64_t off = it->first;
    ooo_bytes_ -= seg.size();
    ooo_.erase(it);
    if (off + seg.size() > next_) {
      size_t skip = static_cast<size_t>(next_ - off);
      n += append(seg.data() + skip, seg.size() - skip, lim, mem, memcap, ctr);
    }
  }
  sync(mem);
  return n;
}

size_t StreamDirection::add(uint32_t seq, const uint8_t* data, size_t len, const StreamLimits& lim, size_t& mem,
                            size_t memcap, StreamCounters& ctr) {
  if (!init_ || len == 0 || data == nullptr || depth_hit_) return 0;
  int64_t off = rel(seq);
  int64_t end = off + static_cast<int64_t>(len);
  if (lim.depth != 0 && end > static_cast<int64_t>(lim.depth)) end = static_cast<int64_t>(lim.depth);
  const int64_t next = static_cast<int64_t>(next_);
  if (end <= next) {  // all of it already received: a retransmission (first wins)
    ++ctr.overlaps;
    ctr.overlap_bytes += len;
    return 0;
  }
  if (off < next) {  // partly old: keep only the bytes after what we have
    ++ctr.overlaps;
    ctr.overlap_bytes += static_cast<uint64_t>(next - off);
    data += next - off;
    off = next;
  }
  size_t take = static_cast<size_t>(end - off);
  if (off == next) {
    size_t n = append(data, take, lim, mem, memcap, ctr);
    return n + drain(lim, mem, memcap, ctr);
  }
  // Ahead of the next expected byte: hold it, keeping only bytes not held already.
  if (static_cast<uint64_t>(off - next) > lim.max_ooo_distance) {
    ++ctr.ooo_dropped;
    return 0;
  }
  ++ctr.ooo_segments;
  uint64_t pos = static_cast<uint64_t>(off);
  const uint64_t stop = static_cast<uint64_t>(off) + take;
  auto put = [&](uint64_t from, uint64_t to) -> bool {
    size_t n = static_cast<size_t>(to - from);
    if (ooo_bytes_ + n > lim.max_ooo_bytes || mem + n > memcap) {
      ++ctr.ooo_dropped;
      return false;
    }
    const uint8_t* src = data + (from - static_cast<uint64_t>(off));
    ooo_.emplace(from, std::vector<uint8_t>(src, src + n));
    ooo_bytes_ += n;
    sync(mem);
    return true;
  };
  auto it = ooo_.upper_bound(pos);
  if (it != ooo_.begin()) {
    auto prev = std::prev(it);
    uint64_t pend = prev->first + prev->second.size();
    if (pend > pos) {
      ++ctr.overlaps;
      ctr.overlap_bytes += std::min(pend, stop) - pos;
      pos = std::min(pend, stop);
    }
  }
  while (pos < stop) {
    if (it == ooo_.end() || it->first >= stop) {
      put(pos, stop);
      break;
    }
    if (it->first > pos && !put(pos, it->first)) break;
    uint64_t iend = it->first + it->second.size();
    if (it->first < stop) {
      ++ctr.overlaps;
      ctr.overlap_bytes += std::min(iend, stop) - std::max(pos, it->first);
    }
    pos = std::max(pos, iend);
    ++it;
  }
  return 0;
}

size_t StreamDirection::on_peer_ack(uint32_t ack, const StreamLimits& lim, size_t& mem, size_t memcap,
                                    StreamCounters& ctr) {
  if (!init_ || ooo_.empty() || depth_hit_) return 0;
  int64_t a = rel(ack);
  uint64_t first = ooo_.begin()->first;
  if (a <= static_cast<int64_t>(next_) || static_cast<uint64_t>(a) < first) return 0;
  if (static_cast<uint64_t>(a) - next_ > lim.max_ooo_distance) return 0;
  // The receiver has everything up to `a`, including bytes we never saw: a gap.
  ++ctr.gaps;
  buf_.clear();
  next_ = first;
  buf_start_ = first;
  pending_ = 0;
  return drain(lim, mem, memcap, ctr);
}

StreamDirection::View StreamDirection::take_view(const StreamLimits& lim) {
  View v;
  if (buf_.empty()) return v;
  v.new_len = pending_;
  v.len = std::min(buf_.size(), lim.window + pending_);
  v.data = buf_.data() + (buf_.size() - v.len);
  v.offset = buf_start_ + (buf_.size() - v.len);
  pending_ = 0;
  return v;
}

void StreamDirection::release(size_t& mem) {
  buf_.clear();
  buf_.shrink_to_fit();
  ooo_.clear();
  ooo_bytes_ = 0;
  sync(mem);
}

}  // namespace halong::agent::net
