// libFuzzer target: the network rule loader (parser, variables, classification,
// threshold.config, group build) and one inspection of a fixed packet with what loaded.
// Run: build with clang and -DHALONG_FUZZ=ON, then
//   ./fuzz_net_rules -max_len=4096 corpus_dir/   (seed with *.rules files)
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/detect/net/engine.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace halong::detect::net;
  std::string text(reinterpret_cast<const char*>(data), size);
  LoadOptions opts;
  // The first line, when it starts with "#T ", is a threshold.config line.
  if (text.rfind("#T ", 0) == 0) {
    auto nl = text.find('\n');
    opts.threshold_config = text.substr(3, nl == std::string::npos ? std::string::npos : nl - 3);
  }
  opts.address_vars["FUZZ_NET"] = "[10.0.0.0/8,!10.1.0.0/16]";
  LoadReport report;
  auto rs = load_rules_from_string(text, "fuzz.rules", opts, report);
  (void)report.to_text_verbose();
  if (!rs.ok()) return 0;
  Matcher m(*rs);
  static const char payload[] = "GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n\x01\x02\x03\x04\xff\x00 abc 123";
  halong::net::Packet p;
  p.ip_version = 4;
  p.src = halong::net::IpAddr::v4(0x0a000001);
  p.dst = halong::net::IpAddr::v4(0xc0a80001);
  p.ip_proto = halong::net::ipproto::tcp;
  p.src_port = 40000;
  p.dst_port = 80;
  p.payload = reinterpret_cast<const uint8_t*>(payload);
  p.payload_len = sizeof payload - 1;
  halong::net::FlowInfo flow;
  flow.established = true;
  p.flow = &flow;
  p.stream = p.payload;
  p.stream_len = p.payload_len;
  p.stream_new_len = p.payload_len;
  std::vector<Match> out;
  m.inspect(p, out);
  p.ip_proto = halong::net::ipproto::udp;
  m.inspect(p, out);
  p.ip_proto = halong::net::ipproto::icmp;
  p.icmp_type = 8;
  p.icmp_code = 0;
  m.inspect(p, out);
  for (auto& x : out) (void)to_alert_info(*x.rule);
  return 0;
}
