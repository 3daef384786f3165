// NetPipeline: frame -> Decoder -> FlowTable -> callback per Packet. The few lines the
// conformance runner, `halong-agent replay` and the live agent need.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "agent/capture/packet_source.hpp"
#include "agent/decode/decoder.hpp"
#include "agent/flow/flow_table.hpp"

namespace halong::agent::net {

struct NetSettings {
  DecoderOptions decoder;
  FlowSettings flow;
  bool track_flows = true;  // false: Packets carry no flow (stateless inspection)
};

// Applies one Suricata-style `--set KEY=VALUE` to `s`. Keys (Suricata names):
//   stream.midstream, stream.async-oneside (bool), stream.reassembly.depth,
//   stream.reassembly.memcap, stream.memcap (size: 1mb, 512kb, 1048576),
//   flow.max-flows (count), flow.memcap (size; becomes max-flows, stream buffers are
//   bounded by stream.memcap), flow-timeouts.{tcp,udp,icmp,default}.{new,established,closed}
//   (seconds), decoder.vxlan.enabled, decoder.erspan.enabled, decoder.erspan.typeI.enabled,
//   decoder.gre.enabled, decoder.ipip.enabled (bool), decoder.vxlan.ports ("4789" or
//   "[4789, 8472]"), defrag.enabled (bool), defrag.memcap (size), defrag.timeout (seconds),
//   defrag.trackers / defrag.max-trackers (count), checksum-validation (bool or auto/none).
// An unknown key is ErrorCode::unsupported, a bad value ErrorCode::invalid_argument; both
// name the key. `s` is unchanged on error.
Status apply_net_setting(NetSettings& s, std::string_view key, std::string_view value);
// Same, for "KEY=VALUE".
Status apply_net_setting(NetSettings& s, std::string_view key_equals_value);

class NetPipeline {
 public:
  using PacketFn = std::function<void(halong::net::Packet&)>;

  explicit NetPipeline(NetSettings settings = {});

  // Decodes one frame and applies flow state; calls `fn` for each resulting Packet in
  // order (tunnel root before inner packet, fragment before reassembled datagram).
  void process(const Frame& frame, const PacketFn& fn);

  // Reads `src` until its end (or until *stop becomes true), calling process() per frame.
  // On a read timeout (live sources) flows are expired with `now_us()` (an injected
  // clock; nullptr = never). Returns the source's read error, if any, after delivering
  // every frame before it. Does not flush flows (call finish()).
  Status run(PacketSource& src, const PacketFn& fn, const std::atomic<bool>* stop = nullptr,
             const std::function<int64_t()>& now_us = nullptr);

  // Ends all flows (end of a capture file).
  void finish() { flows_.flush(); }

  const Decoder& decoder() const { return decoder_; }
  FlowTable& flows() { return flows_; }
  const FlowTable& flows() const { return flows_; }
  uint64_t frames() const { return frames_; }
  uint64_t packets() const { return packets_; }

 private:
  NetSettings settings_;
  Decoder decoder_;
  FlowTable flows_;
  Decoded decoded_;
  uint64_t frames_ = 0;
  uint64_t packets_ = 0;
};

struct ReplayStats {
  uint64_t frames = 0;
  uint64_t packets = 0;
  int linktype = 0;
  DecodeCounters decode;
  FlowCounters flow;
};

// Opens the pcap/pcapng file at `path`, runs every frame through a NetPipeline built
// from `settings`, calls `fn` per Packet, then ends all flows. Errors (missing, corrupt,
// truncated file) name the file; frames before a truncation are still delivered.
Result<ReplayStats> replay_pcap(const std::string& path, const NetSettings& settings,
                                const NetPipeline::PacketFn& fn);

}  // namespace halong::agent::net
