#include "core/packet.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace halong::net {

IpAddr IpAddr::v4(uint32_t host_order) {
  IpAddr a;
  a.version = 4;
  a.bytes[0] = static_cast<uint8_t>(host_order >> 24);
  a.bytes[1] = static_cast<uint8_t>(host_order >> 16);
  a.bytes[2] = static_cast<uint8_t>(host_order >> 8);
  a.bytes[3] = static_cast<uint8_t>(host_order);
  return a;
}

IpAddr IpAddr::v4_bytes(const uint8_t* p) {
  IpAddr a;
  a.version = 4;
  std::memcpy(a.bytes.data(), p, 4);
  return a;
}

IpAddr IpAddr::v6_bytes(const uint8_t* p) {
  IpAddr a;
  a.version = 6;
  std::memcpy(a.bytes.data(), p, 16);
  return a;
}

Result<IpAddr> IpAddr::parse(std::string_view text) {
  std::string s(text);
  IpAddr a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.version = 4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.version = 6;
    return a;
  }
  return make_error(ErrorCode::invalid_argument, "'" + s + "' is not an IPv4 or IPv6 address");
}

std::string IpAddr::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (version == 4) inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
  else if (version == 6) inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::string proto_name(uint8_t p) {
  switch (p) {
    case ipproto::tcp: return "TCP";
    case ipproto::udp: return "UDP";
    case ipproto::icmp: return "ICMP";
    case ipproto::icmpv6: return "IPv6-ICMP";
    case ipproto::sctp: return "SCTP";
    case ipproto::gre: return "GRE";
    default: return std::to_string(p);
  }
}

}  // namespace halong::net
