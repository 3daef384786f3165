#include <catch2/catch.hpp>

#include "agent/decode/decoder.hpp"
#include "agent/flow/flow_table.hpp"
#include "craft.hpp"

using namespace halong::agent::net;
using craft::Bytes;
namespace tf = halong::net::tcpflag;

namespace {

// Decodes crafted frames and runs them through a FlowTable, one at a time.
struct Net {
  Decoder dec;
  FlowTable flows;
  Decoded out;
  Bytes keep;
  explicit Net(FlowSettings s = {}) : flows(std::move(s)) {}
  halong::net::Packet& run(const Bytes& in, int64_t ts_us) {
    keep = Bytes(in.begin(), in.end());  // exact size (ASan sees over-reads); views point into it
    const Bytes& frame = keep;
    Frame f;
    f.data = frame.data();
    f.caplen = static_cast<uint32_t>(frame.size());
    f.wire_len = f.caplen;
    f.ts_us = ts_us;
    dec.decode(f, 1, out);
    REQUIRE(out.count >= 1);
    flows.process(out.packets[0]);
    return out.packets[0];
  }
};

Bytes c2s(uint32_t seq, uint32_t ack, uint8_t flags, const std::string& data = "", uint16_t cport = 40000) {
  return craft::eth(0x0800, craft::ipv4(craft::v4(6, "10.0.0.1", "10.0.0.2"),
                                        craft::tcp(cport, 80, seq, ack, flags, craft::str(data))));
}
Bytes s2c(uint32_t seq, uint32_t ack, uint8_t flags, const std::string& data = "", uint16_t cport = 40000) {
  return craft::eth(0x0800, craft::ipv4(craft::v4(6, "10.0.0.2", "10.0.0.1"),
                                        craft::tcp(80, cport, seq, ack, flags, craft::str(data))));
}
Bytes udp_pkt(const char* src, const char* dst, uint16_t sp, uint16_t dp) {
  return craft::eth(0x0800, craft::ipv4(craft::v4(17, src, dst), craft::udp(sp, dp, craft::str("u"))));
}

}  // namespace

TEST_CASE("flow table marks a tcp flow established after the three-way handshake", "[agent][flow]") {
  Net n;
  auto& syn = n.run(c2s(100, 0, tf::syn), 1'000'000);
  REQUIRE(syn.flow != nullptr);
  CHECK(syn.flow->to_server);
  CHECK_FALSE(syn.flow->established);
  uint64_t id = syn.flow->flow_id;
  auto& synack = n.run(s2c(500, 101, tf::syn | tf::ack), 1'000'100);
  CHECK_FALSE(synack.flow->to_server);
  CHECK_FALSE(synack.flow->established);
  CHECK(synack.flow->flow_id == id);
  auto& ack = n.run(c2s(101, 501, tf::ack), 1'000'200);
  CHECK(ack.flow->established);
  CHECK(ack.flow->to_server);
  auto& data = n.run(s2c(501, 101, tf::ack | tf::psh, "hello"), 1'000'300);
  CHECK(data.flow->established);
  CHECK(data.flow->pkts_toserver == 2);
  CHECK(data.flow->pkts_toclient == 2);
  CHECK(n.flows.counters().created == 1);
}

TEST_CASE("flow table treats the receiver of a first-seen syn-ack as the client", "[agent][flow]") {
  FlowSettings s;
  s.midstream = true;
  Net n(s);
  auto& synack = n.run(s2c(500, 101, tf::syn | tf::ack), 1'000'000);
  CHECK_FALSE(synack.flow->to_server);
  auto& ack = n.run(c2s(101, 501, tf::ack), 1'000'100);
  CHECK(ack.flow->to_server);
  CHECK(ack.flow->established);
  CHECK(n.flows.counters().tcp_midstream == 1);
}

TEST_CASE("flow table picks up a tcp session midstream only when configured", "[agent][flow]") {
  SECTION("midstream off: never established, no stream") {
    Net n;
    auto& p = n.run(c2s(1000, 2000, tf::ack | tf::psh, "GET / HTTP/1.0\r\n"), 1'000'000);
    REQUIRE(p.flow != nullptr);
    CHECK_FALSE(p.flow->established);
    CHECK(p.stream == nullptr);
    CHECK(n.flows.counters().tcp_no_session == 1);
  }
  SECTION("midstream on: established with stream") {
    FlowSettings s;
    s.midstream = true;
    Net n(s);
    auto& p = n.run(c2s(1000, 2000, tf::ack | tf::psh, "GET / HTTP/1.0\r\n"), 1'000'000);
    CHECK(p.flow->established);
    CHECK(p.flow->to_server);
    REQUIRE(p.stream != nullptr);
    CHECK(std::string(reinterpret_cast<const char*>(p.stream), p.stream_len) == "GET / HTTP/1.0\r\n");
  }
}

TEST_CASE("flow table marks a udp flow established once both directions are seen", "[agent][flow]") {
  Net n;
  auto& q = n.run(udp_pkt("10.1.1.1", "10.1.1.2", 5353, 53), 1'000'000);
  CHECK(q.flow->to_server);
  CHECK_FALSE(q.flow->established);
  auto& r = n.run(udp_pkt("10.1.1.2", "10.1.1.1", 53, 5353), 1'000'500);
  CHECK_FALSE(r.flow->to_server);
  CHECK(r.flow->established);
  CHECK(n.flows.size() == 1);
}

TEST_CASE("flow table separates flows by vlan", "[agent][flow]") {
  Net n;
  Bytes ip = craft::ipv4(craft::v4(17, "10.0.0.1", "10.0.0.2"), craft::udp(1, 2, {}));
  n.run(craft::eth(0x0800, ip, {10}), 1);
  n.run(craft::eth(0x0800, ip, {11}), 2);
  CHECK(n.flows.size() == 2);
}

TEST_CASE("flow table expires idle flows by packet timestamps", "[agent][flow]") {
  FlowSettings s;
  s.udp = {30'000'000, 300'000'000, 0};
  Net n(s);
  n.run(udp_pkt("10.1.1.1", "10.1.1.2", 1000, 53), 0);  // new flow, 30 s timeout
  n.run(udp_pkt("10.2.2.1", "10.2.2.2", 1000, 53), 20'000'000);
  CHECK(n.flows.size() == 2);
  n.run(udp_pkt("10.3.3.1", "10.3.3.2", 1000, 53), 31'000'000);  // first flow idle 31 s
  CHECK(n.flows.size() == 2);
  CHECK(n.flows.counters().timed_out == 1);
  // A packet for the expired tuple starts a new flow with a new id.
  auto& again = n.run(udp_pkt("10.1.1.1", "10.1.1.2", 1000, 53), 32'000'000);
  CHECK(again.flow->pkts_toserver == 1);
  CHECK(n.flows.counters().created == 4);
  CHECK(n.flows.expire(1'000'000'000) == 3);
  CHECK(n.flows.size() == 0);
}

TEST_CASE("flow table evicts the least recently active flow at max_flows and counts it", "[agent][flow]") {
  FlowSettings s;
  s.max_flows = 100;
  Net n(s);
  std::vector<halong::agent::net::FlowEndReason> ends;
  n.flows.set_on_flow_end([&](const FlowRecord& r) { ends.push_back(r.reason); });
  for (int i = 0; i < 1000; ++i) {
    n.run(udp_pkt("10.0.0.1", "10.0.0.2", static_cast<uint16_t>(1000 + i), 53), i);
    CHECK(n.flows.size() <= 100);
  }
  CHECK(n.flows.counters().evicted == 900);
  CHECK(ends.size() == 900);
  n.flows.flush();
  CHECK(ends.size() == 1000);
  CHECK(ends.back() == FlowEndReason::shutdown);
  CHECK(n.flows.counters().active == 0);
}

TEST_CASE("flow table does not track non-ip packets or fragments", "[agent][flow]") {
  Net n;
  auto& arp = n.run(craft::eth(0x0806, Bytes(28, 0)), 1);
  CHECK(arp.flow == nullptr);
  craft::V4 v;
  v.proto = 17;
  v.more_fragments = true;
  auto& frag = n.run(craft::eth(0x0800, craft::ipv4(v, Bytes(16, 1))), 2);
  CHECK(frag.flow == nullptr);
  CHECK(n.flows.counters().not_tracked == 2);
}

TEST_CASE("flow table keeps engine flowbits for the life of the flow", "[agent][flow]") {
  Net n;
  auto& a = n.run(udp_pkt("10.1.1.1", "10.1.1.2", 5, 6), 1);
  a.flow->flowbits.push_back(42);
  auto& b = n.run(udp_pkt("10.1.1.2", "10.1.1.1", 6, 5), 2);
  REQUIRE(b.flow->flowbits.size() == 1);
  CHECK(b.flow->flowbits[0] == 42);
}

TEST_CASE("flow table keeps the first packet's direction for a syn-ack without midstream", "[agent][flow]") {
  Net n;
  auto& synack = n.run(s2c(500, 101, tf::syn | tf::ack), 1'000'000);
  CHECK(synack.flow->to_server);  // no session is picked up, so no swap
  CHECK_FALSE(synack.flow->established);
  CHECK(n.flows.counters().tcp_no_session == 1);
}
