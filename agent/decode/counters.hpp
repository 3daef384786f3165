// Per-reason decode counters (Snort-style peg counts): no logging on the packet path.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace halong::agent::net {

// X(name, is_error)
#define HALONG_DECODE_COUNTERS(X)                                                        \
  X(frames, false)                 /* frames given to decode() */                       \
  X(packets, false)                /* Packets delivered (incl. tunnel and reassembled) */ \
  X(ethernet, false)                                                                     \
  X(vlan, false)                                                                         \
  X(sll, false)                                                                          \
  X(sll2, false)                                                                         \
  X(null_loopback, false)                                                                \
  X(raw_ip, false)                                                                       \
  X(ppp, false)                                                                          \
  X(pppoe, false)                                                                        \
  X(mpls, false)                                                                         \
  X(non_ip, false)                 /* ARP, LLDP...: delivered with ip_version 0 */       \
  X(ipv4, false)                                                                         \
  X(ipv6, false)                                                                         \
  X(tcp, false)                                                                          \
  X(udp, false)                                                                          \
  X(icmpv4, false)                                                                       \
  X(icmpv6, false)                                                                       \
  X(sctp, false)                                                                         \
  X(gre, false)                                                                          \
  X(vxlan, false)                                                                        \
  X(erspan, false)                                                                       \
  X(ipip, false)                                                                         \
  X(other_l4, false)                                                                     \
  X(ipv4_fragments, false)                                                               \
  X(ipv6_fragments, false)                                                               \
  X(reassembled, false)            /* datagrams completed by defragmentation */          \
  X(frag_timeouts, false)          /* incomplete datagrams dropped after the timeout */   \
  X(frag_evicted, false)           /* incomplete datagrams dropped by the memory bound */ \
  X(frag_overlaps, false)          /* fragments overlapping earlier data (first wins) */  \
  X(ipv4_bad_checksum, false)      /* only counted when checksums are verified */        \
  X(l4_bad_checksum, false)                                                              \
  X(ethernet_truncated, true)                                                            \
  X(vlan_truncated, true)                                                                \
  X(vlan_too_many, true)                                                                 \
  X(sll_truncated, true)                                                                 \
  X(null_truncated, true)                                                                \
  X(ppp_truncated, true)                                                                 \
  X(pppoe_truncated, true)                                                               \
  X(mpls_truncated, true)                                                                \
  X(unknown_linktype, true)                                                              \
  X(ipv4_truncated, true)          /* fewer than 20 bytes */                             \
  X(ipv4_bad_version, true)                                                              \
  X(ipv4_bad_header_length, true)  /* IHL < 5 or beyond the data */                      \
  X(ipv4_bad_total_length, true)   /* total length lies: < IHL or beyond the data */     \
  X(ipv6_truncated, true)                                                                \
  X(ipv6_bad_version, true)                                                              \
  X(ipv6_bad_payload_length, true) /* payload length beyond the data */                  \
  X(ipv6_exthdr_truncated, true)                                                         \
  X(ipv6_too_many_exthdrs, true)                                                         \
  X(tcp_truncated, true)                                                                 \
  X(tcp_bad_header_length, true)                                                         \
  X(udp_truncated, true)                                                                 \
  X(udp_bad_length, true)          /* UDP length < 8 or beyond the IP payload */         \
  X(icmp_truncated, true)                                                                \
  X(sctp_truncated, true)                                                                \
  X(gre_truncated, true)                                                                 \
  X(gre_bad_version, true)                                                               \
  X(erspan_truncated, true)                                                              \
  X(vxlan_truncated, true)                                                               \
  X(tunnel_too_deep, true)                                                               \
  X(frag_bad, true)                /* fragment beyond 65535 bytes or inconsistent end */ \
  X(too_many_packets, true)        /* a frame expanded into more Packets than kept */

enum class DecodeCounter : uint8_t {
#define HALONG_X(name, err) name,
  HALONG_DECODE_COUNTERS(HALONG_X)
#undef HALONG_X
      count_
};

constexpr size_t kDecodeCounterCount = static_cast<size_t>(DecodeCounter::count_);

constexpr std::string_view counter_name(DecodeCounter c) {
  constexpr std::string_view names[] = {
#define HALONG_X(name, err) #name,
      HALONG_DECODE_COUNTERS(HALONG_X)
#undef HALONG_X
  };
  return names[static_cast<size_t>(c)];
}

constexpr bool counter_is_error(DecodeCounter c) {
  constexpr bool errs[] = {
#define HALONG_X(name, err) err,
      HALONG_DECODE_COUNTERS(HALONG_X)
#undef HALONG_X
  };
  return errs[static_cast<size_t>(c)];
}

struct DecodeCounters {
  std::array<uint64_t, kDecodeCounterCount> v{};
  uint64_t operator[](DecodeCounter c) const { return v[static_cast<size_t>(c)]; }
  void inc(DecodeCounter c, uint64_t n = 1) { v[static_cast<size_t>(c)] += n; }
  // Sum of all error counters (frames or layers that could not be decoded).
  uint64_t errors() const {
    uint64_t n = 0;
    for (size_t i = 0; i < kDecodeCounterCount; ++i)
      if (counter_is_error(static_cast<DecodeCounter>(i))) n += v[i];
    return n;
  }
  // Calls fn(name, value) for every counter, in declaration order.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (size_t i = 0; i < kDecodeCounterCount; ++i) fn(counter_name(static_cast<DecodeCounter>(i)), v[i]);
  }
};

}  // namespace halong::agent::net
