// The tailer's durable state: per file its identity, the committed offset and a
// fingerprint of its first bytes (to tell a rewritten or reused inode), plus the
// consumer's opaque app_state. One small text file, replaced atomically.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/logs/file_tailer.hpp"
#include "core/result.hpp"

namespace halong::agent::logs {

struct TailStateEntry {
  FileId id;
  uint64_t offset = 0;
  uint32_t fp_len = 0;   // bytes covered by fp_hash (0: file was empty)
  uint64_t fp_hash = 0;
  std::string path;
};

struct TailState {
  std::string app_state;
  std::vector<TailStateEntry> files;
};

uint64_t fnv1a64(std::string_view data);

// nullopt when the file does not exist; an error naming file:line when it is corrupt.
Result<std::optional<TailState>> load_tail_state(const std::string& path);
// Writes path.tmp, fsyncs it (if fsync), renames it over path, fsyncs the directory.
Status save_tail_state(const std::string& path, const TailState& st, bool fsync);

// The same atomic replace for any small file.
Status atomic_write_file(const std::string& path, std::string_view text, bool fsync);

// "%" "\n" "\r" escaped as %XX, for one-line records.
std::string escape_line(std::string_view s);
bool unescape_line(std::string_view s, std::string& out);

}  // namespace halong::agent::logs
