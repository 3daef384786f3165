// Parsers: one log line -> Sigma fields (halong::logs::LogEvent). One instance per input
// (parsers may hold state across lines: auditd joins the records of one event). Not
// thread-safe; cheap to create. Field names per format: agent/logs/NOTES.md, docs/logs.md.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/log_event.hpp"
#include "core/result.hpp"

namespace halong::agent::logs {

struct ParserOptions {
  // Reference time (UTC µs) for timestamps without a year (RFC 3164 "Jun 14 15:16:01"): the
  // year is the reference's, or the one before when that would put the line more than a
  // week in the future. 0 = the system clock when the parser is made.
  int64_t now_us = 0;
  // Offset of local time from UTC, in seconds, for timestamps without a zone (RFC 3164,
  // Apache). 0 = treat them as UTC.
  int32_t utc_offset_s = 0;
};

class Parser {
 public:
  virtual ~Parser() = default;
  virtual std::string_view name() const = 0;

  // Parses one line (without its newline). Resets ev's parsed part (fields, ts_us, raw,
  // format), sets ev.raw = line and ev.format, appends the fields found and sets ev.ts_us
  // when the line carries a time. Returns false when the line is not in this format (ev
  // then holds whatever could be read, at least the raw line). Never throws; any bytes.
  virtual bool parse(std::string_view line, halong::logs::LogEvent& ev) = 0;

  // Events derived from several lines (auditd: SYSCALL+EXECVE+CWD+PATH... of one event,
  // joined into a process_creation event). After each parse(), call until it returns
  // false. The event's raw/format views stay valid until the next call into the parser;
  // its source points to a LogSource owned by the parser.
  virtual bool next_derived(halong::logs::LogEvent& /*ev*/) { return false; }

  // End of input (or idle): complete any pending multi-line event, then drain with
  // next_derived().
  virtual void flush() {}
};

// Formats: syslog, auth, sshd, sudo, auditd, apache, nginx, apache_error, json, raw.
std::span<const std::string_view> known_formats();

// Unknown format -> invalid_argument naming the known ones.
Result<std::unique_ptr<Parser>> make_parser(std::string_view format, const ParserOptions& opts = {});

// ---- building blocks, exposed for the other parsers and for tests ----

// A syslog header: RFC 3164 ("<PRI>Mmm dd HH:MM:SS host tag[pid]: msg", PRI optional, as
// written by syslog daemons to files), ISO timestamps ("2026-11-23T12:00:00.123+07:00 host
// tag[pid]: msg", rsyslog high precision) and RFC 5424 ("<PRI>1 TS HOST APP PROCID MSGID SD MSG").
struct SyslogHeader {
  int64_t ts_us = 0;       // 0 when absent
  int pri = -1;            // -1 when absent
  std::string_view host, program, pid, msgid, structured_data, message;
  bool rfc5424 = false;
};
bool parse_syslog_header(std::string_view line, const ParserOptions& opts, SyslogHeader& out);

}  // namespace halong::agent::logs
