// Helpers for turning YAML into typed config with errors that name file:line and the
// key path ("agent.yaml:12: capture.snaplen: must be an integer between 64 and 262144").
// Each program's config module (agent/app/config, collector/app/config) uses them in one
// pass that collects every error, so a user fixes all of them at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/result.hpp"

namespace halong::config {

// Collects errors while walking a document.
class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  void add(const YAML::Node& at, const std::string& key_path, const std::string& what);
  void add_plain(const std::string& what) { list_.push_back(what); }
  bool empty() const { return list_.empty(); }
  const std::vector<std::string>& list() const { return list_; }
  std::string joined() const;  // one error per line
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<std::string> list_;
};

// yaml-cpp 0.7 loops forever on a NUL byte and on a ',' at document level (an endless
// series of empty documents). This refuses C0 control bytes (but tab, LF, CR) with
// name:line, and more than `max_documents` documents, without building any node. Every
// YAML we read (configs, Sigma rules) goes through it first.
Status check_yaml_text(const std::string& text, const std::string& name, size_t max_documents);

// Loads a YAML file (one document); parse errors carry file:line:column.
Result<YAML::Node> load_file(const std::string& path);
Result<YAML::Node> load_string(const std::string& text, const std::string& name);

// Typed getters: absent keys leave `out` unchanged (the default); wrong types are errors.
void get_string(const YAML::Node& map, const char* key, const std::string& path, std::string& out, Errors& errs);
void get_bool(const YAML::Node& map, const char* key, const std::string& path, bool& out, Errors& errs);
void get_uint(const YAML::Node& map, const char* key, const std::string& path, uint64_t& out, Errors& errs,
              uint64_t min = 0, uint64_t max = UINT64_MAX);
void get_strings(const YAML::Node& map, const char* key, const std::string& path, std::vector<std::string>& out,
                 Errors& errs);
// Durations: "30s", "5m", "24h", "7d", "250ms" or a plain number of seconds.
void get_duration_ms(const YAML::Node& map, const char* key, const std::string& path, uint64_t& out_ms,
                     Errors& errs);
Result<uint64_t> parse_duration_ms(std::string_view text);
// Sizes: "64MiB", "1GiB", "512KiB", "100MB" or a plain number of bytes.
void get_size(const YAML::Node& map, const char* key, const std::string& path, uint64_t& out_bytes, Errors& errs);
Result<uint64_t> parse_size(std::string_view text);

// Reports keys of `map` that are not in `known` (typos must not pass silently).
void check_known_keys(const YAML::Node& map, const std::string& path, const std::vector<std::string>& known,
                      Errors& errs);

}  // namespace halong::config
