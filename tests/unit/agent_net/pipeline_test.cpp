#include <catch2/catch.hpp>

#include <yaml-cpp/yaml.h>

#include <map>
#include <set>

#include "agent/capture/pcap_source.hpp"
#include "agent/flow/net_pipeline.hpp"
#include "corpus.hpp"
#include "craft.hpp"

using namespace halong::agent::net;

namespace {

// The innermost transport protocol tshark names in a protocol stack ("none" if none).
std::string innermost_l4(const std::string& stack) {
  std::string last = "none";
  size_t start = 0;
  while (start <= stack.size()) {
    size_t colon = stack.find(':', start);
    std::string item = stack.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (item == "tcp" || item == "udp" || item == "icmp" || item == "icmpv6") last = item;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return last;
}

std::string l4_name(const halong::net::Packet& p) {
  if (p.ip_version == 0 || p.ip_fragment) return "none";
  switch (p.ip_proto) {
    case 6: return "tcp";
    case 17: return "udp";
    case 1: return "icmp";
    case 58: return "icmpv6";
    default: return "none";
  }
}

NetSettings settings_for(const corpus::Case& c) {
  NetSettings s;
  for (const auto& a : c.args) {
    // args look like "--set stream.midstream=true" (possibly several in one string).
    size_t pos = 0;
    while ((pos = a.find("--set ", pos)) != std::string::npos) {
      pos += 6;
      size_t end = a.find(' ', pos);
      std::string kv = a.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      auto st = apply_net_setting(s, kv);
      (void)st;  // keys we do not model (e.g. midstream-policy) are ignored here
    }
  }
  return s;
}

std::string base64_decode(const std::string& in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int bits = 0, acc = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("net settings accept suricata --set keys and reject bad ones by name", "[agent][pipeline]") {
  NetSettings s;
  REQUIRE(apply_net_setting(s, "stream.midstream=true"));
  CHECK(s.flow.midstream);
  REQUIRE(apply_net_setting(s, "stream.reassembly.depth", "2mb"));
  CHECK(s.flow.stream.depth == 2u << 20);
  REQUIRE(apply_net_setting(s, "decoder.vxlan.enabled=false"));
  CHECK_FALSE(s.decoder.vxlan);
  REQUIRE(apply_net_setting(s, "decoder.vxlan.ports=[4789, 8472]"));
  CHECK(s.decoder.vxlan_ports == std::vector<uint16_t>{4789, 8472});
  REQUIRE(apply_net_setting(s, "flow-timeouts.tcp.established=120"));
  CHECK(s.flow.tcp.established_us == 120'000'000);
  REQUIRE(apply_net_setting(s, "flow.memcap=1mb"));
  CHECK(s.flow.max_flows == (1u << 20) / FlowTable::bytes_per_flow());
  CHECK(s.flow.max_flows > 100);
  CHECK_FALSE(apply_net_setting(s, "flow.memcap=1"));
  REQUIRE(apply_net_setting(s, "defrag.memcap=1mb"));
  CHECK(s.decoder.defrag.memcap == 1u << 20);

  auto unknown = apply_net_setting(s, "stream.bogus=1");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == halong::ErrorCode::unsupported);
  CHECK(unknown.error().message.find("stream.bogus") != std::string::npos);
  auto badval = apply_net_setting(s, "stream.midstream=maybe");
  REQUIRE_FALSE(badval);
  CHECK(badval.error().code == halong::ErrorCode::invalid_argument);
  CHECK(badval.error().message.find("stream.midstream") != std::string::npos);
  CHECK_FALSE(apply_net_setting(s, "stream.reassembly.depth=12parsecs"));
  CHECK_FALSE(apply_net_setting(s, "decoder.vxlan.ports=[99999]"));
  CHECK_FALSE(apply_net_setting(s, "no-equals-sign"));
}

TEST_CASE("replay decodes every corpus pcap to the protocols tshark sees", "[agent][pipeline][corpus]") {
  REQUIRE_CORPUS_OR_SKIP();
  size_t compared = 0;
  for (const auto& c : corpus::cases()) {
    INFO(c.name << " (" << c.encapsulation << ")");
    std::map<std::string, uint64_t> mine;
    uint64_t last_cnt = 0;
    std::string innermost;
    auto flush = [&] {
      if (last_cnt != 0) ++mine[innermost];
    };
    auto r = replay_pcap(c.pcap.string(), settings_for(c), [&](halong::net::Packet& p) {
      if (p.pcap_cnt != last_cnt) {
        flush();
        last_cnt = p.pcap_cnt;
      }
      innermost = l4_name(p);  // the last Packet of a frame is its innermost
    });
    flush();
    REQUIRE(r);
    CHECK(r->frames == c.packets);
    // mac-eve-packet's two SYNs claim a 24-byte TCP header (data offset 6) in a 20-byte
    // segment (checked by hand in the bytes): the only lying headers in this corpus.
    CHECK(r->decode.errors() == (c.name == "mac-eve-packet" ? 2u : 0u));
    std::map<std::string, uint64_t> want;
    uint64_t listed = 0;
    bool tunnel = false;
    for (const auto& [stack, n] : c.stacks) {
      want[innermost_l4(stack)] += n;
      listed += n;
      // tshark's stacks stop at the inner Ethernet of VXLAN/ERSPAN: not comparable.
      if (stack.find("vxlan") != std::string::npos || stack.find("erspan") != std::string::npos) tunnel = true;
    }
    if (listed == c.packets && !tunnel) {  // tshark listed every frame's stack: compare exactly
      ++compared;
      CHECK(mine == want);
    }
  }
  CHECK(compared >= 30);
}

TEST_CASE("replay of the erspan case yields inner icmp with the erspan vlan", "[agent][pipeline][corpus]") {
  REQUIRE_CORPUS_OR_SKIP();
  auto all = corpus::cases();
  const auto* c = corpus::find(all, "decode-erspan-typeII-01");
  REQUIRE(c != nullptr);
  int inner = 0, roots = 0;
  std::set<uint64_t> icmp_flows;
  struct Ended {
    uint8_t proto;
    uint64_t pkts_toserver, pkts_toclient, bytes_toserver, bytes_toclient;
    std::string client;
  };
  std::vector<Ended> ended;
  NetPipeline pipe;
  pipe.flows().set_on_flow_end([&](const FlowRecord& r) {
    ended.push_back({r.ip_proto, r.info.pkts_toserver, r.info.pkts_toclient, r.info.bytes_toserver,
                     r.info.bytes_toclient, r.client.to_string()});
  });
  auto src = PcapFileSource::open(c->pcap.string());
  REQUIRE(src);
  auto r = pipe.run(**src, [&](halong::net::Packet& p) {
    if (p.tunnel_root) ++roots;
    if (p.tunneled && p.ip_proto == 1) {
      ++inner;
      CHECK(p.vlan_count >= 1);
      CHECK(p.vlan[0] == 23);
      REQUIRE(p.flow != nullptr);
      icmp_flows.insert(p.flow->flow_id);
      CHECK(p.flow->to_server == (p.icmp_type == 8));
    }
  });
  REQUIRE(r);
  pipe.finish();
  CHECK(roots == 6);   // all 6 frames are ERSPAN; 4 carry ICMP, 2 carry CDP (non-IP)
  CHECK(inner == 4);
  CHECK(icmp_flows.size() == 1);
  // Suricata's flow record for this case (test.yaml): 2 packets and 244 bytes each way.
  REQUIRE(ended.size() >= 1);
  bool found = false;
  for (const auto& f : ended) {
    if (f.proto != 1) continue;
    found = true;
    CHECK(f.pkts_toserver == 2);
    CHECK(f.pkts_toclient == 2);
    CHECK(f.bytes_toserver == 244);
    CHECK(f.bytes_toclient == 244);
    CHECK(f.client == "23.0.0.2");
  }
  CHECK(found);
}

TEST_CASE("replay of the vxlan case tracks the inner icmp flow in both directions", "[agent][pipeline][corpus]") {
  REQUIRE_CORPUS_OR_SKIP();
  auto all = corpus::cases();
  const auto* c = corpus::find(all, "vxlan-decoder-02");
  REQUIRE(c != nullptr);
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> icmp;  // flow -> (toserver, toclient)
  FlowTable* table = nullptr;
  (void)table;
  std::set<uint64_t> outer_flows;
  auto r = replay_pcap(c->pcap.string(), settings_for(*c), [&](halong::net::Packet& p) {
    if (p.tunneled && p.ip_proto == 1 && p.flow) icmp[p.flow->flow_id] = {p.flow->pkts_toserver, p.flow->pkts_toclient};
    if (p.tunnel_root) {
      REQUIRE(p.flow != nullptr);
      CHECK(p.dst_port == 4789);
      outer_flows.insert(p.flow->flow_id);
    }
  });
  REQUIRE(r);
  CHECK(outer_flows.size() == 4);  // Suricata: 4 flow records with dest_port 4789
  REQUIRE(icmp.size() == 1);
  CHECK(icmp.begin()->second.first == 4);   // Suricata's flow record: pkts_toserver 4
  CHECK(icmp.begin()->second.second == 4);  // pkts_toclient 4
  CHECK(r->decode[DecodeCounter::vxlan] == 10);
}

TEST_CASE("replay reassembles the ipv6 fragments of the defrag cases, also over ppp", "[agent][pipeline][corpus]") {
  REQUIRE_CORPUS_OR_SKIP();
  auto all = corpus::cases();
  for (const char* name : {"defrag/bug-6887-defrag-ipv6-tcp", "defrag/bug-6887-defrag-ppp-ipv6-tcp"}) {
    INFO(name);
    const auto* c = corpus::find(all, name);
    REQUIRE(c != nullptr);
    int fragments = 0, reassembled = 0;
    std::string datagram;
    auto r = replay_pcap(c->pcap.string(), {}, [&](halong::net::Packet& p) {
      if (p.ip_fragment) ++fragments;
      if (p.reassembled) {
        ++reassembled;
        datagram.assign(reinterpret_cast<const char*>(p.frame), p.frame_len);
        CHECK(p.linktype == (std::string(name).find("ppp") != std::string::npos ? 9 : 229));  // as Suricata's
        CHECK(p.payload_len == 1000);  // the rule is dsize:1000 with 1 alert expected
        CHECK(p.ip_version == 6);
        CHECK(p.ip_proto == 6);
        CHECK(p.l4_decoded);
      }
    });
    REQUIRE(r);
    CHECK(fragments == 3);
    CHECK(reassembled == 1);
    // Suricata's alert carries the reassembled packet (EVE `packet`, base64): ours must
    // be byte-identical.
    YAML::Node y = YAML::LoadFile((corpus::sv_dir() / name / "test.yaml").string());
    std::string want = base64_decode(y["checks"][0]["filter"]["match"]["packet"].as<std::string>());
    REQUIRE(want.size() > 40);
    CHECK(datagram == want);
  }
}

TEST_CASE("replay of an http session gives the request in the client stream", "[agent][pipeline][corpus]") {
  REQUIRE_CORPUS_OR_SKIP();
  auto all = corpus::cases();
  const auto* c = corpus::find(all, "alert-testmyids");
  REQUIRE(c != nullptr);
  std::string client, server;
  bool established_data = true;
  auto r = replay_pcap(c->pcap.string(), {}, [&](halong::net::Packet& p) {
    if (p.payload_len > 0 && p.flow && !p.flow->established) established_data = false;
    if (p.stream == nullptr) return;
    std::string fresh(reinterpret_cast<const char*>(p.stream + p.stream_len - p.stream_new_len), p.stream_new_len);
    (p.flow->to_server ? client : server) += fresh;
  });
  REQUIRE(r);
  CHECK(established_data);
  CHECK(client.rfind("GET ", 0) == 0);
  CHECK(server.rfind("HTTP/1.", 0) == 0);
  CHECK(server.find("uid=0(root)") != std::string::npos);  // testmyids response body
  CHECK(r->flow.tcp_sessions == 1);
}

TEST_CASE("replay reports a missing pcap by name", "[agent][pipeline][badinput]") {
  auto r = replay_pcap("/nonexistent/x.pcap", {}, [](halong::net::Packet&) {});
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("/nonexistent/x.pcap") != std::string::npos);
}
