// JournalReader: reads systemd's journal through sd_journal (libsystemd, loaded at run time
// with dlopen so hosts without it still run the agent), with a persisted cursor and the
// same commit/sync protocol as FileTailer, so a restart neither skips nor repeats an entry.
// Each entry becomes one syslog-style line
//   "<RFC 3339 time> <_HOSTNAME> <SYSLOG_IDENTIFIER|_COMM>[<_PID>]: <MESSAGE>"
// which the syslog/auth/sshd/sudo parsers read like a file line.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/log_event.hpp"
#include "core/result.hpp"

namespace halong::agent::logs {

struct JournalConfig {
  std::string name = "journal";          // names the cursor file: <state_dir>/journal-<name>.cursor
  std::string directory;                 // empty: the local system journal; else sd_journal_open_directory
  std::vector<std::string> matches;      // "FIELD=value" (e.g. "_SYSTEMD_UNIT=ssh.service"), OR'd; empty: all
  std::string format = "auth";           // parser for the synthesized lines
  halong::logs::LogSource source;
  bool from_start = false;               // no stored cursor: from the journal's head (true) or only new entries
  bool fsync = true;
};

struct JournalLine {
  std::string_view text;     // the synthesized line
  std::string_view cursor;   // commit this once handled
  uint64_t realtime_us = 0;  // __REALTIME_TIMESTAMP
};

struct JournalStats {
  uint64_t entries = 0;
  uint64_t cursor_lost = 0;  // the stored cursor's entry was rotated away (resumed at the next one)
  uint64_t errors = 0;
};

// Whether libsystemd.so.0 can be loaded on this host.
bool journal_available();

class JournalReader {
 public:
  static Result<std::unique_ptr<JournalReader>> open(JournalConfig cfg, const std::string& state_dir);
  ~JournalReader();
  JournalReader(const JournalReader&) = delete;
  JournalReader& operator=(const JournalReader&) = delete;

  // Delivers up to max_entries new entries in journal order; returns how many.
  using EntryFn = std::function<void(const JournalLine&)>;
  size_t poll(const EntryFn& on_entry, size_t max_entries = 10000);
  void commit(std::string_view cursor);
  Status sync(std::string_view app_state = {});
  const std::string& restored_app_state() const;
  // Blocks up to timeout_ms for new entries (sd_journal_wait).
  void wait(int timeout_ms);
  int wait_fd();
  const JournalStats& stats() const;

  struct Impl;

 private:
  explicit JournalReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace halong::agent::logs
