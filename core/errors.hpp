// Stable error codes, in one place. The collector's API maps them to HTTP statuses in
// one place too (collector/api). Never renumber or rename: clients and logs depend on them.
#pragma once

#include <string_view>

namespace halong {

enum class ErrorCode {
  invalid_argument,   // a value the caller gave is wrong
  parse_error,        // input text (rule, config, message) does not parse
  unsupported,        // well-formed but not something we can honour (rule keyword...)
  not_found,
  already_exists,
  unauthorized,       // no or bad credentials
  forbidden,          // credentials fine, not allowed
  conflict,
  io_error,           // filesystem, socket
  storage_error,      // RocksDB
  unavailable,        // peer away, disk full: retry later
  resource_exhausted, // a configured bound was hit
  internal,           // a bug
};

constexpr std::string_view to_string(ErrorCode c) {
  switch (c) {
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::parse_error: return "parse_error";
    case ErrorCode::unsupported: return "unsupported";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::already_exists: return "already_exists";
    case ErrorCode::unauthorized: return "unauthorized";
    case ErrorCode::forbidden: return "forbidden";
    case ErrorCode::conflict: return "conflict";
    case ErrorCode::io_error: return "io_error";
    case ErrorCode::storage_error: return "storage_error";
    case ErrorCode::unavailable: return "unavailable";
    case ErrorCode::resource_exhausted: return "resource_exhausted";
    case ErrorCode::internal: return "internal";
  }
  return "internal";
}

}  // namespace halong
