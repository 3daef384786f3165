// Test helper: hand-built decoded packets for the network engine.
#pragma once

#include <string>

#include "core/packet.hpp"

namespace halong::test {

struct TestPacket {
  std::string data;
  halong::net::Packet p;
  halong::net::FlowInfo* flow = nullptr;

  static TestPacket tcp(const std::string& src, uint16_t sp, const std::string& dst, uint16_t dp, std::string payload,
                        halong::net::FlowInfo* flow = nullptr) {
    TestPacket t;
    t.data = std::move(payload);
    t.p.ip_version = src.find(':') == std::string::npos ? 4 : 6;
    t.p.src = halong::net::IpAddr::parse(src).value();
    t.p.dst = halong::net::IpAddr::parse(dst).value();
    t.p.ip_proto = halong::net::ipproto::tcp;
    t.p.ttl = 64;
    t.p.src_port = sp;
    t.p.dst_port = dp;
    t.p.flow = flow;
    return t;
  }
  static TestPacket udp(const std::string& src, uint16_t sp, const std::string& dst, uint16_t dp, std::string payload) {
    TestPacket t = tcp(src, sp, dst, dp, std::move(payload));
    t.p.ip_proto = halong::net::ipproto::udp;
    return t;
  }
  static TestPacket icmp(const std::string& src, const std::string& dst, int type, int code) {
    TestPacket t = tcp(src, 0, dst, 0, "");
    t.p.ip_proto = halong::net::ipproto::icmp;
    t.p.icmp_type = type;
    t.p.icmp_code = code;
    return t;
  }
  // The packet with payload pointers fixed up (call after any copy/move).
  const halong::net::Packet& pkt() {
    p.payload = reinterpret_cast<const uint8_t*>(data.data());
    p.payload_len = data.size();
    return p;
  }
};

}  // namespace halong::test
