#include "agent/decode/decoder.hpp"

#include <algorithm>
#include <cstring>

namespace halong::agent::net {

using halong::net::IpAddr;
namespace ipproto = halong::net::ipproto;
using C = DecodeCounter;

namespace {

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

uint32_t sum16(const uint8_t* d, size_t len, uint32_t sum = 0) {
  size_t i = 0;
  for (; i + 1 < len; i += 2) sum += static_cast<uint32_t>(d[i] << 8 | d[i + 1]);
  if (i < len) sum += static_cast<uint32_t>(d[i] << 8);
  return sum;
}
uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// Checksum over the L4 segment with the IPv4/IPv6 pseudo header: 0xffff when it verifies.
uint16_t l4_sum(const uint8_t* ip, uint8_t version, uint8_t proto, const uint8_t* d, size_t len) {
  uint32_t s = 0;
  if (version == 4) {
    s = sum16(ip + 12, 8);
  } else {
    s = sum16(ip + 8, 32);
  }
  s += proto;
  s += static_cast<uint32_t>(len & 0xffff) + static_cast<uint32_t>(len >> 16);
  return fold(sum16(d, len, s));
}

constexpr int kMaxVlanLayers = 3;
constexpr int kMaxExtHeaders = 12;

}  // namespace

struct Decoder::Ctx {
  Decoded& out;
  const Frame& frame;
  uint64_t cnt;
  int depth = 0;  // tunnel depth of the packet being decoded
};

Decoder::Decoder(DecoderOptions options)
    : options_(std::move(options)), defrag_(options_.defrag, counters_) {}

std::vector<uint8_t>& Decoder::scratch_buffer() {
  if (bufs_used_ == bufs_.size()) bufs_.emplace_back();
  return bufs_[bufs_used_++];
}

Decoder::Packet* Decoder::new_packet(Ctx& c, const Packet* from) {
  if (c.out.count >= kMaxPacketsPerFrame) {
    counters_.inc(C::too_many_packets);
    c.out.error = true;
    return nullptr;
  }
  Packet& p = c.out.packets[c.out.count++];
  p = Packet{};
  p.ts_us = c.frame.ts_us;
  p.pcap_cnt = c.cnt;
  p.linktype = c.frame.linktype;
  p.frame = c.frame.data;
  p.frame_len = c.frame.caplen;
  if (from != nullptr) {
    std::memcpy(p.vlan, from->vlan, sizeof p.vlan);
    p.vlan_count = from->vlan_count;
    p.tunneled = from->tunneled;
    p.tunnel_depth = from->tunnel_depth;
    p.tunnel_src = from->tunnel_src;
    p.tunnel_dst = from->tunnel_dst;
    p.tunnel_proto = from->tunnel_proto;
    p.tunnel_src_port = from->tunnel_src_port;
    p.tunnel_dest_port = from->tunnel_dest_port;
  }
  return &p;
}

void Decoder::drop_last(Ctx& c) {
  if (c.out.count > 0) --c.out.count;
  c.out.error = true;
}

void Decoder::decode(const Frame& frame, uint64_t pcap_cnt, Decoded& out) {
  out.count = 0;
  out.error = false;
  bufs_used_ = 0;
  counters_.inc(C::frames);
  Ctx c{out, frame, pcap_cnt};
  Packet* p = new_packet(c, nullptr);
  if (p == nullptr) return;
  // The first packet sits at index 0; later ones (tunnel inner, reassembled) follow.
  if (!link(c, *p, frame.linktype, frame.data, frame.data ? frame.caplen : 0)) {
    // The outermost packet failed: drop it, keep anything already appended after it.
    if (out.count > 0) {
      for (size_t i = 1; i < out.count; ++i) out.packets[i - 1] = out.packets[i];
      --out.count;
    }
    out.error = true;
  }
  counters_.inc(C::packets, out.count);
}

// ------------------------------------------------------------------ link layers

bool Decoder::link(Ctx& c, Packet& p, int lt, const uint8_t* d, size_t len) {
  switch (lt) {
    case linktype::ethernet:
      return ethernet(c, p, d, len);
    case linktype::linux_sll:
      counters_.inc(C::sll);
      if (len < 16) return counters_.inc(C::sll_truncated), false;
      return ethertype(c, p, be16(d + 14), d + 16, len - 16);
    case linktype::linux_sll2:
      counters_.inc(C::sll2);
      if (len < 20) return counters_.inc(C::sll_truncated), false;
      return ethertype(c, p, be16(d), d + 20, len - 20);
    case linktype::raw:
    case linktype::raw_openbsd:
    case linktype::linktype_raw:
      counters_.inc(C::raw_ip);
      return raw_ip(c, p, d, len);
    case linktype::ipv4:
      counters_.inc(C::raw_ip);
      return ipv4(c, p, d, len);
    case linktype::ipv6:
      counters_.inc(C::raw_ip);
      return ipv6(c, p, d, len);
    case linktype::null:
    case linktype::loop: {
      counters_.inc(C::null_loopback);
      if (len < 4) return counters_.inc(C::null_truncated), false;
      uint32_t fam;
      if (lt == linktype::loop) {
        fam = be32(d);
      } else {
        std::memcpy(&fam, d, 4);  // host byte order of the capturing machine: try both
        if (fam > 0xffff) fam = __builtin_bswap32(fam);
      }
      if (fam == 2) return ipv4(c, p, d + 4, len - 4);
      if (fam == 10 || fam == 24 || fam == 28 || fam == 30) return ipv6(c, p, d + 4, len - 4);
      counters_.inc(C::non_ip);
      return true;
    }
    case linktype::ppp:
    case linktype::ppp_serial:
      return ppp(c, p, d, len, true);
    default:
      counters_.inc(C::unknown_linktype);
      return false;
  }
}

bool Decoder::ethernet(Ctx& c, Packet& p, const uint8_t* d, size_t len) {
  counters_.inc(C::ethernet);
  if (len < 14) return counters_.inc(C::ethernet_truncated), false;
  uint16_t type = be16(d + 12);
  d += 14;
  len -= 14;
  int layers = 0;
  while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
    counters_.inc(C::vlan);
    if (++layers > kMaxVlanLayers) return counters_.inc(C::vlan_too_many), false;
    if (len < 4) return counters_.inc(C::vlan_truncated), false;
    uint16_t id = be16(d) & 0x0fff;
    if (p.vlan_count < 2) p.vlan[p.vlan_count++] = id;
    type = be16(d + 2);
    d += 4;
    len -= 4;
  }
  if (type < 0x0600) {  // 802.3 length field: LLC/SNAP, not IP
    counters_.inc(C::non_ip);
    return true;
  }
  return ethertype(c, p, type, d, len);
}

bool Decoder::ethertype(Ctx& c, Packet& p, uint16_t type, const uint8_t* d, size_t len) {
  switch (type) {
    case 0x0800:
      return ipv4(c, p, d, len);
    case 0x86dd:
      return ipv6(c, p, d, len);
    case 0x8100:
    case 0x88a8: {  // VLAN after a cooked header or inside a tunnel
      counters_.inc(C::vlan);
      if (len < 4) return counters_.inc(C::vlan_truncated), false;
      if (p.vlan_count < 2) p.vlan[p.vlan_count++] = be16(d) & 0x0fff;
      uint16_t inner = be16(d + 2);
      if (inner == 0x8100 || inner == 0x88a8) return counters_.inc(C::vlan_too_many), false;
      return ethertype(c, p, inner, d + 4, len - 4);
    }
    case 0x8864: {  // PPPoE session: 6-byte header, then the PPP protocol
      counters_.inc(C::pppoe);
      if (len < 8) return counters_.inc(C::pppoe_truncated), false;
      size_t plen = be16(d + 4);
      if (plen + 6 > len || plen < 2) return counters_.inc(C::pppoe_truncated), false;
      return ppp(c, p, d + 6, plen, false);
    }
    case 0x8847:
    case 0x8848: {  // MPLS unicast / multicast: pop labels to the bottom of the stack
      counters_.inc(C::mpls);
      for (int i = 0;; ++i) {
        if (len < 4 || i > 16) return counters_.inc(C::mpls_truncated), false;
        bool bottom = (d[2] & 0x01) != 0;
        d += 4;
        len -= 4;
        if (bottom) break;
      }
      if (len == 0) return counters_.inc(C::mpls_truncated), false;
      if ((d[0] >> 4) == 4) return ipv4(c, p, d, len);
      if ((d[0] >> 4) == 6) return ipv6(c, p, d, len);
      counters_.inc(C::non_ip);
      return true;
    }
    case 0x6558:  // transparent Ethernet bridging (GRE)
      return ethernet(c, p, d, len);
    default:
      counters_.inc(C::non_ip);
      return true;
  }
}

bool Decoder::ppp(Ctx& c, Packet& p, const uint8_t* d, size_t len, bool allow_hdlc) {
  counters_.inc(C::ppp);
  if (allow_hdlc && len >= 2 && d[0] == 0xff && d[1] == 0x03) {
    d += 2;
    len -= 2;
  }
  if (len < 1) return counters_.inc(C::ppp_truncated), false;
  uint16_t proto;
  if (d[0] & 0x01) {  // protocol field compression: one byte
    proto = d[0];
    d += 1;
    len -= 1;
  } else {
    if (len < 2) return counters_.inc(C::ppp_truncated), false;
    proto = be16(d);
    d += 2;
    len -= 2;
  }
  if (proto == 0x0021) return ipv4(c, p, d, len);
  if (proto == 0x0057) return ipv6(c, p, d, len);
  counters_.inc(C::non_ip);  // LCP, IPCP, CCP...
  return true;
}

bool Decoder::raw_ip(Ctx& c, Packet& p, const uint8_t* d, size_t len) {
  if (len < 1) return counters_.inc(C::ipv4_truncated), false;
  if ((d[0] >> 4) == 6) return ipv6(c, p, d, len);
  return ipv4(c, p, d, len);
}

// ------------------------------------------------------------------ IP

bool Decoder::ipv4(Ctx& c, Packet& p, const uint8_t* d, size_t len) {
  counters_.inc(C::ipv4);
  if (len < 20) return counters_.inc(C::ipv4_truncated), false;
  if ((d[0] >> 4) != 4) return counters_.inc(C::ipv4_bad_version), false;
  size_t ihl = static_cast<size_t>(d[0] & 0x0f) * 4;
  if (ihl < 20 || ihl > len) return counters_.inc(C::ipv4_bad_header_length), false;
  size_t total = be16(d + 2);
  if (total < ihl || total > len) return counters_.inc(C::ipv4_bad_total_length), false;
  len = total;  // drop link-layer padding / trailers
  p.ip_version = 4;
  p.src = IpAddr::v4_bytes(d + 12);
  p.dst = IpAddr::v4_bytes(d + 16);
  p.ip_proto = d[9];
  p.ttl = d[8];
  p.ip_id = be16(d + 4);
  if (options_.verify_checksums && fold(sum16(d, ihl)) != 0xffff) {
    p.ip_csum_bad = true;
    counters_.inc(C::ipv4_bad_checksum);
  }
  uint16_t fo = be16(d + 6);
  bool more = (fo & 0x2000) != 0;
  uint16_t offset = fo & 0x1fff;
  const uint8_t* pl = d + ihl;
  size_t pl_len = len - ihl;
  if (more || offset != 0) {
    counters_.inc(C::ipv4_fragments);
    p.ip_fragment = true;  // no L4 and no payload inspection (as Suricata)
    if (options_.defrag.enabled) {
      std::vector<uint8_t>& buf = scratch_buffer();
      size_t link = link_prefix(p, d), ip_at = 0;
      if (defrag_.add_ipv4(d - link, link, ihl, pl, pl_len, c.frame.ts_us, buf, ip_at) ==
          Defragmenter::Outcome::complete)
        reassembled(c, p, buf, ip_at);
    }
    return true;
  }
  return l4(c, p, d, ihl, pl, pl_len);
}

bool Decoder::ipv6(Ctx& c, Packet& p, const uint8_t* d, size_t len) {
  counters_.inc(C::ipv6);
  if (len < 40) return counters_.inc(C::ipv6_truncated), false;
  if ((d[0] >> 4) != 6) return counters_.inc(C::ipv6_bad_version), false;
  size_t plen = be16(d + 4);
  if (40 + plen > len) return counters_.inc(C::ipv6_bad_payload_length), false;
  len = 40 + plen;  // jumbograms (payload length 0) carry no L4 we decode
  p.ip_version = 6;
  p.src = IpAddr::v6_bytes(d + 8);
  p.dst = IpAddr::v6_bytes(d + 24);
  p.ttl = d[7];
  uint8_t nh = d[6];
  size_t nh_at = 6;
  size_t off = 40;
  for (int n = 0;; ++n) {
    if (nh != 0 && nh != 43 && nh != 44 && nh != 60 && nh != 51 && nh != 135 && nh != 139 && nh != 140) break;
    if (n >= kMaxExtHeaders) return counters_.inc(C::ipv6_too_many_exthdrs), false;
    if (off + 8 > len) return counters_.inc(C::ipv6_exthdr_truncated), false;
    if (nh == 44) {  // fragment header
      uint8_t next = d[off];
      uint16_t fo = be16(d + off + 2);
      uint32_t foff = fo & 0xfff8u;
      bool more = (fo & 1) != 0;
      uint32_t id = be32(d + off + 4);
      if (foff == 0 && !more) {  // atomic fragment (RFC 6946): just skip the header
        nh_at = off;
        nh = next;
        off += 8;
        continue;
      }
      counters_.inc(C::ipv6_fragments);
      p.ip_proto = next;
      p.ip_fragment = true;
      if (options_.defrag.enabled) {
        std::vector<uint8_t>& buf = scratch_buffer();
        size_t link = link_prefix(p, d), ip_at = 0;
        if (defrag_.add_ipv6(d - link, link, off, nh_at, next, id, foff, more, d + off + 8, len - off - 8,
                             c.frame.ts_us, buf, ip_at) == Defragmenter::Outcome::complete)
          reassembled(c, p, buf, ip_at);
      }
      return true;
    }
    size_t hl = nh == 51 ? (static_cast<size_t>(d[off + 1]) + 2) * 4 : (static_cast<size_t>(d[off + 1]) + 1) * 8;
    if (off + hl > len) return counters_.inc(C::ipv6_exthdr_truncated), false;
    nh_at = off;
    nh = d[off];
    off += hl;
  }
  p.ip_proto = nh;
  return l4(c, p, d, off, d + off, len - off);
}

// Bytes of `p`'s frame before its IP header at `ip` (the link-layer header Suricata keeps
// in a reassembled packet); 0 if `ip` is not inside the frame.
size_t Decoder::link_prefix(const Packet& p, const uint8_t* ip) {
  if (p.frame == nullptr || ip < p.frame || ip > p.frame + p.frame_len) return 0;
  return static_cast<size_t>(ip - p.frame);
}

void Decoder::reassembled(Ctx& c, const Packet& frag_pkt, std::vector<uint8_t>& buf, size_t ip_at) {
  Packet* r = new_packet(c, &frag_pkt);
  if (r == nullptr) return;
  r->reassembled = true;
  // Like Suricata's rebuilt packet: the first fragment's link header + the datagram, same
  // link type (bug-6887: PPP capture -> PPP packet_info.linktype and bytes).
  r->frame = buf.data();
  r->frame_len = buf.size();
  r->linktype = frag_pkt.linktype;
  const uint8_t* ip = buf.data() + ip_at;
  size_t len = buf.size() - ip_at;
  bool ok = (ip[0] >> 4) == 4 ? ipv4(c, *r, ip, len) : ipv6(c, *r, ip, len);
  if (!ok) drop_last(c);
}

// ------------------------------------------------------------------ L4

// A transport header that is cut or lies about its length: the packet is still delivered
// as an IP packet (as Suricata does, so IP-level rules see it) with l4_decoded false.
bool Decoder::l4_error(Ctx& c, Packet& p, DecodeCounter why) {
  counters_.inc(why);
  c.out.error = true;
  p.l4_decoded = false;
  p.src_port = p.dst_port = 0;
  p.tcp_flags = 0;
  p.tcp_seq = p.tcp_ack = 0;
  p.tcp_window = 0;
  p.icmp_type = p.icmp_code = -1;
  p.payload = nullptr;
  p.payload_len = 0;
  return true;
}

bool Decoder::l4(Ctx& c, Packet& p, const uint8_t* ip, size_t ip_hlen, const uint8_t* d, size_t len) {
  (void)ip_hlen;
  const bool verify = options_.verify_checksums;
  switch (p.ip_proto) {
    case ipproto::tcp: {
      counters_.inc(C::tcp);
      if (len < 20) return l4_error(c, p, C::tcp_truncated);
      size_t off = static_cast<size_t>(d[12] >> 4) * 4;
      if (off < 20 || off > len) return l4_error(c, p, C::tcp_bad_header_length);
      p.src_port = be16(d);
      p.dst_port = be16(d + 2);
      p.tcp_seq = be32(d + 4);
      p.tcp_ack = be32(d + 8);
      p.tcp_flags = d[13];
      p.tcp_window = be16(d + 14);
      p.payload = d + off;
      p.payload_len = len - off;
      p.l4_decoded = true;
      if (verify && l4_sum(ip, p.ip_version, ipproto::tcp, d, len) != 0xffff) {
        p.l4_csum_bad = true;
        counters_.inc(C::l4_bad_checksum);
      }
      return true;
    }
    case ipproto::udp: {
      counters_.inc(C::udp);
      if (len < 8) return l4_error(c, p, C::udp_truncated);
      size_t ulen = be16(d + 4);
      if (ulen < 8 || ulen > len) return l4_error(c, p, C::udp_bad_length);
      p.src_port = be16(d);
      p.dst_port = be16(d + 2);
      p.payload = d + 8;
      p.payload_len = ulen - 8;  // bytes after the UDP length are trailing data, ignored
      p.l4_decoded = true;
      if (verify && be16(d + 6) != 0 && l4_sum(ip, p.ip_version, ipproto::udp, d, ulen) != 0xffff) {
        p.l4_csum_bad = true;
        counters_.inc(C::l4_bad_checksum);
      }
      if (options_.vxlan && p.payload_len >= 8 && (p.payload[0] & 0x08) != 0 &&
          std::find(options_.vxlan_ports.begin(), options_.vxlan_ports.end(), p.dst_port) !=
              options_.vxlan_ports.end()) {
        const uint8_t* inner_d = p.payload + 8;
        size_t inner_len = p.payload_len - 8;
        Packet* inner = tunnel_begin(c, p, inner_d, inner_len);
        if (inner != nullptr) {
          counters_.inc(C::vxlan);
          if (inner_len < 14) counters_.inc(C::vxlan_truncated);
          bool ok = inner_len >= 14 && ethernet(c, *inner, inner_d, inner_len);
          tunnel_end(c, p, inner, ok);
        }
      }
      return true;
    }
    case ipproto::icmp:
    case ipproto::icmpv6: {
      counters_.inc(p.ip_proto == ipproto::icmp ? C::icmpv4 : C::icmpv6);
      if (len < 4) return l4_error(c, p, C::icmp_truncated);
      p.icmp_type = d[0];
      p.icmp_code = d[1];
      p.payload = d + 4;  // as Suricata: ICMP payload starts after type, code, checksum
      p.payload_len = len - 4;
      if (len >= 8) {  // echo & co. carry id+seq in the rest of the header
        p.payload = d + 8;
        p.payload_len = len - 8;
      }
      p.l4_decoded = true;
      if (verify) {
        uint16_t s = p.ip_proto == ipproto::icmp ? fold(sum16(d, len)) : l4_sum(ip, 6, ipproto::icmpv6, d, len);
        if (s != 0xffff) {
          p.l4_csum_bad = true;
          counters_.inc(C::l4_bad_checksum);
        }
      }
      return true;
    }
    case ipproto::sctp:
      counters_.inc(C::sctp);
      if (len < 12) return l4_error(c, p, C::sctp_truncated);
      p.src_port = be16(d);
      p.dst_port = be16(d + 2);
      p.payload = d + 12;
      p.payload_len = len - 12;
      p.l4_decoded = true;
      return true;
    case ipproto::gre:
      counters_.inc(C::gre);
      p.payload = d;
      p.payload_len = len;
      if (options_.gre) gre(c, p, d, len);
      return true;
    case 4:    // IPv4 in IP
    case 41: { // IPv6 in IP
      counters_.inc(C::other_l4);
      p.payload = d;
      p.payload_len = len;
      if (!options_.ipip) return true;
      uint8_t proto = p.ip_proto;
      Packet* inner = tunnel_begin(c, p, d, len);
      if (inner != nullptr) {
        counters_.inc(C::ipip);
        bool ok = proto == 4 ? ipv4(c, *inner, d, len) : ipv6(c, *inner, d, len);
        tunnel_end(c, p, inner, ok);
      }
      return true;
    }
    default:
      counters_.inc(C::other_l4);
      p.payload = d;
      p.payload_len = len;
      return true;
  }
}

// ------------------------------------------------------------------ tunnels

Decoder::Packet* Decoder::tunnel_begin(Ctx& c, Packet& outer, const uint8_t* data, size_t len) {
  if (outer.tunnel_depth >= options_.max_tunnel_depth) {
    counters_.inc(C::tunnel_too_deep);
    return nullptr;
  }
  Packet* inner = new_packet(c, &outer);
  if (inner == nullptr) return nullptr;
  inner->tunneled = true;
  inner->tunnel_depth = static_cast<uint8_t>(outer.tunnel_depth + 1);
  inner->tunnel_src = outer.src;
  inner->tunnel_dst = outer.dst;
  inner->tunnel_proto = outer.ip_proto;
  inner->tunnel_src_port = outer.src_port;
  inner->tunnel_dest_port = outer.dst_port;
  // The inner packet's bytes, as Suricata's tunnel pseudo-packet holds them (so flow byte
  // counts agree): from the encapsulated header on (ERSPAN: including its header).
  inner->frame = data;
  inner->frame_len = len;
  return inner;
}

void Decoder::tunnel_end(Ctx& c, Packet& outer, Packet* inner, bool ok) {
  if (!ok) {
    // Not a (valid) tunnel: forget the inner packet (and anything it appended), keep
    // the outer one as an ordinary packet with its payload.
    c.out.count = static_cast<size_t>(inner - c.out.packets.data());
    c.out.error = true;
    return;
  }
  outer.tunnel_root = true;
  outer.payload = nullptr;
  outer.payload_len = 0;
}

void Decoder::gre(Ctx& c, Packet& p, const uint8_t* d, size_t len) {
  if (len < 4) {
    counters_.inc(C::gre_truncated);
    c.out.error = true;
    return;
  }
  uint16_t flags = be16(d);
  uint16_t proto = be16(d + 2);
  int version = flags & 0x7;
  size_t hl = 4;
  if (version == 0) {
    if (flags & 0x4000) return;  // routing present (RFC 1701 source routing): not decapsulated
    if (flags & 0x8000) hl += 4;  // checksum + reserved
    if (flags & 0x2000) hl += 4;  // key
    if (flags & 0x1000) hl += 4;  // sequence
  } else if (version == 1) {      // PPTP enhanced GRE: key always, seq/ack optional
    if (proto != 0x880b || (flags & 0x2000) == 0) {
      counters_.inc(C::gre_bad_version);
      c.out.error = true;
      return;
    }
    hl = 8;
    if (flags & 0x1000) hl += 4;
    if (flags & 0x0080) hl += 4;
  } else {
    counters_.inc(C::gre_bad_version);
    c.out.error = true;
    return;
  }
  if (hl > len) {
    counters_.inc(C::gre_truncated);
    c.out.error = true;
    return;
  }
  const uint8_t* in = d + hl;
  size_t in_len = len - hl;
  uint16_t erspan_vlan = 0;
  enum { none, ip, eth, ppp_ } kind = none;
  switch (proto) {
    case 0x0800:
    case 0x86dd:
      kind = ip;
      break;
    case 0x6558:
      kind = eth;
      break;
    case 0x880b:
      if (version == 1) kind = ppp_;
      break;
    case 0x88be:  // ERSPAN type II (sequence bit set) or type I (no header)
      if (!options_.erspan) break;
      if (flags & 0x1000) {
        if (in_len < 8) {
          counters_.inc(C::erspan_truncated);
          c.out.error = true;
          return;
        }
        if ((in[0] >> 4) != 1) break;  // not version 1 (= type II)
        erspan_vlan = static_cast<uint16_t>((in[0] & 0x0f) << 8 | in[1]);
        in += 8;
        in_len -= 8;
      } else if (!options_.erspan_type1) {
        break;
      }
      counters_.inc(C::erspan);
      kind = eth;
      break;
    case 0x22eb: {  // ERSPAN type III
      if (!options_.erspan) break;
      if (in_len < 12) {
        counters_.inc(C::erspan_truncated);
        c.out.error = true;
        return;
      }
      if ((in[0] >> 4) != 2) break;
      erspan_vlan = static_cast<uint16_t>((in[0] & 0x0f) << 8 | in[1]);
      size_t eh = (in[11] & 0x01) ? 20 : 12;  // O flag: platform specific subheader
      if (in_len < eh) {
        counters_.inc(C::erspan_truncated);
        c.out.error = true;
        return;
      }
      in += eh;
      in_len -= eh;
      counters_.inc(C::erspan);
      kind = eth;
      break;
    }
    default:
      break;
  }
  if (kind == none) return;
  // ERSPAN: the pseudo-packet starts at the ERSPAN header (Suricata decodes it as part of
  // the tunnel); other payloads start after the GRE header.
  Packet* inner = erspan_vlan != 0 || proto == 0x88be || proto == 0x22eb ? tunnel_begin(c, p, d + hl, len - hl)
                                                                           : tunnel_begin(c, p, in, in_len);
  if (inner == nullptr) return;
  if (erspan_vlan != 0 && inner->vlan_count < 2) inner->vlan[inner->vlan_count++] = erspan_vlan;
  bool ok = false;
  if (kind == ip) ok = in_len > 0 && raw_ip(c, *inner, in, in_len);
  else if (kind == eth) ok = ethernet(c, *inner, in, in_len);
  else ok = ppp(c, *inner, in, in_len, true);
  tunnel_end(c, p, inner, ok);
}

}  // namespace halong::agent::net
