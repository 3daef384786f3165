// PacketSource: where frames come from (a pcap file, a live interface, a test fake).
// A narrow interface in the spirit of Zeek's PktSrc: next frame, link type, counters.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.hpp"

namespace halong::agent::net {

// One captured frame. `data` is owned by the source and stays valid only until the next
// call to next() on the same source.
struct Frame {
  const uint8_t* data = nullptr;
  uint32_t caplen = 0;   // bytes captured (what `data` holds)
  uint32_t wire_len = 0; // bytes on the wire (>= caplen when a snaplen cut the frame)
  int64_t ts_us = 0;     // capture timestamp, UTC microseconds
  int linktype = 1;      // DLT_* value as libpcap reports it (pcap_datalink)
};

// Capture counters. For files `dropped`/`if_dropped` stay 0. For live capture they are
// libpcap's pcap_stats: ps_recv, ps_drop (kernel buffer full), ps_ifdrop (interface).
struct CaptureStats {
  uint64_t received = 0;    // frames handed to us by next()
  uint64_t kernel_received = 0;  // live: ps_recv as the kernel counts it
  uint64_t dropped = 0;     // live: dropped because the capture buffer was full
  uint64_t if_dropped = 0;  // live: dropped by the interface / driver
};

enum class ReadStatus {
  frame,    // `out` holds a frame
  timeout,  // live: nothing arrived within the read timeout; call again
  end,      // file: no more frames (live: source was stopped with break_loop())
};

class PacketSource {
 public:
  virtual ~PacketSource() = default;
  // Reads the next frame into `out`. An Error names the source and what failed (a
  // truncated file, an interface that went down); the source is unusable after it.
  virtual Result<ReadStatus> next(Frame& out) = 0;
  // Link type of the frames (DLT_*); constant for the life of the source.
  virtual int linktype() const = 0;
  virtual CaptureStats stats() const = 0;
  // File path or interface name, for messages and stats.
  virtual const std::string& name() const = 0;
};

}  // namespace halong::agent::net
