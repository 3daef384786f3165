#include <catch2/catch.hpp>

#include "agent/decode/decoder.hpp"
#include "craft.hpp"

using namespace halong::agent::net;
using craft::Bytes;

namespace {

struct Dec {
  Decoder dec;
  Decoded out;
  Bytes keep;
  explicit Dec(DecoderOptions o = {}) : dec(std::move(o)) {}
  Decoded& run(const Bytes& in, int64_t ts = 1'000'000, int lt = linktype::ethernet) {
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

// A UDP datagram split into IPv4 fragments of `chunk` bytes (multiple of 8).
std::vector<Bytes> v4_fragments(const Bytes& l4, size_t chunk, uint16_t id = 77) {
  std::vector<Bytes> out;
  for (size_t off = 0; off < l4.size(); off += chunk) {
    size_t n = std::min(chunk, l4.size() - off);
    craft::V4 v;
    v.proto = 17;
    v.id = id;
    v.frag_offset = static_cast<uint16_t>(off);
    v.more_fragments = off + n < l4.size();
    out.push_back(craft::eth(0x0800, craft::ipv4(v, Bytes(l4.begin() + static_cast<std::ptrdiff_t>(off),
                                                         l4.begin() + static_cast<std::ptrdiff_t>(off + n)))));
  }
  return out;
}

Bytes pattern(size_t n, uint8_t seed = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

std::string payload_of(const halong::net::Packet& p) {
  return std::string(reinterpret_cast<const char*>(p.payload), p.payload_len);
}

}  // namespace

TEST_CASE("defrag delivers each ipv4 fragment and then the reassembled datagram", "[agent][decode][defrag]") {
  Bytes data = pattern(100);
  Bytes l4 = craft::udp(1000, 2000, data);
  auto frags = v4_fragments(l4, 48);
  REQUIRE(frags.size() == 3);
  Dec d;
  CHECK(d.run(frags[0]).count == 1);
  CHECK(d.out.packets[0].ip_fragment);
  CHECK(d.out.packets[0].src_port == 0);  // no L4 header decoded on a fragment
  CHECK(d.out.packets[0].payload_len == 0);  // and no payload inspection
  CHECK(d.run(frags[1]).count == 1);
  auto& out = d.run(frags[2]);
  REQUIRE(out.count == 2);
  CHECK(out.packets[0].ip_fragment);
  const auto& r = out.packets[1];
  CHECK(r.reassembled);
  CHECK_FALSE(r.ip_fragment);
  CHECK(r.linktype == linktype::ethernet);
  CHECK(r.frame_len == 14 + 20 + 8 + 100);  // first fragment's Ethernet header + datagram
  CHECK(std::equal(r.frame, r.frame + 14, frags[0].begin()));
  CHECK(r.src_port == 1000);
  CHECK(r.dst_port == 2000);
  CHECK(payload_of(r) == std::string(data.begin(), data.end()));
  CHECK(d.ctr(DecodeCounter::reassembled) == 1);
  CHECK(d.dec.defragmenter().trackers() == 0);
}

TEST_CASE("defrag reassembles fragments that arrive in reverse order", "[agent][decode][defrag]") {
  Bytes data = pattern(300, 3);
  auto frags = v4_fragments(craft::udp(1, 2, data), 64);
  Dec d;
  size_t reassembled = 0;
  for (auto it = frags.rbegin(); it != frags.rend(); ++it) {
    auto& out = d.run(*it);
    for (size_t i = 0; i < out.count; ++i)
      if (out.packets[i].reassembled) {
        ++reassembled;
        CHECK(payload_of(out.packets[i]) == std::string(data.begin(), data.end()));
      }
  }
  CHECK(reassembled == 1);
}

TEST_CASE("defrag keeps the first copy of overlapping ipv4 fragment bytes", "[agent][decode][defrag]") {
  Bytes data(64, 'A');
  Bytes l4 = craft::udp(1, 2, data);  // 72 bytes
  // Fragment 1: bytes [0,40) original. Fragment 2: bytes [16,72) with 'B' payload that
  // overlaps [16,40) — first wins, so those stay 'A'.
  craft::V4 v;
  v.proto = 17;
  v.id = 5;
  v.more_fragments = true;
  Bytes f1 = craft::eth(0x0800, craft::ipv4(v, Bytes(l4.begin(), l4.begin() + 40)));
  Bytes evil(l4.begin() + 16, l4.end());
  std::fill(evil.begin(), evil.end(), 'B');
  v.more_fragments = false;
  v.frag_offset = 16;
  Bytes f2 = craft::eth(0x0800, craft::ipv4(v, evil));
  Dec d;
  d.run(f1);
  auto& out = d.run(f2);
  REQUIRE(out.count == 2);
  std::string got = payload_of(out.packets[1]);
  REQUIRE(got.size() == 64);
  CHECK(got.substr(0, 32) == std::string(32, 'A'));  // udp payload bytes 0..31 = datagram 8..39
  CHECK(got.substr(32) == std::string(32, 'B'));
  CHECK(d.ctr(DecodeCounter::frag_overlaps) == 1);
}

TEST_CASE("defrag drops a fragment that would reassemble beyond 65535 bytes", "[agent][decode][defrag][badinput]") {
  craft::V4 v;
  v.proto = 17;
  v.frag_offset = 65528;  // last possible offset
  v.more_fragments = false;
  Dec d;
  auto& out = d.run(craft::eth(0x0800, craft::ipv4(v, Bytes(64, 0))));  // ends at 65592
  CHECK(out.count == 1);  // the fragment itself is still delivered
  CHECK(d.ctr(DecodeCounter::frag_bad) == 1);
  CHECK(d.dec.defragmenter().trackers() == 0);
}

TEST_CASE("defrag times out incomplete datagrams by packet time", "[agent][decode][defrag]") {
  DecoderOptions o;
  o.defrag.timeout_us = 10'000'000;
  Dec d(o);
  auto frags = v4_fragments(craft::udp(1, 2, pattern(80)), 48, 9);
  d.run(frags[0], 1'000'000);
  CHECK(d.dec.defragmenter().trackers() == 1);
  // 20 s later the rest arrives: the first half has expired, nothing is reassembled.
  auto& out = d.run(frags[1], 21'000'000);
  CHECK(out.count == 1);
  CHECK(d.ctr(DecodeCounter::frag_timeouts) == 1);
  CHECK(d.ctr(DecodeCounter::reassembled) == 0);
}

TEST_CASE("defrag stays within its tracker and memory bounds", "[agent][decode][defrag]") {
  DecoderOptions o;
  o.defrag.max_trackers = 8;
  o.defrag.memcap = 64 * 1024;
  Dec d(o);
  for (uint16_t id = 0; id < 200; ++id) {
    auto frags = v4_fragments(craft::udp(1, 2, pattern(1400)), 512, id);
    d.run(frags[0]);  // never completed
    CHECK(d.dec.defragmenter().trackers() <= 8);
    CHECK(d.dec.defragmenter().memory() <= 64 * 1024);
  }
  CHECK(d.ctr(DecodeCounter::frag_evicted) >= 192);
}

TEST_CASE("defrag reassembles ipv6 fragments and restores the next header", "[agent][decode][defrag]") {
  Bytes data = pattern(90, 1);
  Bytes l4 = craft::tcp(5555, 80, 1, 1, 0x18, data);  // 110 bytes
  Bytes part1(l4.begin(), l4.begin() + 56), part2(l4.begin() + 56, l4.end());
  Bytes f1 = craft::eth(0x86dd, craft::ipv6("2001:db8::1", "2001:db8::2", 44, craft::ip6frag(6, 0, true, 0xabc, part1)));
  Bytes f2 =
      craft::eth(0x86dd, craft::ipv6("2001:db8::1", "2001:db8::2", 44, craft::ip6frag(6, 56, false, 0xabc, part2)));
  Dec d;
  CHECK(d.run(f2).count == 1);
  CHECK(d.out.packets[0].ip_fragment);
  auto& out = d.run(f1);
  REQUIRE(out.count == 2);
  const auto& r = out.packets[1];
  CHECK(r.reassembled);
  CHECK(r.ip_version == 6);
  CHECK(r.ip_proto == 6);
  CHECK(r.dst_port == 80);
  CHECK(payload_of(r) == std::string(data.begin(), data.end()));
}

TEST_CASE("defrag can be switched off", "[agent][decode][defrag]") {
  DecoderOptions o;
  o.defrag.enabled = false;
  Dec d(o);
  for (auto& f : v4_fragments(craft::udp(1, 2, pattern(100)), 48)) CHECK(d.run(f).count == 1);
  CHECK(d.ctr(DecodeCounter::reassembled) == 0);
  CHECK(d.ctr(DecodeCounter::ipv4_fragments) == 3);
}
