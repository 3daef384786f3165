// Input: [linktype selector][option bits] then frames, each [len_hi][len_lo][bytes].
// Several frames per input let the fuzzer reach fragment reassembly, flow state and TCP
// stream reassembly, not just single-frame decoding. Every Packet's pointers are read
// in full so ASan sees any view that points outside its buffer.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "agent/decode/decoder.hpp"
#include "agent/flow/flow_table.hpp"

using namespace halong::agent::net;

namespace {
volatile uint8_t g_sink;
void touch(const uint8_t* p, size_t n) {
  uint8_t x = 0;
  for (size_t i = 0; i < n; ++i) x ^= p[i];
  g_sink = x;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const int kLinktypes[] = {linktype::ethernet, linktype::linux_sll, linktype::linux_sll2, linktype::raw,
                                   linktype::ipv4,     linktype::ipv6,      linktype::null,       linktype::loop,
                                   linktype::ppp,      linktype::linktype_raw};
  const int lt = kLinktypes[data[0] % (sizeof kLinktypes / sizeof kLinktypes[0])];
  const uint8_t bits = data[1];
  DecoderOptions o;
  o.vxlan = bits & 1;
  o.erspan_type1 = bits & 2;
  o.verify_checksums = bits & 4;
  o.defrag.max_trackers = 4;
  o.defrag.memcap = 64 * 1024;
  FlowSettings fs;
  fs.midstream = bits & 8;
  fs.async_oneside = bits & 16;
  fs.max_flows = 8;
  fs.stream.window = 64;
  fs.stream.depth = (bits & 32) ? 256 : 0;
  fs.stream.max_ooo_bytes = 4096;
  fs.stream_memcap = 16 * 1024;
  Decoder dec(o);
  FlowTable flows(fs);
  Decoded out;
  size_t pos = 2;
  uint64_t n = 0;
  while (pos + 2 <= size) {
    size_t len = static_cast<size_t>(data[pos] << 8 | data[pos + 1]);
    pos += 2;
    if (len > size - pos) len = size - pos;
    // Copy into an exactly sized heap buffer so ASan catches reads past the frame.
    std::vector<uint8_t> frame(data + pos, data + pos + len);
    pos += len;
    Frame f;
    f.data = frame.data();
    f.caplen = static_cast<uint32_t>(frame.size());
    f.wire_len = f.caplen;
    f.linktype = lt;
    f.ts_us = static_cast<int64_t>(++n) * 7'000'000;  // 7 s apart: timeouts happen too
    dec.decode(f, n, out);
    for (auto& p : out) {
      flows.process(p);
      if (p.payload) touch(p.payload, p.payload_len);
      if (p.stream) touch(p.stream, p.stream_len);
      if (p.frame) touch(p.frame, p.frame_len);
    }
  }
  flows.flush();
  return 0;
}
