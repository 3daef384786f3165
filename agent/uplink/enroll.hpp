// Agent enrollment: `halong-agent enroll --collector HOST:PORT --token T`.
//
// Makes an EC P-256 key pair, connects to the collector over TLS checking that its
// certificate has the fingerprint carried in the token (no trust on first use), sends a CSR
// with the token, and stores what comes back in `dir`:
//   agent.key (0600), agent.crt, ca.crt, identity.json {agent_id, agency, collector_fingerprint}
// From then on the Uplink connects with mutual TLS (see uplink_options_from_enrollment).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "core/result.hpp"

namespace halong::agent {

struct EnrollOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string token;                      // hlt1.<secret>.<fingerprint>
  std::filesystem::path dir;              // where the identity files go
  std::string hostname;                   // reported to the collector (default: gethostname)
  std::chrono::milliseconds timeout{10'000};
};

struct Enrollment {
  std::string agent_id;
  std::string agency;
  std::string collector_fingerprint;
  std::filesystem::path cert_file, key_file, ca_file;
};

// Errors: invalid_argument (malformed token), unavailable (collector not reachable),
// forbidden (the collector's certificate is not the one in the token), unauthorized
// (token refused: unknown, expired, used up, revoked — the collector's message), io_error.
Result<Enrollment> enroll(const EnrollOptions& opts);

// Reads identity.json and checks the files are there (not_found when never enrolled).
Result<Enrollment> load_enrollment(const std::filesystem::path& dir);

}  // namespace halong::agent
