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
  uint64_t bytes_toserver = 0, bytes_toclient = 0;  // captured frame bytes, as EVE counts them
  int64_t start_us = 0, last_us = 0;                 // timestamps of first and last packet
  // Per-flow detection state, read and written only by the detection engine
  // (flowbits set on this flow, as engine-assigned ids). The flow table just keeps it.
  std::vector<uint32_t> flowbits;
};

struct Packet {
  int64_t ts_us = 0;            // capture timestamp, UTC µs
  uint64_t pcap_cnt = 0;        // 1-based packet number in the capture
  int linktype = 1;             // DLT_* of the capture
  // The captured frame; for a decapsulated packet the encapsulated bytes (from the inner
  // header on, as Suricata's tunnel pseudo-packet), for a reassembled datagram the
  // datagram. Flow byte counters add frame_len.
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

  // TCP stream: how many bytes at the END of `stream` are new with this packet (never
  // inspected before). A stream match that ends at or before stream_len - stream_new_len
  // was already seen on an earlier packet; the engine uses this to alert once per match.
  size_t stream_new_len = 0;
  // Offset of stream[0] in this direction's byte stream (0 = the window starts at the
  // first byte of the stream, so stream-start anchored depth/offset are meaningful).
  uint64_t stream_offset = 0;

  // Tunnel outer context (VXLAN, GRE, ERSPAN, IP-in-IP) when the packet was decapsulated.
  bool tunneled = false;
  uint16_t tunnel_dest_port = 0;         // outer UDP destination port (VXLAN), 0 for GRE
  uint16_t tunnel_src_port = 0;
  IpAddr tunnel_src, tunnel_dst;         // outer IP addresses
  uint8_t tunnel_proto = 0;              // outer IP protocol (17 UDP, 47 GRE, 4/41 IP-in-IP)
  uint8_t tunnel_depth = 0;              // 1 = one level of encapsulation

  // This packet carries a tunnel: its header fields are the outer ones and its payload
  // (the inner packet) is cleared, because the inner packet follows as a Packet of its
  // own (Suricata: header checks on the tunnel root, no payload inspection).
  bool tunnel_root = false;

  // IP fragments: a fragment is delivered as an IP packet with ip_proto set, NO L4 header
  // decoded (ports 0, tcp fields 0, icmp -1, l4_decoded false) and NO payload (as in
  // Suricata, a fragment's bytes are inspected only in the reassembled datagram). The
  // reassembled datagram follows as its own Packet with `reassembled` set; its frame is,
  // as Suricata rebuilds it, the first fragment's link-layer header + the datagram (a
  // decoder-owned buffer), with the capture's link type.
  bool ip_fragment = false;
  bool reassembled = false;

  // The TCP/UDP/ICMP/SCTP header was decoded. False for fragments, non-IP, other IP
  // protocols, and for a transport header that is cut or lies about its length (then
  // ip_proto is set but ports/flags are 0 and payload is empty: only IP-level rules
  // such as `alert ip ...` should match it).
  bool l4_decoded = false;
  // Checksums, only computed when the decoder is asked to verify them (never a reason
  // to drop the packet).
  bool ip_csum_bad = false, l4_csum_bad = false;
};

// Protocol name as EVE writes it ("TCP", "UDP", "ICMP", "IPv6-ICMP", or the number).
std::string proto_name(uint8_t ip_proto);

}  // namespace halong::net
