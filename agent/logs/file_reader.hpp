// One-shot reading of a whole log file (halong-agent replay --log FILE --format F), and
// the step from lines to LogEvents shared by replay and the live tailer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/logs/input_config.hpp"
#include "agent/logs/parser.hpp"
#include "core/log_event.hpp"
#include "core/result.hpp"

namespace halong::agent::logs {

struct ReadStats {
  uint64_t lines = 0;
  uint64_t bytes = 0;
  uint64_t lines_truncated = 0;
};

// Calls on_line(offset, text, truncated) for every line of path (the last one even without
// a newline; a trailing '\r' is cut; lines longer than max_line are cut to it). Binary
// bytes pass through untouched. Error when the file cannot be opened or read.
using RawLineFn = std::function<void(uint64_t offset, std::string_view text, bool truncated)>;
Result<ReadStats> read_log_file(const std::string& path, size_t max_line, const RawLineFn& on_line);

struct ParseStats {
  uint64_t lines = 0;
  uint64_t parsed = 0;    // the parser recognised the line
  uint64_t unparsed = 0;  // delivered with the raw line only (keyword rules still apply)
  uint64_t derived = 0;   // multi-line events (auditd process_creation)
};

// Lines -> LogEvents with one parser per input. Every line yields an event (unparsed lines
// carry only raw/path/offset, so keyword rules still see them); derived events follow the
// line that completed them. ts_us falls back to read_time_us when the line has no time.
class EventBuilder {
 public:
  static Result<EventBuilder> make(const std::vector<LogInputConfig>& inputs, const ParserOptions& opts = {});

  using EventFn = std::function<void(const halong::logs::LogEvent&)>;
  void handle(size_t input, std::string_view path, uint64_t offset, std::string_view line, int64_t read_time_us,
              const EventFn& on_event);
  // End of input / idle: completes pending multi-line events of every input.
  void flush(int64_t read_time_us, const EventFn& on_event);

  const ParseStats& stats() const { return stats_; }

 private:
  EventBuilder() = default;
  std::vector<halong::logs::LogSource> sources_;
  std::vector<std::unique_ptr<Parser>> parsers_;
  halong::logs::LogEvent ev_;
  ParseStats stats_;
};

}  // namespace halong::agent::logs
