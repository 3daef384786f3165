#include "core/detect/hs.hpp"

#include <cstdio>

namespace halong::hs {

size_t Database::size_bytes() const {
  size_t n = 0;
  if (db_ && hs_database_size(db_.get(), &n) == HS_SUCCESS) return n;
  return 0;
}

Result<std::string> Database::serialize() const {
  if (!db_) return make_error(ErrorCode::invalid_argument, "hyperscan: no database to serialize");
  char* bytes = nullptr;
  size_t len = 0;
  if (hs_serialize_database(db_.get(), &bytes, &len) != HS_SUCCESS)
    return make_error(ErrorCode::internal, "hyperscan: hs_serialize_database failed");
  std::string out(bytes, len);
  std::free(bytes);
  return out;
}

Result<Database> Database::deserialize(const std::string& bytes) {
  hs_database_t* db = nullptr;
  if (hs_deserialize_database(bytes.data(), bytes.size(), &db) != HS_SUCCESS)
    return make_error(ErrorCode::parse_error, "hyperscan: cached database does not deserialize");
  return Database(db);
}

Status Scratch::allocate_for(const Database& db) {
  hs_scratch_t* s = s_.release();
  if (hs_alloc_scratch(db.get(), &s) != HS_SUCCESS) {
    s_.reset(s);
    return make_error(ErrorCode::resource_exhausted, "hyperscan: hs_alloc_scratch failed");
  }
  s_.reset(s);
  return {};
}

Result<Scratch> Scratch::clone() const {
  Scratch out;
  if (!s_) return out;
  hs_scratch_t* s = nullptr;
  if (hs_clone_scratch(s_.get(), &s) != HS_SUCCESS)
    return make_error(ErrorCode::resource_exhausted, "hyperscan: hs_clone_scratch failed");
  out.s_.reset(s);
  return out;
}

Result<Database> compile(const std::vector<Pattern>& patterns, unsigned mode) {
  if (patterns.empty()) return make_error(ErrorCode::invalid_argument, "hyperscan: no patterns to compile");
  std::vector<const char*> exprs;
  std::vector<unsigned> flags, ids;
  exprs.reserve(patterns.size());
  for (const auto& p : patterns) {
    exprs.push_back(p.expression.c_str());
    flags.push_back(p.flags);
    ids.push_back(p.id);
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  if (hs_compile_multi(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(patterns.size()), mode, nullptr,
                       &db, &err) != HS_SUCCESS) {
    std::string msg = "hyperscan: ";
    msg += err && err->message ? err->message : "compile failed";
    if (err && err->expression >= 0 && static_cast<size_t>(err->expression) < patterns.size()) {
      msg += " (pattern #" + std::to_string(err->expression) + " id " +
             std::to_string(patterns[static_cast<size_t>(err->expression)].id) + ": /" +
             patterns[static_cast<size_t>(err->expression)].expression + "/)";
    }
    hs_free_compile_error(err);
    return make_error(ErrorCode::unsupported, msg);
  }
  return Database(db);
}

std::string literal_to_regex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string version_and_platform() {
  std::string s = hs_version();
  hs_platform_info_t pi{};
  if (hs_populate_platform(&pi) == HS_SUCCESS) {
    s += " tune=" + std::to_string(pi.tune) + " features=" + std::to_string(pi.cpu_features);
  }
  return s;
}

}  // namespace halong::hs
