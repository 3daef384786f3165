// libpcap-backed PacketSources: offline files (.pcap / .pcapng, their own timestamps)
// and live interfaces (BPF filter, snaplen, buffer size, promiscuous mode).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "agent/capture/packet_source.hpp"

struct pcap;  // libpcap's pcap_t, kept out of this header

namespace halong::agent::net {

// Reads a capture file. Works for pcap and pcapng (libpcap pcap_open_offline); the path
// "-" reads standard input. A missing, empty, corrupt or truncated file gives an Error
// that names the file, from open() or from the next() that meets the damage; the frames
// before the damage are delivered first.
class PcapFileSource final : public PacketSource {
 public:
  static Result<std::unique_ptr<PcapFileSource>> open(const std::string& path);
  ~PcapFileSource() override;
  PcapFileSource(const PcapFileSource&) = delete;
  PcapFileSource& operator=(const PcapFileSource&) = delete;

  Result<ReadStatus> next(Frame& out) override;
  int linktype() const override { return linktype_; }
  CaptureStats stats() const override { return stats_; }
  const std::string& name() const override { return path_; }

 private:
  PcapFileSource(pcap* p, std::string path, int linktype);
  pcap* p_;
  std::string path_;
  int linktype_;
  bool done_ = false;
  CaptureStats stats_;
};

struct LiveOptions {
  std::string interface;        // e.g. "eth0"; "any" captures all (Linux cooked)
  std::string bpf;              // BPF filter expression, empty = everything
  int snaplen = 262144;         // bytes kept per frame
  int buffer_size = 16 << 20;   // kernel capture buffer, bytes
  bool promisc = true;
  int timeout_ms = 100;         // next() returns ReadStatus::timeout after waiting this long
  bool immediate = false;       // deliver frames as they arrive (tests, low latency)
};

// Captures from a live interface (needs CAP_NET_RAW). stats() refreshes the kernel and
// interface drop counters (pcap_stats) each time it is called.
class LiveSource final : public PacketSource {
 public:
  static Result<std::unique_ptr<LiveSource>> open(const LiveOptions& options);
  ~LiveSource() override;
  LiveSource(const LiveSource&) = delete;
  LiveSource& operator=(const LiveSource&) = delete;

  Result<ReadStatus> next(Frame& out) override;
  int linktype() const override { return linktype_; }
  CaptureStats stats() const override;
  const std::string& name() const override { return options_.interface; }
  // Makes next() return ReadStatus::end from now on (a next() waiting in another thread
  // returns within timeout_ms). Safe from another thread or a signal handler.
  void break_loop();

 private:
  LiveSource(pcap* p, LiveOptions options, int linktype, int fd);
  pcap* p_;
  LiveOptions options_;
  int linktype_;
  int fd_;
  std::atomic<bool> stop_{false};
  mutable CaptureStats stats_;
};

}  // namespace halong::agent::net
