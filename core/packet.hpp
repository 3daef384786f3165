// A decoded packet: the interface between the decoder / flow table (agent/decode,
// agent/flow) and the network detection engine (core/detect/net).
//
// A Packet is a view: the pointers point into the capture buffer (or a reassembly
// buffer) and are valid only for the duration of one inspection call.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace halong::net {

// An IPv4 or IPv6 address. IPv4 is stored in the first 4 bytes.
struct IpAddr {
  std::array<uint8_t, 16> bytes{};
  uint8_t version = 0;  // 0 = none, 4, 6

  static IpAddr v4(uint32_t host_order);
  static IpAddr v4_bytes(const uint8_t* p);
  static IpAddr v6_bytes(const uint8_t* p);
  static Result<IpAddr> parse(std::string_view text);
  std::string to_string() const;
  bool operator==(const IpAddr&) const = default;
  auto operator<=>(const IpAddr&) const = default;
};

namespace ipproto {
constexpr uint8_t icmp = 1, tcp = 6, udp = 17, gre = 47, icmpv6 = 58, sctp = 132;
}

namespace tcpflag {
constexpr uint8_t fin = 0x01, syn = 0x02, rst = 0x04, psh = 0x08, ack = 0x10, urg = 0x20, ece = 0x40, cwr = 0x80;
}

// What the flow table knows about the flow a packet belongs to. Set by agent/flow;
// nullptr flow in Packet means "no flow tracking" (stateless inspection).
struct FlowInfo {
  uint64_t flow_id = 0;
  bool to_server = true;       // this packet travels from the flow's initiator
  bool established = false;    // TCP: three-way handshake seen (or midstream pick-up); UDP: both directions seen
  uint64_t pkts_toserver = 0, pkts_toclient = 0;
  // Per-flow detection state, read and written only by the detection engine
  // (flowbits set on this flow, as engine-assigned ids). The flow table just keeps it.
  std::vector<uint32_t> flowbits;
};

struct Packet {
  int64_t ts_us = 0;            // capture timestamp, UTC µs
  uint64_t pcap_cnt = 0;        // 1-based packet number in the capture
  int linktype = 1;             // DLT_* of the capture
  const uint8_t* frame = nullptr;
  size_t frame_len = 0;

  uint8_t ip_version = 0;       // 0 = not IP
  IpAddr src, dst;
  uint8_t ip_proto = 0;
  uint8_t ttl = 0;
  uint16_t ip_id = 0;
  uint16_t vlan[2] = {0, 0};
  uint8_t vlan_count = 0;

  uint16_t src_port = 0, dst_port = 0;  // TCP/UDP/SCTP
  uint8_t tcp_flags = 0;
  uint32_t tcp_seq = 0, tcp_ack = 0;
  uint16_t tcp_window = 0;
  int icmp_type = -1, icmp_code = -1;

  const uint8_t* payload = nullptr;      // L4 payload (or IP payload for other protocols)
  size_t payload_len = 0;

  FlowInfo* flow = nullptr;              // set by the flow table when flows are tracked

  // TCP stream inspection: reassembled, in-order bytes of this direction (bounded window
  // ending with the newest data), set by the flow table when reassembly is on; the engine
  // inspects rules against it as Suricata inspects the raw stream. nullptr when absent.
  const uint8_t* stream = nullptr;
  size_t stream_len = 0;

  // Tunnel outer context (VXLAN, GRE, ERSPAN) when the packet was decapsulated.
  bool tunneled = false;
  uint16_t tunnel_dest_port = 0;
};

// Protocol name as EVE writes it ("TCP", "UDP", "ICMP", "IPv6-ICMP", or the number).
std::string proto_name(uint8_t ip_proto);

}  // namespace halong::net
