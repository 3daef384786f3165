#pragma once
#include <string>

#include "core/result.hpp"

namespace halong::collector {
// A random token (32 bytes from OpenSSL's CSPRNG, hex) kept in `path` with mode 0600:
// created on first call (written to a temporary file, fsynced, renamed), read after.
Result<std::string> ensure_secret_file(const std::string& path);
}  // namespace halong::collector
