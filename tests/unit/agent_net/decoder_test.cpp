#include <catch2/catch.hpp>

#include <cstring>

#include "agent/decode/decoder.hpp"
#include "craft.hpp"

using namespace halong::agent::net;
using halong::net::IpAddr;
using craft::Bytes;

namespace {

struct Dec {
  Decoder dec;
  Decoded out;
  Bytes keep;
  explicit Dec(DecoderOptions o = {}) : dec(std::move(o)) {}
  Decoded& run(const Bytes& in, int lt = linktype::ethernet, int64_t ts = 1'000'000) {
    keep = Bytes(in.begin(), in.end());  // exact size (ASan sees over-reads); views point into it
    const Bytes& b = keep;
    Frame f;
    f.data = b.data();
    f.caplen = static_cast<uint32_t>(b.size());
    f.wire_len = f.caplen;
    f.linktype = lt;
    f.ts_us = ts;
    dec.decode(f, 1, out);
    return out;
  }
  uint64_t ctr(DecodeCounter c) const { return dec.counters()[c]; }
};

std::string payload_of(const halong::net::Packet& p) {
  return std::string(reinterpret_cast<const char*>(p.payload), p.payload_len);
}

const Bytes kHttp = craft::str("GET / HTTP/1.1\r\nHost: x\r\n\r\n");

}  // namespace

TEST_CASE("decoder reads ethernet ipv4 tcp headers and payload", "[agent][decode]") {
  Dec d;
  auto& out = d.run(craft::eth(0x0800, craft::ipv4({}, craft::tcp(40000, 80, 1000, 2000, 0x18, kHttp))));
  REQUIRE(out.count == 1);
  REQUIRE_FALSE(out.error);
  const auto& p = out.packets[0];
  CHECK(p.ip_version == 4);
  CHECK(p.src.to_string() == "10.0.0.1");
  CHECK(p.dst.to_string() == "10.0.0.2");
  CHECK(p.ip_proto == 6);
  CHECK(p.src_port == 40000);
  CHECK(p.dst_port == 80);
  CHECK(p.tcp_seq == 1000);
  CHECK(p.tcp_ack == 2000);
  CHECK(p.tcp_flags == 0x18);
  CHECK(p.l4_decoded);
  CHECK(payload_of(p) == std::string(kHttp.begin(), kHttp.end()));
  CHECK(d.ctr(DecodeCounter::tcp) == 1);
  CHECK(d.dec.counters().errors() == 0);
}

TEST_CASE("decoder ignores ethernet padding after the ipv4 total length", "[agent][decode]") {
  Dec d;
  Bytes frame = craft::eth(0x0800, craft::ipv4(craft::v4(17, "10.0.0.1", "10.0.0.2"), craft::udp(1, 2, craft::str("ab"))));
  frame.resize(frame.size() + 20, 0xee);  // trailer / padding
  auto& out = d.run(frame);
  REQUIRE(out.count == 1);
  CHECK(payload_of(out.packets[0]) == "ab");
}

TEST_CASE("decoder skips ipv4 options", "[agent][decode]") {
  Dec d;
  craft::V4 v;
  v.options = {0x01, 0x01, 0x01, 0x00};  // NOP NOP NOP EOL
  auto& out = d.run(craft::eth(0x0800, craft::ipv4(v, craft::tcp(1, 2, 0, 0, 0x10, craft::str("xyz")))));
  REQUIRE(out.count == 1);
  CHECK(out.packets[0].dst_port == 2);
  CHECK(payload_of(out.packets[0]) == "xyz");
}

TEST_CASE("decoder records 802.1Q and QinQ vlan ids", "[agent][decode]") {
  Dec d;
  auto& one = d.run(craft::eth(0x0800, craft::ipv4({}, craft::tcp(1, 2, 0, 0, 2, {})), {100}));
  REQUIRE(one.count == 1);
  CHECK(one.packets[0].vlan_count == 1);
  CHECK(one.packets[0].vlan[0] == 100);
  auto& two = d.run(craft::eth(0x0800, craft::ipv4({}, craft::tcp(1, 2, 0, 0, 2, {})), {10, 20}));
  REQUIRE(two.count == 1);
  CHECK(two.packets[0].vlan_count == 2);
  CHECK(two.packets[0].vlan[0] == 10);
  CHECK(two.packets[0].vlan[1] == 20);
  CHECK(two.packets[0].dst_port == 2);
}

TEST_CASE("decoder reads linux cooked sll and sll2 frames", "[agent][decode]") {
  Bytes ip = craft::ipv4(craft::v4(17, "10.0.0.1", "10.0.0.2"), craft::udp(53, 5353, craft::str("q")));
  Bytes sll = {0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00};
  Bytes sll2 = {0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0};
  Dec d;
  auto& a = d.run(craft::cat({sll, ip}), linktype::linux_sll);
  REQUIRE(a.count == 1);
  CHECK(a.packets[0].src_port == 53);
  auto& b = d.run(craft::cat({sll2, ip}), linktype::linux_sll2);
  REQUIRE(b.count == 1);
  CHECK(b.packets[0].dst_port == 5353);
  CHECK(d.ctr(DecodeCounter::sll) == 1);
  CHECK(d.ctr(DecodeCounter::sll2) == 1);
}

TEST_CASE("decoder reads raw ip, null loopback and ppp link types", "[agent][decode]") {
  Bytes ip4 = craft::ipv4(craft::v4(17, "10.0.0.1", "10.0.0.2"), craft::udp(1, 2, craft::str("4")));
  Bytes ip6 = craft::ipv6("2001:db8::1", "2001:db8::2", 17, craft::udp(3, 4, craft::str("6")));
  Dec d;
  CHECK(d.run(ip4, linktype::raw).packets[0].ip_version == 4);
  CHECK(d.run(ip6, linktype::raw).packets[0].ip_version == 6);
  CHECK(d.run(ip4, linktype::ipv4).packets[0].src_port == 1);
  CHECK(d.run(ip6, linktype::ipv6).packets[0].src_port == 3);
  uint32_t fam = 2;  // AF_INET in host order, as BSD writes it
  Bytes null_hdr(4);
  std::memcpy(null_hdr.data(), &fam, 4);
  CHECK(d.run(craft::cat({null_hdr, ip4}), linktype::null).packets[0].ip_version == 4);
  CHECK(d.run(craft::cat({Bytes{0, 0, 0, 30}, ip6}), linktype::loop).packets[0].ip_version == 6);
  CHECK(d.run(craft::cat({Bytes{0xff, 0x03, 0x00, 0x21}, ip4}), linktype::ppp).packets[0].ip_version == 4);
  CHECK(d.run(craft::cat({Bytes{0x00, 0x57}, ip6}), linktype::ppp).packets[0].ip_version == 6);
  CHECK(d.dec.counters().errors() == 0);
}

TEST_CASE("decoder delivers non-ip frames without ip fields", "[agent][decode]") {
  Dec d;
  auto& out = d.run(craft::eth(0x0806, Bytes(28, 0)));
  REQUIRE(out.count == 1);
  CHECK(out.packets[0].ip_version == 0);
  CHECK(d.ctr(DecodeCounter::non_ip) == 1);
}

TEST_CASE("decoder walks ipv6 extension headers to tcp", "[agent][decode]") {
  Bytes t = craft::tcp(1234, 443, 7, 0, 2, {});
  Bytes hop = {60, 0, 1, 4, 0, 0, 0, 0};       // hop-by-hop -> dest opts, PadN
  Bytes dst = {6, 0, 1, 4, 0, 0, 0, 0};        // dest opts -> TCP
  Dec d;
  auto& out = d.run(craft::eth(0x86dd, craft::ipv6("fe80::1", "fe80::2", 0, craft::cat({hop, dst, t}))));
  REQUIRE(out.count == 1);
  CHECK(out.packets[0].ip_version == 6);
  CHECK(out.packets[0].ip_proto == 6);
  CHECK(out.packets[0].dst_port == 443);
  CHECK(out.packets[0].src.to_string() == "fe80::1");
}

TEST_CASE("decoder reads icmp type and code", "[agent][decode]") {
  Dec d;
  auto& a = d.run(craft::eth(0x0800, craft::ipv4(craft::v4(1, "10.0.0.1", "10.0.0.2"), craft::icmp(8, 0, craft::str("ping")))));
  REQUIRE(a.count == 1);
  CHECK(a.packets[0].icmp_type == 8);
  CHECK(a.packets[0].icmp_code == 0);
  CHECK(payload_of(a.packets[0]) == "ping");
  auto& b = d.run(craft::eth(0x86dd, craft::ipv6("::1", "::2", 58, craft::icmp(128, 0, {}))));
  REQUIRE(b.count == 1);
  CHECK(b.packets[0].icmp_type == 128);
}

// ------------------------------------------------------------------ bad input

TEST_CASE("decoder counts an ipv4 total length beyond the captured bytes and drops the packet",
          "[agent][decode][badinput]") {
  Dec d;
  craft::V4 v;
  v.total_length_override = 1500;  // lies: only ~60 bytes follow
  auto& out = d.run(craft::eth(0x0800, craft::ipv4(v, craft::tcp(1, 2, 0, 0, 2, kHttp))));
  CHECK(out.count == 0);
  CHECK(out.error);
  CHECK(d.ctr(DecodeCounter::ipv4_bad_total_length) == 1);
}

TEST_CASE("decoder keeps a packet whose tcp data offset lies as an ip-only packet", "[agent][decode][badinput]") {
  Dec d;
  auto& out = d.run(craft::eth(0x0800, craft::ipv4({}, craft::tcp(1, 2, 0, 0, 2, craft::str("abc"), 15))));
  REQUIRE(out.count == 1);
  CHECK(out.error);
  CHECK(out.packets[0].ip_version == 4);
  CHECK(out.packets[0].ip_proto == 6);
  CHECK_FALSE(out.packets[0].l4_decoded);
  CHECK(out.packets[0].dst_port == 0);
  CHECK(out.packets[0].payload_len == 0);
  CHECK(d.ctr(DecodeCounter::tcp_bad_header_length) == 1);
}

TEST_CASE("decoder counts a udp length that lies", "[agent][decode][badinput]") {
  Dec d;
  auto& out = d.run(craft::eth(0x0800, craft::ipv4(craft::v4(17, "10.0.0.1", "10.0.0.2"), craft::udp(1, 2, craft::str("abc"), 400))));
  REQUIRE(out.count == 1);
  CHECK_FALSE(out.packets[0].l4_decoded);
  CHECK(out.packets[0].payload_len == 0);
  CHECK(d.ctr(DecodeCounter::udp_bad_length) == 1);
}

TEST_CASE("decoder counts an ipv6 payload length beyond the data", "[agent][decode][badinput]") {
  Dec d;
  auto& out = d.run(craft::eth(0x86dd, craft::ipv6("::1", "::2", 17, craft::udp(1, 2, {}), 900)));
  CHECK(out.count == 0);
  CHECK(d.ctr(DecodeCounter::ipv6_bad_payload_length) == 1);
}

TEST_CASE("decoder never reads past any truncation point of a valid frame", "[agent][decode][badinput]") {
  // Every prefix of a multi-layer frame must decode without touching bytes beyond it
  // (ASan builds catch a violation) and count an error unless the prefix is complete.
  Bytes full = craft::eth(0x0800, craft::ipv4({}, craft::tcp(1, 2, 0, 0, 0x18, kHttp)), {5, 6});
  Dec d;
  for (size_t n = 0; n < full.size(); ++n) {
    Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    cut.shrink_to_fit();
    auto& out = d.run(cut);
    CHECK(out.count == 0);
    CHECK(out.error);
  }
  CHECK(d.dec.counters().errors() == full.size());
  CHECK(d.ctr(DecodeCounter::ethernet_truncated) > 0);
  CHECK(d.ctr(DecodeCounter::vlan_truncated) > 0);
  CHECK(d.ctr(DecodeCounter::ipv4_truncated) > 0);
  CHECK(d.ctr(DecodeCounter::ipv4_bad_total_length) > 0);
}

TEST_CASE("decoder rejects an unknown link type without crashing", "[agent][decode][badinput]") {
  Dec d;
  auto& out = d.run(Bytes{1, 2, 3}, 9999);
  CHECK(out.count == 0);
  CHECK(d.ctr(DecodeCounter::unknown_linktype) == 1);
}

TEST_CASE("decoder does not drop a packet with a bad checksum", "[agent][decode]") {
  DecoderOptions o;
  o.verify_checksums = true;
  Dec d(o);
  Bytes f = craft::eth(0x0800, craft::ipv4({}, craft::tcp(1, 2, 0, 0, 0x18, kHttp)));
  f[14 + 10] ^= 0xff;  // break the IPv4 header checksum (TCP checksum is 0 = bad too)
  auto& out = d.run(f);
  REQUIRE(out.count == 1);
  CHECK(out.packets[0].ip_csum_bad);
  CHECK(out.packets[0].l4_csum_bad);
  CHECK(d.ctr(DecodeCounter::ipv4_bad_checksum) == 1);
  CHECK(d.ctr(DecodeCounter::l4_bad_checksum) == 1);
}

// ------------------------------------------------------------------ tunnels

namespace {
Bytes vxlan_frame(const Bytes& inner_eth, uint16_t port = 4789) {
  Bytes vx = {0x08, 0, 0, 0, 0, 0, 0x64, 0};  // I flag, VNI 100
  return craft::eth(0x0800,
                    craft::ipv4(craft::v4(17, "192.168.1.1", "192.168.1.2"),
                                craft::udp(50000, port, craft::cat({vx, inner_eth}))));
}
Bytes inner_icmp() {
  return craft::eth(0x0800, craft::ipv4(craft::v4(1, "172.16.0.1", "172.16.0.2"),
                                        craft::icmp(8, 0, craft::str("in"))));
}
}  // namespace

TEST_CASE("decoder decapsulates vxlan into a second packet after the tunnel root", "[agent][decode][tunnel]") {
  Dec d;
  auto& out = d.run(vxlan_frame(inner_icmp()));
  REQUIRE(out.count == 2);
  const auto& root = out.packets[0];
  const auto& in = out.packets[1];
  CHECK(root.tunnel_root);
  CHECK(root.dst_port == 4789);
  CHECK(root.payload_len == 0);
  CHECK(in.tunneled);
  CHECK(in.tunnel_dest_port == 4789);
  CHECK(in.tunnel_src.to_string() == "192.168.1.1");
  CHECK(in.src.to_string() == "172.16.0.1");
  CHECK(in.icmp_type == 8);
  CHECK(d.ctr(DecodeCounter::vxlan) == 1);
}

TEST_CASE("decoder leaves vxlan alone when disabled or on another port", "[agent][decode][tunnel]") {
  DecoderOptions off;
  off.vxlan = false;
  Dec d(off);
  auto& a = d.run(vxlan_frame(inner_icmp()));
  REQUIRE(a.count == 1);
  CHECK_FALSE(a.packets[0].tunnel_root);
  CHECK(a.packets[0].payload_len > 0);
  Dec e;
  CHECK(e.run(vxlan_frame(inner_icmp(), 4790)).count == 1);
  DecoderOptions ports;
  ports.vxlan_ports = {4790};
  Dec f(ports);
  CHECK(f.run(vxlan_frame(inner_icmp(), 4790)).count == 2);
}

TEST_CASE("decoder keeps the outer packet when the vxlan payload is not a valid frame", "[agent][decode][tunnel]") {
  Dec d;
  Bytes bad_inner = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00, 0x45};  // IPv4 cut short
  auto& out = d.run(vxlan_frame(bad_inner));
  REQUIRE(out.count == 1);
  CHECK_FALSE(out.packets[0].tunnel_root);
  CHECK(out.packets[0].payload_len > 0);
}

TEST_CASE("decoder decapsulates gre carrying ipv4", "[agent][decode][tunnel]") {
  Bytes inner = craft::ipv4(craft::v4(17, "1.1.1.1", "2.2.2.2"), craft::udp(7, 9, craft::str("g")));
  Bytes gre = craft::cat({Bytes{0x20, 0x00, 0x08, 0x00, 0, 0, 0, 42}, inner});  // K bit + key
  Dec d;
  auto& out = d.run(craft::eth(0x0800, craft::ipv4(craft::v4(47, "10.0.0.1", "10.0.0.2"), gre)));
  REQUIRE(out.count == 2);
  CHECK(out.packets[0].tunnel_root);
  CHECK(out.packets[1].tunnel_proto == 47);
  CHECK(out.packets[1].dst_port == 9);
  CHECK(payload_of(out.packets[1]) == "g");
}

TEST_CASE("decoder decapsulates erspan type II and III and records the erspan vlan", "[agent][decode][tunnel]") {
  Bytes inner = inner_icmp();
  // Type II: GRE with sequence bit, protocol 0x88be; ERSPAN v1 header with VLAN 23.
  Bytes t2 = craft::cat({Bytes{0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 7}, Bytes{0x10, 0x17, 0x08, 0x64, 0, 0, 0, 0}, inner});
  // Type III: GRE protocol 0x22eb, 12-byte header, version 2, VLAN 5, O flag clear.
  Bytes t3 = craft::cat({Bytes{0x10, 0x00, 0x22, 0xeb, 0, 0, 0, 7},
                         Bytes{0x20, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}, inner});
  Dec d;
  auto& a = d.run(craft::eth(0x0800, craft::ipv4(craft::v4(47, "10.0.0.1", "10.0.0.2"), t2)));
  REQUIRE(a.count == 2);
  CHECK(a.packets[1].vlan_count == 1);
  CHECK(a.packets[1].vlan[0] == 23);
  CHECK(a.packets[1].icmp_type == 8);
  auto& b = d.run(craft::eth(0x0800, craft::ipv4(craft::v4(47, "10.0.0.1", "10.0.0.2"), t3)));
  REQUIRE(b.count == 2);
  CHECK(b.packets[1].vlan[0] == 5);
  CHECK(b.packets[1].src.to_string() == "172.16.0.1");
  CHECK(d.ctr(DecodeCounter::erspan) == 2);
}

TEST_CASE("decoder bounds nested tunnels", "[agent][decode][tunnel]") {
  // IP-in-IP nested 10 deep: only max_tunnel_depth levels are decapsulated.
  Bytes pkt = craft::ipv4(craft::v4(17, "10.0.0.1", "10.0.0.2"), craft::udp(1, 2, {}));
  for (int i = 0; i < 10; ++i) pkt = craft::ipv4(craft::v4(4, "10.0.0.1", "10.0.0.2"), pkt);
  Dec d;
  auto& out = d.run(craft::eth(0x0800, pkt));
  CHECK(out.count == 4);  // root + 3 levels (default max_tunnel_depth)
  CHECK(d.ctr(DecodeCounter::tunnel_too_deep) == 1);
}

TEST_CASE("decoder reads pppoe sessions and mpls label stacks", "[agent][decode]") {
  Bytes ip = craft::ipv4(craft::v4(17, "10.9.9.1", "10.9.9.2"), craft::udp(11, 22, craft::str("p")));
  Bytes pppoe = {0x11, 0x00, 0x00, 0x01};  // ver/type, code, session id
  craft::put16(pppoe, static_cast<uint16_t>(ip.size() + 2));
  craft::put16(pppoe, 0x0021);
  Bytes mpls = {0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40};  // two labels, S bit on the second
  Dec d;
  auto& a = d.run(craft::eth(0x8864, craft::cat({pppoe, ip})));
  REQUIRE(a.count == 1);
  CHECK(a.packets[0].dst_port == 22);
  auto& b = d.run(craft::eth(0x8847, craft::cat({mpls, ip})));
  REQUIRE(b.count == 1);
  CHECK(b.packets[0].src.to_string() == "10.9.9.1");
  // A PPPoE length that lies is an error, not an over-read.
  Bytes liar = pppoe;
  liar[4] = 0x7f;
  CHECK(d.run(craft::eth(0x8864, craft::cat({liar, ip}))).count == 0);
  CHECK(d.ctr(DecodeCounter::pppoe_truncated) == 1);
}

TEST_CASE("decoder decapsulates pptp enhanced gre carrying ppp", "[agent][decode][tunnel]") {
  Bytes inner = craft::ipv4(craft::v4(6, "172.20.0.1", "172.20.0.2"), craft::tcp(1000, 25, 0, 0, 2, {}));
  // GRE v1: K bit + S bit, protocol 0x880b, payload length, call id, sequence number.
  Bytes gre = {0x30, 0x01, 0x88, 0x0b};
  craft::put16(gre, static_cast<uint16_t>(inner.size() + 4));
  craft::put16(gre, 7);
  craft::put32(gre, 1);
  Dec d;
  auto& out = d.run(craft::eth(0x0800, craft::ipv4(craft::v4(47), craft::cat({gre, Bytes{0xff, 0x03, 0x00, 0x21}, inner}))));
  REQUIRE(out.count == 2);
  CHECK(out.packets[1].dst_port == 25);
  CHECK(out.packets[1].tunnel_proto == 47);
}
