#include <catch2/catch.hpp>

#include "agent/decode/decoder.hpp"
#include "agent/flow/flow_table.hpp"
#include "craft.hpp"

using namespace halong::agent::net;
using craft::Bytes;
namespace tf = halong::net::tcpflag;

namespace {

struct Net {
  Decoder dec;
  FlowTable flows;
  Decoded out;
  Bytes keep;
  explicit Net(FlowSettings s = {}) : flows(std::move(s)) {}
  halong::net::Packet& run(const Bytes& in, int64_t ts_us = 1'000'000) {
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

constexpr uint32_t kCisn = 0xfffffff0u;  // client ISN close to wrap-around on purpose
constexpr uint32_t kSisn = 7000;

Bytes c2s(uint32_t rel_seq, uint8_t flags, const std::string& data = "", uint32_t rel_ack = 1) {
  return craft::eth(0x0800, craft::ipv4(craft::v4(6, "10.0.0.1", "10.0.0.2"),
                                        craft::tcp(40000, 80, kCisn + rel_seq, kSisn + rel_ack, flags,
                                                   craft::str(data))));
}
Bytes s2c(uint32_t rel_seq, uint8_t flags, const std::string& data = "", uint32_t rel_ack = 1) {
  return craft::eth(0x0800, craft::ipv4(craft::v4(6, "10.0.0.2", "10.0.0.1"),
                                        craft::tcp(80, 40000, kSisn + rel_seq, kCisn + rel_ack, flags,
                                                   craft::str(data))));
}

void handshake(Net& n) {
  n.run(c2s(0, tf::syn, "", 0));
  n.run(s2c(0, tf::syn | tf::ack));
  n.run(c2s(1, tf::ack));
}

std::string stream_of(const halong::net::Packet& p) {
  if (p.stream == nullptr) return "<none>";
  return std::string(reinterpret_cast<const char*>(p.stream), p.stream_len);
}
std::string new_of(const halong::net::Packet& p) {
  if (p.stream == nullptr) return "<none>";
  return std::string(reinterpret_cast<const char*>(p.stream + p.stream_len - p.stream_new_len), p.stream_new_len);
}

}  // namespace

TEST_CASE("stream joins content split across segments, across sequence wrap-around", "[agent][flow][stream]") {
  Net n;
  handshake(n);
  auto& a = n.run(c2s(1, tf::ack | tf::psh, "GET /ind"));
  CHECK(stream_of(a) == "GET /ind");
  CHECK(a.stream_new_len == 8);
  CHECK(a.stream_offset == 0);
  auto& b = n.run(c2s(9, tf::ack | tf::psh, "ex.html HTTP/1.1\r\n"));  // crosses seq 2^32
  CHECK(stream_of(b) == "GET /index.html HTTP/1.1\r\n");
  CHECK(new_of(b) == "ex.html HTTP/1.1\r\n");
  // The other direction has its own stream.
  auto& r = n.run(s2c(1, tf::ack | tf::psh, "HTTP/1.1 200 OK\r\n", 27));
  CHECK(stream_of(r) == "HTTP/1.1 200 OK\r\n");
  CHECK_FALSE(r.flow->to_server);
}

TEST_CASE("stream holds out-of-order segments until the gap fills", "[agent][flow][stream]") {
  Net n;
  handshake(n);
  auto& later = n.run(c2s(6, tf::ack | tf::psh, "world"));
  CHECK(later.stream == nullptr);  // nothing contiguous yet
  auto& first = n.run(c2s(1, tf::ack | tf::psh, "hello"));
  CHECK(stream_of(first) == "helloworld");
  CHECK(first.stream_new_len == 10);
  CHECK(n.flows.counters().stream.ooo_segments == 1);
}

TEST_CASE("stream keeps the first copy of overlapping data", "[agent][flow][stream]") {
  Net n;
  handshake(n);
  n.run(c2s(1, tf::ack | tf::psh, "attack"));
  // A retransmission with different bytes changes nothing and adds nothing new.
  auto& re = n.run(c2s(1, tf::ack | tf::psh, "benign"));
  CHECK(re.stream == nullptr);
  // Partial overlap: only the bytes after the known ones are taken.
  auto& part = n.run(c2s(4, tf::ack | tf::psh, "XXX-and-more"));
  CHECK(stream_of(part) == "attack-and-more");
  CHECK(new_of(part) == "-and-more");
  // Overlaps between held out-of-order segments: the first held copy wins too.
  n.run(c2s(20, tf::ack | tf::psh, "AAAA"));
  n.run(c2s(18, tf::ack | tf::psh, "bbbbbb"));  // covers 18..24, overlapping 20..24
  auto& fill = n.run(c2s(16, tf::ack | tf::psh, "cc"));
  CHECK(stream_of(fill) == "attack-and-moreccbbAAAA");
  CHECK(n.flows.counters().stream.overlaps >= 3);
}

TEST_CASE("stream window is bounded and ends with the newest data", "[agent][flow][stream]") {
  FlowSettings s;
  s.stream.window = 16;
  Net n(s);
  handshake(n);
  uint32_t seq = 1;
  std::string all;
  for (int i = 0; i < 50; ++i) {
    std::string chunk = "<" + std::to_string(i) + ">";
    auto& p = n.run(c2s(seq, tf::ack | tf::psh, chunk));
    all += chunk;
    seq += static_cast<uint32_t>(chunk.size());
    REQUIRE(p.stream != nullptr);
    CHECK(p.stream_len <= 16 + chunk.size());
    CHECK(new_of(p) == chunk);
    CHECK(all.substr(all.size() - p.stream_len) == stream_of(p));
    CHECK(p.stream_offset == all.size() - p.stream_len);
  }
}

TEST_CASE("stream stops at the reassembly depth", "[agent][flow][stream]") {
  FlowSettings s;
  s.stream.depth = 10;
  Net n(s);
  handshake(n);
  auto& a = n.run(c2s(1, tf::ack | tf::psh, "0123456"));
  CHECK(stream_of(a) == "0123456");
  auto& b = n.run(c2s(8, tf::ack | tf::psh, "789abc"));
  CHECK(new_of(b) == "789");
  auto& c = n.run(c2s(14, tf::ack | tf::psh, "def"));
  CHECK(c.stream == nullptr);
  CHECK(c.payload_len == 3);  // the packet payload itself is still there for inspection
  CHECK(n.flows.counters().stream.depth_reached == 1);
}

TEST_CASE("stream skips a hole the receiver acknowledged and never spans it", "[agent][flow][stream]") {
  Net n;
  handshake(n);
  n.run(c2s(1, tf::ack | tf::psh, "abc"));
  n.run(c2s(10, tf::ack | tf::psh, "after-gap"));  // bytes 4..9 lost before capture
  n.run(s2c(1, tf::ack, "", 19));                   // server ACKs everything: a gap
  CHECK(n.flows.counters().stream.gaps == 1);
  auto& next = n.run(c2s(19, tf::ack | tf::psh, "!"));
  CHECK(stream_of(next) == "after-gap!");
  CHECK(new_of(next) == "after-gap!");
}

TEST_CASE("stream takes tcp fast open data on the syn", "[agent][flow][stream]") {
  Net n;
  auto& syn = n.run(c2s(0, tf::syn, "GET /tfo", 0));
  CHECK(stream_of(syn) == "GET /tfo");
  n.run(s2c(0, tf::syn | tf::ack, "", 9));
  auto& more = n.run(c2s(9, tf::ack | tf::psh, " HTTP/1.1"));
  CHECK(stream_of(more) == "GET /tfo HTTP/1.1");
}

TEST_CASE("stream memory stays under the memcap with many flows", "[agent][flow][stream]") {
  FlowSettings s;
  s.stream_memcap = 256 * 1024;
  s.stream.window = 4096;
  Net n(s);
  std::string blob(1000, 'x');
  for (uint16_t port = 1; port <= 200; ++port) {
    auto syn = craft::eth(0x0800, craft::ipv4({}, craft::tcp(port, 80, 0, 0, tf::syn, {})));
    n.run(syn);
    for (uint32_t k = 0; k < 10; ++k)
      n.run(craft::eth(0x0800, craft::ipv4({}, craft::tcp(port, 80, 1 + k * 1000, 0, tf::ack, craft::str(blob)))));
  }
  // Each direction keeps at least its newest segment, so the bound is memcap + one
  // segment per flow of slack at most.
  CHECK(n.flows.counters().stream_memory <= 256 * 1024 + 200 * 2048);
  CHECK(n.flows.counters().stream.window_trimmed > 0);
}

TEST_CASE("stream leaves data carried on a rst out of the stream", "[agent][flow][stream]") {
  Net n;
  handshake(n);
  n.run(c2s(1, tf::ack | tf::psh, "Let me in"));
  auto& rst = n.run(c2s(10, tf::rst | tf::ack, "Access Denied"));
  CHECK(rst.stream == nullptr);
  CHECK(rst.payload_len == 13);
}

TEST_CASE("async-oneside completes a handshake seen only from the server side", "[agent][flow]") {
  FlowSettings s;
  s.midstream = true;
  s.async_oneside = true;
  Net n(s);
  auto& synack = n.run(s2c(0, tf::syn | tf::ack));
  CHECK_FALSE(synack.flow->established);
  auto& ack = n.run(s2c(1, tf::ack));
  CHECK(ack.flow->established);
  auto& data = n.run(s2c(1, tf::ack | tf::psh, "* OK IMAP ready"));
  CHECK(stream_of(data) == "* OK IMAP ready");
  CHECK_FALSE(data.flow->to_server);
}
