// Registry: enrollment tokens and enrolled agents (identity, certificate, revocation).
//
// Kept in <data_dir>/gateway/registry.json, rewritten atomically (tmp + fsync + rename) under
// an flock on registry.lock, and re-read whenever the file changed: `halong-collector token
// create` / `agent revoke` run as separate processes and the running collector sees their
// changes (Gateway::watch_registry disconnects a revoked agent within its poll interval;
// in-process callers use Gateway::revoke_agent for an immediate disconnect).
//
// Tokens: "hlt1.<secret>.<collector certificate SHA-256>" — the secret is 32 random bytes
// (base64url); only its SHA-256 is stored. The fingerprint lets the agent check the collector
// during enrollment without trusting on first use. A token has an agency, an expiry and a
// number of uses; expired, used-up or revoked tokens cannot enroll.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "collector/gateway/certs.hpp"
#include "core/result.hpp"

namespace halong::collector {

struct TokenInfo {
  std::string id;            // first 12 hex digits of the secret's SHA-256 (for listing / revoking)
  std::string agency;
  int64_t created_us = 0;
  int64_t expires_us = 0;
  uint32_t uses_allowed = 1;
  uint32_t uses = 0;
  bool revoked = false;
};

struct AgentRecord {
  std::string id;             // "ag-" + 16 hex, assigned at enrollment; the certificate's CN
  std::string agency;         // from the token; the certificate's O
  std::string hostname;       // as the agent reported it at enrollment
  std::string token_id;
  std::string cert_fingerprint;
  std::string cert_serial;
  int64_t enrolled_us = 0;
  bool revoked = false;
  int64_t revoked_us = 0;
};

struct EnrollResult {
  AgentRecord agent;
  std::string cert_pem;       // the agent's certificate
  std::string ca_pem;         // the collector's certificate (CA and server)
};

using NowFn = std::function<int64_t()>;  // UTC microseconds; injectable for tests

class Registry {
 public:
  static Result<std::unique_ptr<Registry>> open(const std::filesystem::path& data_dir, NowFn now = {});
  ~Registry();

  // Creates a token for `agency`; returns the token text to hand to the agent's admin.
  Result<std::string> create_token(const std::string& agency, std::chrono::seconds ttl, uint32_t uses,
                                   const std::string& collector_fingerprint);
  Result<std::vector<TokenInfo>> tokens();
  Status revoke_token(const std::string& token_id);

  // Checks and consumes one use of the token, signs the CSR with `ca`, records the agent.
  // unauthorized: unknown, expired, used-up or revoked token (the message says which).
  Result<EnrollResult> enroll(const std::string& token, const std::string& hostname, std::string_view csr_pem,
                              const ServerCertificate& ca);

  Result<std::vector<AgentRecord>> agents();
  Result<AgentRecord> agent(const std::string& id);
  Status revoke_agent(const std::string& id);

  // Is this certificate (agent id + fingerprint) the current, unrevoked one? ok(true/false).
  Result<bool> certificate_valid(const std::string& agent_id, const std::string& fingerprint);
  // Ids of revoked agents (for disconnecting them).
  Result<std::vector<std::string>> revoked_agents();

 private:
  class Impl;
  explicit Registry(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace halong::collector
