// The API bearer token of the built-in admin: created on first start in the data directory
// with 0600 rights, read back on later starts.
#pragma once

#include <string>
#include <utility>

#include "core/result.hpp"

namespace halong::collector::api {

// Returns {token, path of the token file} (path = <data_dir>/api-token). Creates the data
// directory if missing. A token file readable by group/others, empty, or not a token is an
// error naming the file (never silently fixed).
Result<std::pair<std::string, std::string>> ensure_api_token(const std::string& data_dir);

// Constant-time comparison of two secrets.
bool secret_equal(std::string_view a, std::string_view b);

// n random bytes as lowercase hex (OpenSSL RAND_bytes).
Result<std::string> random_hex(size_t n_bytes);

}  // namespace halong::collector::api
