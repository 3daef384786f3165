#include "collector/api/auth.hpp"

#include <algorithm>

#include <boost/beast/http/field.hpp>

#include "collector/api/token.hpp"

namespace halong::collector::api {

std::string_view to_string(Role r) {
  switch (r) {
    case Role::admin: return "admin";
    case Role::analyst: return "analyst";
    case Role::auditor: return "auditor";
  }
  return "auditor";
}

std::optional<Role> parse_role(std::string_view s) {
  if (s == "admin") return Role::admin;
  if (s == "analyst") return Role::analyst;
  if (s == "auditor") return Role::auditor;
  return std::nullopt;
}

bool Principal::sees_agency(const std::string& agency) const {
  return !agencies || std::find(agencies->begin(), agencies->end(), agency) != agencies->end();
}

void TokenAuthenticator::add(const std::string& token, Principal p) {
  std::lock_guard lock(mu_);
  tokens_.emplace_back(token, std::move(p));
}

Result<Principal> TokenAuthenticator::authenticate(const Request& req) {
  auto h = req[boost::beast::http::field::authorization];
  constexpr std::string_view kBearer = "Bearer ";
  if (h.empty()) return make_error(ErrorCode::unauthorized, "missing Authorization: Bearer <token>");
  if (!h.starts_with(kBearer)) return make_error(ErrorCode::unauthorized, "Authorization must be 'Bearer <token>'");
  std::string_view tok(h.data() + kBearer.size(), h.size() - kBearer.size());
  std::lock_guard lock(mu_);
  std::optional<Principal> found;
  for (const auto& [t, p] : tokens_)  // compare every token: no early exit timing
    if (secret_equal(t, tok)) found = p;
  if (!found) return make_error(ErrorCode::unauthorized, "invalid token");
  return *found;
}

}  // namespace halong::collector::api
