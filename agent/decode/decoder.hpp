// Decoder: (frame, length, link type, timestamp) -> halong::net::Packet views.
//
// Link layers: Ethernet (+802.1Q / 802.1ad / QinQ, PPPoE session, MPLS), Linux cooked
// SLL and SLL2, raw IP (DLT_RAW, LINKTYPE_IPV4/IPV6), BSD NULL / LOOP, PPP.
// Network: IPv4 (options skipped), IPv6 (extension headers), fragment reassembly.
// Transport: TCP, UDP, ICMPv4, ICMPv6, SCTP ports. Tunnels: GRE (v0, PPTP v1), ERSPAN
// type II and III (type I optional), VXLAN (UDP, configurable ports), IP-in-IP.
//
// Every length is checked against what was captured: a header field that claims more
// bytes than exist ("lying length") or a cut header is counted under its reason; nothing
// is ever read out of bounds. A bad link or IP header drops that Packet (there is nothing
// a rule could match); a bad TCP/UDP/ICMP/SCTP header keeps the Packet as an IP packet
// with l4_decoded == false, no ports and no payload (Suricata still runs IP rules on it). Checksums are only
// computed when verify_checksums is on, and a bad checksum never drops a packet.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <vector>

#include "agent/capture/packet_source.hpp"
#include "agent/decode/counters.hpp"
#include "agent/decode/defrag.hpp"
#include "core/packet.hpp"

namespace halong::agent::net {

// DLT_* / LINKTYPE_* values the decoder understands.
namespace linktype {
constexpr int null = 0, ethernet = 1, ppp = 9, raw = 12, raw_openbsd = 14, ppp_serial = 50,
              ppp_ether = 51, linktype_raw = 101, loop = 108, linux_sll = 113, ipv4 = 228,
              ipv6 = 229, linux_sll2 = 276;
}

struct DecoderOptions {
  bool vxlan = true;                          // Suricata decoder.vxlan.enabled
  std::vector<uint16_t> vxlan_ports{4789};    // Suricata decoder.vxlan.ports
  bool gre = true;                            // decapsulate GRE payloads
  bool erspan = true;                         // ERSPAN type II / III inside GRE
  bool erspan_type1 = false;                  // Suricata decoder.erspan.typeI.enabled
  bool ipip = true;                           // IPv4/IPv6 in IPv4/IPv6 (protocols 4, 41)
  bool verify_checksums = false;              // compute IPv4/TCP/UDP/ICMP checksums (counted)
  int max_tunnel_depth = 3;                   // nested encapsulations decoded
  DefragSettings defrag;
};

// The Packets one frame produced, in the order the engine should see them: the packet
// itself first (a tunnel root, an IP fragment, or an ordinary packet), then decapsulated
// inner packets and reassembled datagrams.
constexpr size_t kMaxPacketsPerFrame = 8;
struct Decoded {
  std::array<halong::net::Packet, kMaxPacketsPerFrame> packets;
  size_t count = 0;
  bool error = false;  // some layer could not be decoded (see the counters for why)
  halong::net::Packet* begin() { return packets.data(); }
  halong::net::Packet* end() { return packets.data() + count; }
};

class Decoder {
 public:
  explicit Decoder(DecoderOptions options = {});
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Decodes one frame into `out` (overwritten). The Packets point into frame.data or into
  // buffers owned by this Decoder; both stay valid until the next decode() call.
  // `pcap_cnt` is copied into Packet::pcap_cnt (1-based frame number).
  void decode(const Frame& frame, uint64_t pcap_cnt, Decoded& out);

  const DecodeCounters& counters() const { return counters_; }
  const DecoderOptions& options() const { return options_; }
  const Defragmenter& defragmenter() const { return defrag_; }

 private:
  using Packet = halong::net::Packet;
  struct Ctx;

  Packet* new_packet(Ctx& c, const Packet* from);
  void drop_last(Ctx& c);
  bool link(Ctx& c, Packet& p, int linktype, const uint8_t* d, size_t len);
  bool ethernet(Ctx& c, Packet& p, const uint8_t* d, size_t len);
  bool ethertype(Ctx& c, Packet& p, uint16_t type, const uint8_t* d, size_t len);
  bool ppp(Ctx& c, Packet& p, const uint8_t* d, size_t len, bool allow_hdlc);
  bool raw_ip(Ctx& c, Packet& p, const uint8_t* d, size_t len);
  bool ipv4(Ctx& c, Packet& p, const uint8_t* d, size_t len);
  bool ipv6(Ctx& c, Packet& p, const uint8_t* d, size_t len);
  bool l4(Ctx& c, Packet& p, const uint8_t* ip, size_t ip_hlen, const uint8_t* d, size_t len);
  bool l4_error(Ctx& c, Packet& p, DecodeCounter why);
  // Decapsulation: returns the inner packet to fill or nullptr when not allowed.
  Packet* tunnel_begin(Ctx& c, Packet& outer, const uint8_t* data, size_t len);
  void tunnel_end(Ctx& c, Packet& outer, Packet* inner, bool ok);
  void gre(Ctx& c, Packet& p, const uint8_t* d, size_t len);
  void reassembled(Ctx& c, const Packet& frag_pkt, std::vector<uint8_t>& buf, size_t ip_at);
  static size_t link_prefix(const Packet& p, const uint8_t* ip);
  std::vector<uint8_t>& scratch_buffer();

  DecoderOptions options_;
  DecodeCounters counters_;
  Defragmenter defrag_;
  std::deque<std::vector<uint8_t>> bufs_;  // reassembled datagrams of the current frame
  size_t bufs_used_ = 0;
};

}  // namespace halong::agent::net
