// People: users with a role and an agency scope, Argon2id passwords (libargon2), API tokens
// for scripts, browser sessions with a CSRF token, and a login rate limit. Users and tokens
// are kept in the store's "users" / "tokens" column families; sessions in "sessions" (keyed by
// the SHA-256 of the cookie value), so a restart of the collector logs nobody out; the
// last-use time is written at most once a minute per session. Every change is for the caller to audit (ApiHandler does).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "collector/api/auth.hpp"
#include "core/result.hpp"

namespace halong::collector {
class RocksStore;
}

namespace halong::collector::api {

struct User {
  std::string name;
  Role role = Role::auditor;
  std::optional<std::vector<std::string>> agencies;  // nullopt = all
  std::string password_hash;                         // Argon2id encoded ("$argon2id$v=19$...")
  int64_t created_us = 0;
};

struct UserOptions {
  uint32_t argon2_t_cost = 3;
  uint32_t argon2_m_cost_kib = 64 * 1024;   // 64 MiB (OWASP-level); tests lower it
  uint32_t argon2_parallelism = 1;
  size_t min_password = 12;
  int64_t session_idle_us = 8LL * 3600 * 1000000;
  int login_failures = 5;                   // failures per user name within the window...
  int64_t login_window_us = 300LL * 1000000;  // ...before logins for it are refused (429)
};

struct Session {
  std::string id;       // cookie value (random, 256 bits)
  std::string csrf;     // must come back in X-CSRF-Token on state-changing calls
  std::string user;
  int64_t last_used_us = 0;
};

struct TokenInfo {
  std::string id;       // public id (for listing / revoking)
  std::string user;
  std::string label;
  int64_t created_us = 0;
};

class UserDirectory {
 public:
  using Clock = std::function<int64_t()>;
  UserDirectory(RocksStore& store, Clock now, UserOptions opt = {});

  // invalid_argument for a bad name/password/role, already_exists.
  Result<User> add_user(const std::string& name, const std::string& password, Role role,
                        std::optional<std::vector<std::string>> agencies);
  Result<User> get_user(const std::string& name);
  Result<std::vector<User>> list_users();
  Status delete_user(const std::string& name);  // also ends its sessions and revokes its tokens

  // Password login: the session, or unauthorized ("bad user name or password", the same
  // for both), or resource_exhausted when the user name is rate-limited.
  Result<Session> login(const std::string& name, const std::string& password);
  void logout(const std::string& session_id);
  // The session's principal (touching it), unauthorized when unknown or expired.
  Result<std::pair<Principal, Session>> check_session(const std::string& session_id);

  // API tokens: the secret is returned once and stored only as its SHA-256.
  Result<std::pair<TokenInfo, std::string>> create_token(const std::string& user, const std::string& label);
  Result<Principal> check_token(const std::string& secret);
  Result<std::vector<TokenInfo>> list_tokens(const std::string& user);
  Status revoke_token(const std::string& id);

  Result<Principal> principal_of(const std::string& user);

 private:
  RocksStore& store_;
  Clock now_;
  UserOptions opt_;
  std::mutex mu_;
  std::map<std::string, Session> sessions_;              // cache of the store's "sessions" family
  std::map<std::string, int64_t> persisted_use_;         // session id -> last_used_us last written
  std::map<std::string, std::vector<int64_t>> failures_;  // user name -> failure times
  void persist_session(const Session& s);                // under mu_
  void forget_session(const std::string& id);            // under mu_
};

// Authenticates, in order: "Authorization: Bearer <t>" against the static tokens (the
// data-dir admin token) then the directory's API tokens; else the session cookie
// "halong_session", which for POST/PATCH/PUT/DELETE also needs a matching X-CSRF-Token.
class DirectoryAuthenticator final : public Authenticator {
 public:
  DirectoryAuthenticator(UserDirectory& dir, TokenAuthenticator& static_tokens) : dir_(dir), static_(static_tokens) {}
  Result<Principal> authenticate(const Request& req) override;

 private:
  UserDirectory& dir_;
  TokenAuthenticator& static_;
};

// Cookie value of `name` in a Cookie header, empty when absent.
std::string cookie_value(std::string_view header, std::string_view name);

}  // namespace halong::collector::api
