// Who is calling: a Principal with a role and an agency scope, from the request's
// credentials. The skeleton authenticates bearer tokens (the data-dir admin token and any
// tokens registered); password login and sessions build on the same Principal.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "collector/api/http_types.hpp"
#include "core/result.hpp"

namespace halong::collector::api {

enum class Role { admin, analyst, auditor };
std::string_view to_string(Role r);
std::optional<Role> parse_role(std::string_view s);

struct Principal {
  std::string user;
  Role role = Role::auditor;
  std::optional<std::vector<std::string>> agencies;  // nullopt = all agencies
  bool can_write() const { return role != Role::auditor; }
  bool sees_agency(const std::string& agency) const;
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // unauthorized (no / bad credentials) or the caller.
  virtual Result<Principal> authenticate(const Request& req) = 0;
};

// Bearer tokens: "Authorization: Bearer <token>". Thread-safe.
class TokenAuthenticator final : public Authenticator {
 public:
  void add(const std::string& token, Principal p);
  Result<Principal> authenticate(const Request& req) override;

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, Principal>> tokens_;
};

}  // namespace halong::collector::api
