// Offline replay: pcap files and log files through the same decode, flow, parse and
// detection path as live operation, alerts to a sink. `halong-agent replay` and the
// integration tests use it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/app/config.hpp"
#include "agent/app/detect.hpp"

namespace halong::agent {

struct ReplayLog {
  std::string path;
  std::string format;
  halong::logs::LogSource source;
};

struct ReplayStats {
  uint64_t frames = 0;
  uint64_t packets = 0;           // decoded packets (a tunnel or fragment may make several)
  uint64_t decode_errors = 0;
  uint64_t lines = 0;
  uint64_t lines_unparsed = 0;    // lines the format's parser did not recognise
  uint64_t lines_cut = 0;         // lines longer than the cap, cut
  uint64_t network_alerts = 0;
  uint64_t log_alerts = 0;
};

// Replays every pcap, then every log, in order. A missing or corrupt pcap or an
// unreadable log is an Error naming the file; alerts already emitted stay emitted.
Result<ReplayStats> replay(const AgentConfig& c, const Rulesets& rules, const std::vector<std::string>& pcaps,
                           const std::vector<ReplayLog>& logs, AlertSink& sink);

// The log inputs of a config, as files to replay (globs expanded).
std::vector<ReplayLog> logs_from_config(const AgentConfig& c);

}  // namespace halong::agent
