// A parsed log event: the interface between the log inputs and parsers (agent/logs)
// and the Sigma engine (core/detect/sigma).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace halong::logs {

// Which Sigma logsource an event answers to. Set from the input's configuration and
// the parser (docs/sigma.md has the table).
struct LogSource {
  std::string product;   // "linux"
  std::string service;   // "sshd", "auth", "sudo", "syslog", "auditd", "cron"...
  std::string category;  // "webserver", "process_creation"...
};

struct LogEvent {
  int64_t ts_us = 0;                 // event time if the parser found one, else read time
  std::string_view raw;              // the whole line (valid during one evaluation)
  std::string_view path;             // where it was read
  uint64_t offset = 0;               // byte offset of the line in the file
  std::string_view format;           // parser name
  const LogSource* source = nullptr;
  // Sigma field names -> values (e.g. "User", "c-ip", "CommandLine"). Small; linear lookup.
  std::vector<std::pair<std::string, std::string>> fields;

  const std::string* field(std::string_view name) const {
    for (const auto& [k, v] : fields)
      if (k == name) return &v;
    return nullptr;
  }

  // Appends a field (parsers emit each name at most once).
  void add(std::string_view name, std::string_view value) { fields.emplace_back(name, value); }

  // Resets the parser-filled part (fields, ts_us, raw, format); keeps path, offset and
  // source. (Recycling the strings' buffers was measured slower than malloc's tcache.)
  void clear_parsed() {
    fields.clear();
    ts_us = 0;
    raw = {};
    format = {};
  }
};

}  // namespace halong::logs
