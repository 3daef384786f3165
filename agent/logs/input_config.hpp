// Configuration of one log input: which files (globs), which format, which Sigma
// logsource the events answer to. Filled by the agent's config loader (agent/app).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/log_event.hpp"

namespace halong::agent::logs {

struct LogInputConfig {
  std::vector<std::string> paths;  // absolute paths or globs ("/var/log/auth.log", "/var/log/nginx/*.log")
  std::string format = "raw";      // see known_formats() in parser.hpp
  halong::logs::LogSource source;  // the Sigma logsource of the events (product/service/category)
  bool from_start = true;          // files present at first start with no stored offset: read from
                                   // their start (true) or from their current end (false). Files that
                                   // appear later are always read from their start.
  size_t max_line = 64 * 1024;     // longer lines are cut to this many bytes (counted)
};

}  // namespace halong::agent::logs
