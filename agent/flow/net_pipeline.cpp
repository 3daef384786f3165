#include "agent/flow/net_pipeline.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "agent/capture/pcap_source.hpp"

namespace halong::agent::net {

namespace {

std::string lower(std::string_view s) {
  std::string r(s);
  std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return r;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

Error bad(std::string_view key, std::string_view value, std::string_view want) {
  return make_error(ErrorCode::invalid_argument,
                    "setting '" + std::string(key) + "': '" + std::string(value) + "' is not " + std::string(want));
}

Result<bool> parse_bool(std::string_view key, std::string_view v) {
  std::string l = lower(trim(v));
  if (l == "true" || l == "yes" || l == "on" || l == "1") return true;
  if (l == "false" || l == "no" || l == "off" || l == "0") return false;
  return bad(key, v, "a boolean (true/false/yes/no)");
}

Result<uint64_t> parse_uint(std::string_view key, std::string_view v) {
  std::string_view t = trim(v);
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc() || p != t.data() + t.size() || t.empty()) return bad(key, v, "a non-negative integer");
  return n;
}

// Suricata sizes: 1048576, 1mb, 512kb, 1gb (case-insensitive, optional 'b'/'ib').
Result<uint64_t> parse_size(std::string_view key, std::string_view v) {
  std::string l = lower(trim(v));
  size_t i = 0;
  while (i < l.size() && std::isdigit(static_cast<unsigned char>(l[i]))) ++i;
  if (i == 0) return bad(key, v, "a size (e.g. 1048576, 512kb, 1mb)");
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(l.data(), l.data() + i, n);
  (void)p;
  if (ec != std::errc()) return bad(key, v, "a size (e.g. 1048576, 512kb, 1mb)");
  std::string unit = l.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  uint64_t mul = 1;
  if (unit.empty() || unit == "b") mul = 1;
  else if (unit == "kb" || unit == "k" || unit == "kib") mul = 1024;
  else if (unit == "mb" || unit == "m" || unit == "mib") mul = 1024 * 1024;
  else if (unit == "gb" || unit == "g" || unit == "gib") mul = 1024ull * 1024 * 1024;
  else return bad(key, v, "a size (e.g. 1048576, 512kb, 1mb)");
  if (n > UINT64_MAX / mul) return bad(key, v, "a size that fits in 64 bits");
  return n * mul;
}

Result<std::vector<uint16_t>> parse_ports(std::string_view key, std::string_view v) {
  std::string_view t = trim(v);
  if (!t.empty() && t.front() == '[') t.remove_prefix(1);
  if (!t.empty() && t.back() == ']') t.remove_suffix(1);
  std::vector<uint16_t> out;
  while (!t.empty()) {
    size_t comma = t.find(',');
    std::string_view item = trim(t.substr(0, comma));
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size() || n == 0 || n > 65535)
      return bad(key, v, "a port or a list of ports like [4789, 8472]");
    out.push_back(static_cast<uint16_t>(n));
    if (comma == std::string_view::npos) break;
    t.remove_prefix(comma + 1);
  }
  if (out.empty()) return bad(key, v, "a port or a list of ports like [4789, 8472]");
  return out;
}

}  // namespace

Status apply_net_setting(NetSettings& s, std::string_view key_equals_value) {
  size_t eq = key_equals_value.find('=');
  if (eq == std::string_view::npos)
    return make_error(ErrorCode::invalid_argument,
                      "setting '" + std::string(key_equals_value) + "' is not of the form KEY=VALUE");
  return apply_net_setting(s, trim(key_equals_value.substr(0, eq)), trim(key_equals_value.substr(eq + 1)));
}

Status apply_net_setting(NetSettings& s, std::string_view key, std::string_view value) {
  const std::string k = lower(trim(key));
  auto set_bool = [&](bool& field) -> Status {
    auto b = parse_bool(key, value);
    if (!b) return b.error();
    field = *b;
    return {};
  };
  if (k == "stream.midstream") return set_bool(s.flow.midstream);
  if (k == "stream.async-oneside") return set_bool(s.flow.async_oneside);
  if (k == "stream.reassembly.depth") {
    auto n = parse_size(key, value);
    if (!n) return n.error();
    s.flow.stream.depth = *n;
    return {};
  }
  if (k == "stream.reassembly.memcap" || k == "stream.memcap") {
    auto n = parse_size(key, value);
    if (!n) return n.error();
    if (*n == 0) return bad(key, value, "a size above 0");
    s.flow.stream_memcap = static_cast<size_t>(*n);
    return {};
  }
  if (k == "flow.max-flows") {
    auto n = parse_uint(key, value);
    if (!n) return n.error();
    if (*n == 0) return bad(key, value, "a count above 0");
    s.flow.max_flows = static_cast<size_t>(*n);
    return {};
  }
  if (k == "flow.memcap") {
    auto n = parse_size(key, value);
    if (!n) return n.error();
    if (*n < FlowTable::bytes_per_flow())
      return bad(key, value, "a size that holds at least one flow (" + std::to_string(FlowTable::bytes_per_flow()) + " bytes)");
    s.flow.max_flows = static_cast<size_t>(*n / FlowTable::bytes_per_flow());
    return {};
  }
  if (k.rfind("flow-timeouts.", 0) == 0) {
    std::string rest = k.substr(14);
    size_t dot = rest.find('.');
    if (dot != std::string::npos) {
      std::string proto = rest.substr(0, dot), what = rest.substr(dot + 1);
      FlowTimeouts* t = proto == "tcp" ? &s.flow.tcp : proto == "udp" ? &s.flow.udp
                        : (proto == "icmp" || proto == "default") ? &s.flow.other : nullptr;
      int64_t* field = nullptr;
      if (t != nullptr) {
        if (what == "new") field = &t->new_us;
        else if (what == "established") field = &t->established_us;
        else if (what == "closed") field = &t->closed_us;
      }
      if (field != nullptr) {
        auto n = parse_uint(key, value);
        if (!n) return n.error();
        if (*n > 100ull * 365 * 86400) return bad(key, value, "a number of seconds below 100 years");
        *field = static_cast<int64_t>(*n) * 1'000'000;
        return {};
      }
    }
  }
  if (k == "decoder.vxlan.enabled") return set_bool(s.decoder.vxlan);
  if (k == "decoder.vxlan.ports") {
    auto p = parse_ports(key, value);
    if (!p) return p.error();
    s.decoder.vxlan_ports = *p;
    return {};
  }
  if (k == "decoder.erspan.enabled") return set_bool(s.decoder.erspan);
  if (k == "decoder.erspan.typei.enabled") return set_bool(s.decoder.erspan_type1);
  if (k == "decoder.gre.enabled") return set_bool(s.decoder.gre);
  if (k == "decoder.ipip.enabled") return set_bool(s.decoder.ipip);
  if (k == "defrag.enabled") return set_bool(s.decoder.defrag.enabled);
  if (k == "defrag.memcap") {
    auto n = parse_size(key, value);
    if (!n) return n.error();
    if (*n == 0) return bad(key, value, "a size above 0");
    s.decoder.defrag.memcap = static_cast<size_t>(*n);
    return {};
  }
  if (k == "defrag.timeout") {
    auto n = parse_uint(key, value);
    if (!n) return n.error();
    if (*n > 86400) return bad(key, value, "a number of seconds up to 86400");
    s.decoder.defrag.timeout_us = static_cast<int64_t>(*n) * 1'000'000;
    return {};
  }
  if (k == "defrag.trackers" || k == "defrag.max-trackers") {
    auto n = parse_uint(key, value);
    if (!n) return n.error();
    if (*n == 0) return bad(key, value, "a count above 0");
    s.decoder.defrag.max_trackers = static_cast<size_t>(*n);
    return {};
  }
  if (k == "checksum-validation") {
    std::string l = lower(trim(value));
    if (l == "auto" || l == "none") {
      s.decoder.verify_checksums = false;
      return {};
    }
    return set_bool(s.decoder.verify_checksums);
  }
  return make_error(ErrorCode::unsupported, "setting '" + std::string(key) + "' is not a network setting we know");
}

NetPipeline::NetPipeline(NetSettings settings)
    : settings_(std::move(settings)), decoder_(settings_.decoder), flows_(settings_.flow) {}

void NetPipeline::process(const Frame& frame, const PacketFn& fn) {
  ++frames_;
  decoder_.decode(frame, frames_, decoded_);
  for (halong::net::Packet& p : decoded_) {
    if (settings_.track_flows) flows_.process(p);
    ++packets_;
    fn(p);
  }
}

Status NetPipeline::run(PacketSource& src, const PacketFn& fn, const std::atomic<bool>* stop,
                        const std::function<int64_t()>& now_us) {
  Frame f;
  while (stop == nullptr || !stop->load(std::memory_order_relaxed)) {
    auto r = src.next(f);
    if (!r) return r.error();
    if (*r == ReadStatus::end) break;
    if (*r == ReadStatus::timeout) {
      if (now_us && settings_.track_flows) flows_.expire(now_us());
      continue;
    }
    process(f, fn);
  }
  return {};
}

Result<ReplayStats> replay_pcap(const std::string& path, const NetSettings& settings,
                                const NetPipeline::PacketFn& fn) {
  auto src = PcapFileSource::open(path);
  if (!src) return src.error();
  NetPipeline pipe(settings);
  Status st = pipe.run(**src, fn);
  pipe.finish();
  if (!st) return st.error();
  ReplayStats r;
  r.frames = pipe.frames();
  r.packets = pipe.packets();
  r.linktype = (*src)->linktype();
  r.decode = pipe.decoder().counters();
  r.flow = pipe.flows().counters();
  return r;
}

}  // namespace halong::agent::net
