#include "collector/api/users.hpp"

#include <argon2.h>
#include <openssl/evp.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <optional>
#include <functional>
#include <cstring>

#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>

#include "collector/api/token.hpp"
#include "collector/store/rocks_store.hpp"

namespace halong::collector::api {

namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
    s.push_back(hex[md[i] >> 4]);
    s.push_back(hex[md[i] & 15]);
  }
  return s;
}

bool valid_name(const std::string& n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' || c == '@';
  });
}

std::string user_to_json(const User& u) {
  json::object o{{"name", u.name}, {"role", to_string(u.role)}, {"password_hash", u.password_hash}, {"created_us", u.created_us}};
  if (u.agencies) {
    json::array a;
    for (auto& s : *u.agencies) a.emplace_back(s);
    o["agencies"] = std::move(a);
  } else {
    o["agencies"] = nullptr;
  }
  return json::serialize(o);
}

Result<User> user_from_json(std::string_view v) {
  boost::system::error_code ec;
  auto j = json::parse(v, ec);
  if (ec || !j.is_object()) return make_error(ErrorCode::storage_error, "user record is not JSON");
  try {
    const auto& o = j.as_object();
    User u;
    u.name = json::value_to<std::string>(o.at("name"));
    auto r = parse_role(json::value_to<std::string>(o.at("role")));
    if (!r) return make_error(ErrorCode::storage_error, "user record has a bad role");
    u.role = *r;
    u.password_hash = json::value_to<std::string>(o.at("password_hash"));
    u.created_us = o.at("created_us").to_number<int64_t>();
    if (!o.at("agencies").is_null()) u.agencies = json::value_to<std::vector<std::string>>(o.at("agencies"));
    return u;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::storage_error, std::string("user record: ") + e.what());
  }
}

Error db_err(const std::string& what, const rocksdb::Status& s) {
  return make_error(ErrorCode::storage_error, what + ": " + s.ToString());
}

// A stored session ("sessions" family, keyed by the SHA-256 of the cookie value): its JSON
// value, and back (nullopt when the value is not a session).
std::string encode_session(const Session& s) {
  return json::serialize(json::object{{"csrf", s.csrf}, {"user", s.user}, {"last_used_us", s.last_used_us}});
}
std::optional<Session> decode_session(std::string_view value, std::string id = {}) {
  boost::system::error_code ec;
  auto j = json::parse(value, ec);
  const json::object* o = !ec && j.is_object() ? &j.as_object() : nullptr;
  const json::value* csrf = o ? o->if_contains("csrf") : nullptr;
  const json::value* user = o ? o->if_contains("user") : nullptr;
  const json::value* used = o ? o->if_contains("last_used_us") : nullptr;
  if (!csrf || !csrf->is_string() || !user || !user->is_string() || !used || !used->is_int64()) return std::nullopt;
  return Session{std::move(id), std::string(csrf->as_string()), std::string(user->as_string()), used->as_int64()};
}
// Deletes every stored session `drop` says so of (and any value that is not a session).
rocksdb::Status delete_stored_sessions(RocksStore& store, const std::function<bool(const Session&)>& drop) {
  std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator(rocksdb::ReadOptions(), store.family("sessions")));
  rocksdb::WriteBatch wb;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto sess = decode_session(std::string_view(it->value().data(), it->value().size()));
    if (!sess || drop(*sess)) wb.Delete(store.family("sessions"), it->key());
  }
  if (!it->status().ok()) return it->status();
  if (wb.Count() == 0) return rocksdb::Status::OK();
  rocksdb::WriteOptions wo;
  wo.sync = store.sync();
  return store.db()->Write(wo, &wb);
}

}  // namespace

UserDirectory::UserDirectory(RocksStore& store, Clock now, UserOptions opt)
    : store_(store), now_(std::move(now)), opt_(opt) {}

Result<User> UserDirectory::add_user(const std::string& name, const std::string& password, Role role,
                                     std::optional<std::vector<std::string>> agencies) {
  if (!valid_name(name)) return make_error(ErrorCode::invalid_argument, "user name must be 1..64 of [A-Za-z0-9._@-]: '" + name + "'");
  if (password.size() < opt_.min_password)
    return make_error(ErrorCode::invalid_argument, "password must have at least " + std::to_string(opt_.min_password) + " characters");
  if (password.size() > 1024) return make_error(ErrorCode::invalid_argument, "password longer than 1024 bytes");
  auto salt = random_hex(16);
  if (!salt) return salt.error();
  size_t len = argon2_encodedlen(opt_.argon2_t_cost, opt_.argon2_m_cost_kib, opt_.argon2_parallelism, 32, 32, Argon2_id);
  std::string encoded(len, '\0');
  int rc = argon2id_hash_encoded(opt_.argon2_t_cost, opt_.argon2_m_cost_kib, opt_.argon2_parallelism, password.data(),
                                 password.size(), salt->data(), 32, 32, encoded.data(), len);
  if (rc != ARGON2_OK) return make_error(ErrorCode::internal, std::string("argon2: ") + argon2_error_message(rc));
  encoded.resize(std::strlen(encoded.c_str()));
  User u{name, role, std::move(agencies), std::move(encoded), now_()};
  std::lock_guard lock(mu_);
  std::string existing;
  auto st = store_.db()->Get(rocksdb::ReadOptions(), store_.family("users"), name, &existing);
  if (st.ok()) return make_error(ErrorCode::already_exists, "user '" + name + "' already exists");
  if (!st.IsNotFound()) return db_err("reading user " + name, st);
  rocksdb::WriteOptions wo;
  wo.sync = store_.sync();
  st = store_.db()->Put(wo, store_.family("users"), name, user_to_json(u));
  if (!st.ok()) return db_err("storing user " + name, st);
  return u;
}

Result<User> UserDirectory::get_user(const std::string& name) {
  std::string v;
  auto st = store_.db()->Get(rocksdb::ReadOptions(), store_.family("users"), name, &v);
  if (st.IsNotFound()) return make_error(ErrorCode::not_found, "no user '" + name + "'");
  if (!st.ok()) return db_err("reading user " + name, st);
  return user_from_json(v);
}

Result<std::vector<User>> UserDirectory::list_users() {
  std::vector<User> out;
  std::unique_ptr<rocksdb::Iterator> it(store_.db()->NewIterator(rocksdb::ReadOptions(), store_.family("users")));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto u = user_from_json(it->value().ToStringView());
    if (!u) return u.error();
    out.push_back(std::move(*u));
  }
  if (!it->status().ok()) return db_err("listing users", it->status());
  return out;
}

Status UserDirectory::delete_user(const std::string& name) {
  auto u = get_user(name);
  if (!u) return u.error();
  auto toks = list_tokens(name);
  if (!toks) return toks.error();
  for (auto& t : *toks)
    if (auto s = revoke_token(t.id); !s) return s;
  rocksdb::WriteOptions wo;
  wo.sync = store_.sync();
  auto st = store_.db()->Delete(wo, store_.family("users"), name);
  if (!st.ok()) return db_err("deleting user " + name, st);
  std::lock_guard lock(mu_);
  for (auto it = sessions_.begin(); it != sessions_.end();)
    it = it->second.user == name ? sessions_.erase(it) : std::next(it);
  // Stored sessions of the user (also those not cached since a restart).
  st = delete_stored_sessions(store_, [&](const Session& x) { return x.user == name; });
  if (!st.ok()) return db_err("ending the sessions of " + name, st);
  return {};
}

void UserDirectory::persist_session(const Session& s) {
  rocksdb::WriteOptions wo;
  wo.sync = store_.sync();
  // A session that cannot be stored still works until the collector restarts.
  (void)store_.db()->Put(wo, store_.family("sessions"), sha256_hex(s.id), encode_session(s));
  persisted_use_[s.id] = s.last_used_us;
}

void UserDirectory::forget_session(const std::string& id) {
  sessions_.erase(id);
  persisted_use_.erase(id);
  rocksdb::WriteOptions wo;
  wo.sync = store_.sync();
  (void)store_.db()->Delete(wo, store_.family("sessions"), sha256_hex(id));
}

Result<Principal> UserDirectory::principal_of(const std::string& name) {
  auto u = get_user(name);
  if (!u) {
    if (u.error().code == ErrorCode::not_found) return make_error(ErrorCode::unauthorized, "user no longer exists");
    return u.error();
  }
  return Principal{u->name, u->role, u->agencies};
}

Result<Session> UserDirectory::login(const std::string& name, const std::string& password) {
  const int64_t now = now_();
  {
    std::lock_guard lock(mu_);
    auto& f = failures_[name];
    f.erase(std::remove_if(f.begin(), f.end(), [&](int64_t t) { return t <= now - opt_.login_window_us; }), f.end());
    if (static_cast<int>(f.size()) >= opt_.login_failures)
      return make_error(ErrorCode::resource_exhausted, "too many failed logins for this user; try again later");
  }
  auto u = get_user(name);
  bool ok = u.ok() && argon2id_verify(u->password_hash.c_str(), password.data(), password.size()) == ARGON2_OK;
  if (!u.ok() && u.error().code != ErrorCode::not_found) return u.error();
  std::lock_guard lock(mu_);
  if (!ok) {
    failures_[name].push_back(now);
    return make_error(ErrorCode::unauthorized, "bad user name or password");
  }
  failures_.erase(name);
  auto id = random_hex(32);
  auto csrf = random_hex(32);
  if (!id || !csrf) return make_error(ErrorCode::internal, "random source failed");
  Session s{*id, *csrf, name, now};
  sessions_[s.id] = s;
  persist_session(s);
  // Stored sessions idle past the limit are deleted here (logins are rare; requests are not).
  // A failure only leaves expired sessions stored: they are refused when used anyway.
  (void)delete_stored_sessions(store_, [&](const Session& x) { return now - x.last_used_us > opt_.session_idle_us; });
  return s;
}

void UserDirectory::logout(const std::string& session_id) {
  std::lock_guard lock(mu_);
  forget_session(session_id);
}

Result<std::pair<Principal, Session>> UserDirectory::check_session(const std::string& session_id) {
  Session s;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) {
      // Not cached: a session from before a restart of the collector?
      std::string v;
      auto st = store_.db()->Get(rocksdb::ReadOptions(), store_.family("sessions"), sha256_hex(session_id), &v);
      if (!st.ok()) return make_error(ErrorCode::unauthorized, "no such session (log in again)");
      auto loaded = decode_session(v, session_id);
      if (!loaded) {
        forget_session(session_id);
        return make_error(ErrorCode::unauthorized, "no such session (log in again)");
      }
      persisted_use_[session_id] = loaded->last_used_us;
      it = sessions_.emplace(session_id, std::move(*loaded)).first;
    }
    const int64_t now = now_();
    if (now - it->second.last_used_us > opt_.session_idle_us) {
      forget_session(session_id);
      return make_error(ErrorCode::unauthorized, "session expired (log in again)");
    }
    it->second.last_used_us = now;
    if (now - persisted_use_[session_id] > 60'000'000) persist_session(it->second);
    s = it->second;
  }
  auto p = principal_of(s.user);
  if (!p) return p.error();
  return std::make_pair(std::move(*p), std::move(s));
}

Result<std::pair<TokenInfo, std::string>> UserDirectory::create_token(const std::string& user, const std::string& label) {
  auto u = get_user(user);
  if (!u) return u.error();
  if (label.size() > 128) return make_error(ErrorCode::invalid_argument, "token label longer than 128 bytes");
  auto secret = random_hex(32);
  auto id = random_hex(8);
  if (!secret || !id) return make_error(ErrorCode::internal, "random source failed");
  TokenInfo t{*id, user, label, now_()};
  std::string hash = sha256_hex(*secret);
  json::object o{{"id", t.id}, {"user", t.user}, {"label", t.label}, {"created_us", t.created_us}};
  rocksdb::WriteBatch wb;
  wb.Put(store_.family("tokens"), "h/" + hash, json::serialize(o));
  wb.Put(store_.family("tokens"), "i/" + t.id, hash);
  rocksdb::WriteOptions wo;
  wo.sync = store_.sync();
  auto st = store_.db()->Write(wo, &wb);
  if (!st.ok()) return db_err("storing token", st);
  return std::make_pair(t, "hlt_" + *secret);
}

Result<Principal> UserDirectory::check_token(const std::string& secret) {
  std::string v;
  auto st = store_.db()->Get(rocksdb::ReadOptions(), store_.family("tokens"), "h/" + sha256_hex(secret.starts_with("hlt_") ? secret.substr(4) : secret), &v);
  if (st.IsNotFound()) return make_error(ErrorCode::unauthorized, "invalid token");
  if (!st.ok()) return db_err("reading token", st);
  boost::system::error_code ec;
  auto j = json::parse(v, ec);
  if (ec || !j.is_object() || !j.as_object().if_contains("user") || !j.at("user").is_string())
    return make_error(ErrorCode::storage_error, "token record is not valid");
  return principal_of(std::string(j.at("user").as_string()));
}

Result<std::vector<TokenInfo>> UserDirectory::list_tokens(const std::string& user) {
  std::vector<TokenInfo> out;
  std::unique_ptr<rocksdb::Iterator> it(store_.db()->NewIterator(rocksdb::ReadOptions(), store_.family("tokens")));
  for (it->Seek("h/"); it->Valid() && it->key().starts_with("h/"); it->Next()) {
    boost::system::error_code ec;
    auto j = json::parse(it->value().ToStringView(), ec);
    if (ec || !j.is_object()) continue;
    const auto& o = j.as_object();
    TokenInfo t{std::string(o.at("id").as_string()), std::string(o.at("user").as_string()),
                std::string(o.at("label").as_string()), o.at("created_us").to_number<int64_t>()};
    if (user.empty() || t.user == user) out.push_back(std::move(t));
  }
  return out;
}

Status UserDirectory::revoke_token(const std::string& id) {
  std::string hash;
  auto st = store_.db()->Get(rocksdb::ReadOptions(), store_.family("tokens"), "i/" + id, &hash);
  if (st.IsNotFound()) return make_error(ErrorCode::not_found, "no token " + id);
  if (!st.ok()) return db_err("reading token " + id, st);
  rocksdb::WriteBatch wb;
  wb.Delete(store_.family("tokens"), "h/" + hash);
  wb.Delete(store_.family("tokens"), "i/" + id);
  rocksdb::WriteOptions wo;
  wo.sync = store_.sync();
  st = store_.db()->Write(wo, &wb);
  if (!st.ok()) return db_err("revoking token " + id, st);
  return {};
}

std::string cookie_value(std::string_view h, std::string_view name) {
  while (!h.empty()) {
    auto semi = h.find(';');
    auto part = h.substr(0, semi);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) return std::string(part.substr(eq + 1));
    if (semi == std::string_view::npos) break;
    h.remove_prefix(semi + 1);
  }
  return {};
}

Result<Principal> DirectoryAuthenticator::authenticate(const Request& req) {
  auto authz = req[http::field::authorization];
  if (!authz.empty()) {
    auto p = static_.authenticate(req);
    if (p) return p;
    constexpr std::string_view kBearer = "Bearer ";
    if (!authz.starts_with(kBearer)) return p.error();
    return dir_.check_token(std::string(authz.substr(kBearer.size())));
  }
  std::string sid = cookie_value(req[http::field::cookie], "halong_session");
  if (sid.empty()) return make_error(ErrorCode::unauthorized, "log in, or send Authorization: Bearer <token>");
  auto s = dir_.check_session(sid);
  if (!s) return s.error();
  auto m = req.method();
  if (m != http::verb::get && m != http::verb::head && m != http::verb::options) {
    auto csrf = req["X-CSRF-Token"];
    if (csrf.empty() || !secret_equal(csrf, s->second.csrf))
      return make_error(ErrorCode::forbidden, "missing or wrong X-CSRF-Token for a state-changing call");
  }
  return std::move(s->first);
}

}  // namespace halong::collector::api
