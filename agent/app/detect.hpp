// The agent's detection stage: rule loading from the config, the per-thread detectors
// that turn packets and log events into Alerts, and the AlertSink they hand alerts to.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/app/config.hpp"
#include "agent/decode/decoder.hpp"
#include "agent/flow/flow_table.hpp"
#include "agent/logs/parser.hpp"
#include "core/alert.hpp"
#include "core/detect/net/engine.hpp"
#include "core/detect/sigma/engine.hpp"
#include "core/log_event.hpp"
#include "core/packet.hpp"

namespace halong::agent {

// Where alerts go: stdout as JSON lines (replay), the spool and uplink (run), a vector
// (tests). emit() must not block for long: it runs on the detection thread.
class AlertSink {
 public:
  virtual ~AlertSink() = default;
  virtual void emit(Alert&& alert) = 0;
};

class VectorSink final : public AlertSink {
 public:
  void emit(Alert&& a) override { alerts.push_back(std::move(a)); }
  std::vector<Alert> alerts;
};

// The compiled rulesets of one configuration (either may be null when no rules of that
// kind are configured). Immutable and shared by every detector thread.
struct Rulesets {
  std::shared_ptr<const detect::net::Ruleset> network;
  std::shared_ptr<const detect::sigma::Ruleset> logs;
  std::string report;        // the loaders' reports (what `rules check` prints)
  size_t errors = 0;         // rules that did not parse (they are skipped; others load)
  size_t loaded = 0;
  size_t skipped = 0;
};

detect::net::LoadOptions network_load_options(const AgentConfig& c);

// Loads the network rules (*.rules) and log rules (*.yml/*.yaml) the config names.
// Errors in single rules are reported and skipped; an unreadable path or a failed
// compile is an Error.
Result<Rulesets> load_rulesets(const AgentConfig& c);

// `halong-agent rules check FILE|DIR...`: loads each path with the engine its extension
// selects (*.rules network; *.yml, *.yaml Sigma; directories: both) and returns the
// report; `errors` counts rules that did not parse and paths that could not be read.
struct CheckResult {
  std::string text;
  size_t loaded = 0, skipped = 0, errors = 0;
};
CheckResult check_rules(const std::vector<std::string>& paths, const AgentConfig& c, bool verbose = false);

// Alert building: what the analyst sees of a packet or a log line.
Alert make_network_alert(const AgentRef& agent, const detect::net::Match& m, const halong::net::Packet& p);
Alert make_log_alert(const AgentRef& agent, const detect::sigma::Match& m, const halong::logs::LogEvent& ev);

// One per thread: packets in, alerts to the sink.
class NetworkDetector {
 public:
  NetworkDetector(AgentRef agent, std::shared_ptr<const detect::net::Ruleset> rs, AlertSink& sink);
  void on_packet(const halong::net::Packet& p);
  const detect::net::MatcherCounters& counters() const { return matcher_.counters(); }

 private:
  AgentRef agent_;
  detect::net::Matcher matcher_;
  AlertSink& sink_;
  std::vector<detect::net::Match> matches_;
};

// One per thread: log events in, alerts to the sink.
class LogDetector {
 public:
  LogDetector(AgentRef agent, std::shared_ptr<const detect::sigma::Ruleset> rs, AlertSink& sink);
  void on_event(const halong::logs::LogEvent& ev);
  const detect::sigma::MatcherStats& stats() const { return matcher_.stats(); }

 private:
  AgentRef agent_;
  detect::sigma::Matcher matcher_;
  AlertSink& sink_;
  std::vector<detect::sigma::Match> matches_;
};

AgentRef agent_ref(const AgentConfig& c);

// Decoder and flow-table settings from the config (replay and live capture share them).
net::DecoderOptions decoder_options(const AgentConfig& c);
net::FlowSettings flow_settings(const AgentConfig& c);

// Parses one line with `parser` and runs its event, and the events it completed
// (auditd joins), through `det` (when there is one). False when the parser did not
// recognise the line (it is still inspected as raw text). A journal entry's cursor, when
// given, becomes the events' field "__CURSOR" (so its alerts name the entry).
bool detect_line(logs::Parser& parser, std::string_view text, std::string_view path, uint64_t offset,
                 const halong::logs::LogSource& src, LogDetector* det, std::string_view cursor = {});

}  // namespace halong::agent
