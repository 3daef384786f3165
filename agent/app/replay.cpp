#include "agent/app/replay.hpp"

#include <glob.h>

#include <fstream>

#include "agent/capture/pcap_source.hpp"
#include "agent/decode/decoder.hpp"
#include "agent/flow/flow_table.hpp"
#include "agent/logs/parser.hpp"

namespace halong::agent {

namespace {

// Counts alerts on their way to the real sink.
class CountingSink final : public AlertSink {
 public:
  CountingSink(AlertSink& next, uint64_t& count) : next_(next), count_(count) {}
  void emit(Alert&& a) override {
    ++count_;
    next_.emit(std::move(a));
  }

 private:
  AlertSink& next_;
  uint64_t& count_;
};

Status replay_pcap(const AgentConfig& c, const Rulesets& rules, const std::string& path, AlertSink& sink,
                   ReplayStats& st) {
  auto src = net::PcapFileSource::open(path);
  if (!src) return src.error();
  net::Decoder decoder(decoder_options(c));
  net::FlowTable flows(flow_settings(c));
  CountingSink counting(sink, st.network_alerts);
  std::optional<NetworkDetector> det;
  if (rules.network) det.emplace(agent_ref(c), rules.network, counting);
  net::Frame frame;
  net::Decoded decoded;
  uint64_t n = 0;
  for (;;) {
    auto r = (*src)->next(frame);
    if (!r) return r.error();
    if (*r == net::ReadStatus::end) break;
    if (*r != net::ReadStatus::frame) continue;
    ++st.frames;
    decoder.decode(frame, ++n, decoded);
    if (decoded.error) ++st.decode_errors;
    for (auto& p : decoded) {
      ++st.packets;
      flows.process(p);
      if (det) det->on_packet(p);
    }
  }
  flows.flush();
  return {};
}

Status replay_log(const AgentConfig& c, const Rulesets& rules, const ReplayLog& lg, AlertSink& sink,
                  ReplayStats& st) {
  std::ifstream in(lg.path, std::ios::binary);
  if (!in) return make_error(ErrorCode::io_error, lg.path + ": cannot open log file");
  auto parser = logs::make_parser(lg.format);
  if (!parser) return make_error(ErrorCode::invalid_argument, lg.path + ": " + parser.error().message);
  CountingSink counting(sink, st.log_alerts);
  std::optional<LogDetector> det;
  if (rules.logs) det.emplace(agent_ref(c), rules.logs, counting);
  constexpr size_t kMaxLine = 64 * 1024;
  std::string line;
  uint64_t offset = 0;
  LogDetector* d = det ? &*det : nullptr;
  while (std::getline(in, line)) {
    uint64_t line_offset = offset;
    offset += line.size() + 1;
    ++st.lines;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > kMaxLine) {
      line.resize(kMaxLine);
      ++st.lines_cut;
    }
    if (!detect_line(**parser, line, lg.path, line_offset, lg.source, d)) ++st.lines_unparsed;
  }
  (*parser)->flush();
  halong::logs::LogEvent derived;
  while ((*parser)->next_derived(derived)) {
    derived.path = lg.path;
    if (!derived.source) derived.source = &lg.source;
    if (d) d->on_event(derived);
  }
  if (in.bad()) return make_error(ErrorCode::io_error, lg.path + ": read error");
  return {};
}

}  // namespace

std::vector<ReplayLog> logs_from_config(const AgentConfig& c) {
  std::vector<ReplayLog> out;
  for (const auto& in : c.logs) {
    halong::logs::LogSource src{in.product, in.service, in.category};
    for (const auto& pattern : in.paths) {
      glob_t g{};
      if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back({g.gl_pathv[i], in.format, src});
      } else {
        out.push_back({pattern, in.format, src});  // let the replay report it missing
      }
      globfree(&g);
    }
  }
  return out;
}

Result<ReplayStats> replay(const AgentConfig& c, const Rulesets& rules, const std::vector<std::string>& pcaps,
                           const std::vector<ReplayLog>& logs, AlertSink& sink) {
  ReplayStats st;
  for (const auto& p : pcaps) {
    auto s = replay_pcap(c, rules, p, sink, st);
    if (!s) return s.error();
  }
  for (const auto& l : logs) {
    auto s = replay_log(c, rules, l, sink, st);
    if (!s) return s.error();
  }
  return st;
}

}  // namespace halong::agent
