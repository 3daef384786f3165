// FileTailer: follows log files named by paths and globs, line by line, across rotation
// (rename and copy-truncate), truncation and deletion, and resumes after a restart (clean
// or kill -9) from the offsets the caller committed, so that no line is skipped or repeated.
//
// Driving it (one thread):
//   auto t = FileTailer::open(inputs, opts);            // loads <state_dir>/tail.state
//   loop: t->poll([&](const TailLine& l) { handle(l); t->commit(l.next); });
//         t->sync(app_state);                           // persist committed offsets (atomic)
//         if nothing was read: t->wait(timeout_ms);     // inotify, or sleep (polling fallback)
// A line is handed over once, in file order; commit() marks it handled (cheap, in memory)
// and sync() makes the commits durable together with an opaque app_state string (e.g. the
// spool's sequence number, or a consumer's output length) that open() gives back, so a
// consumer can make "handled" and "committed" one atomic step. After a crash, reading
// resumes after the last synced commit: lines handled but not synced are delivered again
// unless the consumer uses app_state to recognise them (NOTES.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/logs/input_config.hpp"
#include "core/result.hpp"

namespace halong::agent::logs {

// Monotonic microseconds; injected so rotation grace periods and rescans are testable.
using MonoClock = std::function<int64_t()>;
MonoClock steady_clock_us();

struct FileId {
  uint64_t dev = 0, ino = 0;
  bool operator==(const FileId&) const = default;
};

// Where reading resumes after a line: commit it once the line is handled.
struct TailPosition {
  FileId file;
  uint64_t offset = 0;      // byte after the line's newline
  uint32_t generation = 0;  // names one reading of the file (new at open and at truncation);
                            // commits of an older one are ignored
};

struct TailLine {
  std::string_view path;  // the name the file was found under (its current name if renamed)
  uint64_t offset = 0;    // byte offset of the line's first byte
  std::string_view text;  // without the newline (and a trailing '\r'); cut to max_line
  bool truncated = false; // the line was longer than max_line and was cut
  size_t input = 0;       // index of its LogInputConfig
  TailPosition next;
};

struct TailerOptions {
  std::string state_dir;                     // where tail.state lives (created if missing)
  int64_t rotate_wait_us = 5'000'000;        // keep a rotated-away or deleted file open this long after its
                                             // last data (the writer may still be writing to it)
  int64_t rescan_interval_us = 1'000'000;    // re-expand the globs at least this often (polling fallback)
  bool use_inotify = true;                   // false: polling only
  bool fsync = true;                         // fsync tail.state and its directory in sync()
  size_t max_bytes_per_file_per_poll = 4 << 20;  // fairness between files
  MonoClock clock;                           // default: steady_clock
};

struct TailerStats {
  uint64_t lines = 0;
  uint64_t bytes = 0;
  uint64_t lines_truncated = 0;   // cut at max_line
  uint64_t truncations = 0;       // a file got shorter (copy-truncate, > file)
  uint64_t rotations = 0;         // a path now names another file
  uint64_t files_opened = 0;
  uint64_t files_closed = 0;
  uint64_t files_lost = 0;        // a stored offset whose file could not be found again at start
  uint64_t read_errors = 0;
  uint64_t state_writes = 0;
};

class FileTailer {
 public:
  // Loads the state (a corrupt state file is an error naming it; a missing one is a first
  // start), expands the globs and opens the files. Files not in the state: from_start
  // decides for the very first start (no state file); afterwards new files are read from
  // their start.
  static Result<std::unique_ptr<FileTailer>> open(std::vector<LogInputConfig> inputs, TailerOptions opts);
  ~FileTailer();
  FileTailer(const FileTailer&) = delete;
  FileTailer& operator=(const FileTailer&) = delete;

  // Reads what is available and calls on_line for each complete line, in file order
  // (lines of a rotated-away file before those of its successor). Returns the number of
  // bytes read (0: nothing new). A final line without a newline is held back until its
  // newline arrives, or delivered once its file has been rotated away or deleted and
  // rotate_wait has passed.
  using LineFn = std::function<void(const TailLine&)>;
  size_t poll(const LineFn& on_line);

  // Marks the line ending at p as handled. Cheap; call in delivery order.
  void commit(const TailPosition& p);

  // Persists every committed position and app_state atomically (write, fsync, rename).
  Status sync(std::string_view app_state = {});

  // The app_state of the last sync() before this process started ("" on first start).
  const std::string& restored_app_state() const;

  // Blocks up to timeout_ms for a filesystem event (inotify) or just sleeps (polling).
  void wait(int timeout_ms);
  // The inotify descriptor to add to an event loop (-1 when polling).
  int wait_fd() const;

  // poll(); commit each line after on_line returns; sync() after each batch; wait when idle.
  Status run(const LineFn& on_line, const std::atomic<bool>& stop, int idle_wait_ms = 200);

  const TailerStats& stats() const;
  size_t open_files() const;

  struct Impl;

 private:
  explicit FileTailer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace halong::agent::logs
