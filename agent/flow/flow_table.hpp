// FlowTable: 5-tuple flows (+ VLAN ids), direction, TCP state enough for `established`,
// timeouts driven by packet timestamps, bounded memory with counted eviction, and TCP
// reassembly per direction (agent/flow/tcp_stream.hpp) exposed as Packet::stream.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "agent/flow/tcp_stream.hpp"
#include "core/packet.hpp"

namespace halong::agent::net {

struct FlowTimeouts {
  int64_t new_us, established_us, closed_us;
};

struct FlowSettings {
  size_t max_flows = 65536;          // flow memcap, in flows; the oldest flow is evicted
  size_t stream_memcap = 128u << 20; // bytes buffered by all TCP reassembly together
  bool midstream = false;            // stream.midstream: pick up TCP sessions without a SYN
  bool async_oneside = false;        // stream.async-oneside: a handshake completes with only one
                                     // side visible (SYN + client ACK, or SYN/ACK + server ACK)
  bool reassembly = true;            // fill Packet::stream for TCP
  StreamLimits stream;               // depth (stream.reassembly.depth, default 1 MiB), window
  // Suricata's flow-timeouts defaults.
  FlowTimeouts tcp{60'000'000, 600'000'000, 60'000'000};
  FlowTimeouts udp{30'000'000, 300'000'000, 0};
  FlowTimeouts other{30'000'000, 300'000'000, 0};
};

struct FlowCounters {
  uint64_t created = 0;
  uint64_t timed_out = 0;
  uint64_t evicted = 0;              // dropped to stay within max_flows
  uint64_t active = 0;               // gauge
  uint64_t tcp_sessions = 0;         // TCP flows whose stream is tracked
  uint64_t tcp_midstream = 0;        // of which picked up midstream
  uint64_t tcp_no_session = 0;       // TCP flows seen without a SYN while midstream is off
  uint64_t not_tracked = 0;          // packets without a flow (non-IP, fragments)
  StreamCounters stream;
  uint64_t stream_memory = 0;        // gauge: bytes buffered now
};

enum class FlowEndReason { timeout, evicted, shutdown };

// What a flow looked like when it ended (for flow records / stats).
struct FlowRecord {
  const halong::net::FlowInfo& info;
  halong::net::IpAddr client, server;
  uint16_t client_port, server_port;
  uint8_t ip_proto;
  FlowEndReason reason;
};

class FlowTable {
 public:
  explicit FlowTable(FlowSettings settings = {});
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // Looks up / creates the flow of `p`, updates its state and counters, and sets
  // p.flow (nullptr for non-IP packets and IP fragments) and, for TCP with reassembly on,
  // p.stream / stream_len / stream_new_len / stream_offset. Expires flows whose timeout
  // passed at p.ts_us first. p.flow and p.stream stay valid until the next process(),
  // expire() or flush() call.
  void process(halong::net::Packet& p);

  // Expires flows idle past their timeout at `now_us` (live capture calls this with the
  // wall clock when no packet arrives). Returns how many ended.
  size_t expire(int64_t now_us);
  // Ends every flow (end of a pcap, shutdown).
  void flush();

  // Called for each flow that ends, before it is freed.
  void set_on_flow_end(std::function<void(const FlowRecord&)> fn) { on_end_ = std::move(fn); }

  // Memory one flow costs without its stream buffers (the Flow, its map node and list
  // node): flow.memcap in bytes is turned into max_flows with it.
  static size_t bytes_per_flow();

  const FlowCounters& counters() const { return counters_; }
  const FlowSettings& settings() const { return settings_; }
  size_t size() const;

 private:
  struct Key {
    std::array<uint8_t, 16> a, b;
    uint16_t pa, pb;
    uint16_t vlan0, vlan1;
    uint8_t proto, version;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Flow;
  enum Queue : uint8_t { q_tcp_new, q_tcp_est, q_tcp_closed, q_udp_new, q_udp_est, q_udp_closed,
                         q_other_new, q_other_est, q_other_closed, q_count };

  void end_flow(Flow* f, FlowEndReason reason);
  void requeue(Flow* f, int64_t now);
  int64_t timeout_of(Queue q) const;
  void tcp_update(Flow* f, halong::net::Packet& p, bool to_server);

  FlowSettings settings_;
  FlowCounters counters_;
  size_t stream_mem_ = 0;
  uint64_t next_id_ = 1;
  std::unordered_map<Key, std::unique_ptr<Flow>, KeyHash> map_;
  std::array<std::list<Flow*>, q_count> queues_;  // each ordered by last activity
  std::function<void(const FlowRecord&)> on_end_;
};

}  // namespace halong::agent::net
