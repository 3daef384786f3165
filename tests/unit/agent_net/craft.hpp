// Byte-level packet builders for decoder / flow tests (no dependency on the code under
// test: lengths and checksums are computed here independently).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include <arpa/inet.h>

namespace craft {

using Bytes = std::vector<uint8_t>;

inline void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
inline void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes r;
  for (const auto& p : parts) r.insert(r.end(), p.begin(), p.end());
  return r;
}
inline Bytes str(const std::string& s) { return Bytes(s.begin(), s.end()); }

inline std::array<uint8_t, 4> a4(const char* s) {
  std::array<uint8_t, 4> a{};
  inet_pton(AF_INET, s, a.data());
  return a;
}
inline std::array<uint8_t, 16> a6(const char* s) {
  std::array<uint8_t, 16> a{};
  inet_pton(AF_INET6, s, a.data());
  return a;
}

inline uint16_t csum(const Bytes& d, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < d.size(); i += 2) sum += static_cast<uint32_t>(d[i] << 8 | d[i + 1]);
  if (d.size() % 2) sum += static_cast<uint32_t>(d.back() << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

inline Bytes eth(uint16_t type, const Bytes& payload, std::initializer_list<uint16_t> vlans = {}) {
  Bytes b = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb};
  bool first = true;
  for (uint16_t v : vlans) {
    put16(b, first && vlans.size() > 1 ? 0x88a8 : 0x8100);
    put16(b, v);
    first = false;
  }
  put16(b, type);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

struct V4 {
  const char* src = "10.0.0.1";
  const char* dst = "10.0.0.2";
  uint8_t proto = 6;
  uint16_t id = 1;
  uint16_t frag_offset = 0;  // in bytes (multiple of 8)
  bool more_fragments = false;
  uint8_t ttl = 64;
  Bytes options;
  int total_length_override = -1;
};
inline V4 v4(uint8_t proto = 6, const char* src = "10.0.0.1", const char* dst = "10.0.0.2") {
  V4 v;
  v.proto = proto;
  v.src = src;
  v.dst = dst;
  return v;
}
inline Bytes ipv4(const V4& v, const Bytes& payload) {
  Bytes b;
  size_t ihl = 20 + v.options.size();
  b.push_back(static_cast<uint8_t>(0x40 | (ihl / 4)));
  b.push_back(0);
  put16(b, static_cast<uint16_t>(v.total_length_override >= 0 ? v.total_length_override : ihl + payload.size()));
  put16(b, v.id);
  put16(b, static_cast<uint16_t>((v.more_fragments ? 0x2000 : 0) | (v.frag_offset / 8)));
  b.push_back(v.ttl);
  b.push_back(v.proto);
  put16(b, 0);
  auto s = a4(v.src), d = a4(v.dst);
  b.insert(b.end(), s.begin(), s.end());
  b.insert(b.end(), d.begin(), d.end());
  b.insert(b.end(), v.options.begin(), v.options.end());
  uint16_t c = csum(b);
  b[10] = static_cast<uint8_t>(c >> 8);
  b[11] = static_cast<uint8_t>(c);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

inline Bytes ipv6(const char* src, const char* dst, uint8_t nh, const Bytes& payload, int plen_override = -1) {
  Bytes b = {0x60, 0, 0, 0};
  put16(b, static_cast<uint16_t>(plen_override >= 0 ? plen_override : static_cast<int>(payload.size())));
  b.push_back(nh);
  b.push_back(64);
  auto s = a6(src), d = a6(dst);
  b.insert(b.end(), s.begin(), s.end());
  b.insert(b.end(), d.begin(), d.end());
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}
// IPv6 fragment extension header + data.
inline Bytes ip6frag(uint8_t nh, uint16_t offset, bool more, uint32_t id, const Bytes& data) {
  Bytes b = {nh, 0};
  put16(b, static_cast<uint16_t>(offset | (more ? 1 : 0)));
  put32(b, id);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

inline Bytes tcp(uint16_t sp, uint16_t dp, uint32_t seq, uint32_t ack, uint8_t flags, const Bytes& payload,
                 int data_offset_words = 5) {
  Bytes b;
  put16(b, sp);
  put16(b, dp);
  put32(b, seq);
  put32(b, ack);
  b.push_back(static_cast<uint8_t>(data_offset_words << 4));
  b.push_back(flags);
  put16(b, 65535);
  put16(b, 0);
  put16(b, 0);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}
inline Bytes udp(uint16_t sp, uint16_t dp, const Bytes& payload, int len_override = -1) {
  Bytes b;
  put16(b, sp);
  put16(b, dp);
  put16(b, static_cast<uint16_t>(len_override >= 0 ? len_override : static_cast<int>(8 + payload.size())));
  put16(b, 0);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}
inline Bytes icmp(uint8_t type, uint8_t code, const Bytes& payload) {
  Bytes b = {type, code, 0, 0, 0, 1, 0, 1};
  b.insert(b.end(), payload.begin(), payload.end());
  uint16_t c = csum(b);
  b[2] = static_cast<uint8_t>(c >> 8);
  b[3] = static_cast<uint8_t>(c);
  return b;
}

// A classic pcap file with the given link type and frames (1 s apart from t0).
inline void write_pcap(const std::filesystem::path& path, uint32_t linktype, const std::vector<Bytes>& frames,
                       uint32_t t0 = 1700000000) {
  std::ofstream f(path, std::ios::binary);
  auto w32 = [&](uint32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
  auto w16 = [&](uint16_t v) { f.write(reinterpret_cast<const char*>(&v), 2); };
  w32(0xa1b2c3d4);
  w16(2);
  w16(4);
  w32(0);
  w32(0);
  w32(262144);
  w32(linktype);
  uint32_t t = t0;
  for (const auto& fr : frames) {
    w32(t++);
    w32(0);
    w32(static_cast<uint32_t>(fr.size()));
    w32(static_cast<uint32_t>(fr.size()));
    f.write(reinterpret_cast<const char*>(fr.data()), static_cast<std::streamsize>(fr.size()));
  }
}

}  // namespace craft
