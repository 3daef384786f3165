// RAII wrappers around Hyperscan, shared by the network and the log engine.
//
// A Database is immutable once compiled and shared by all threads; each thread owns a
// Scratch (clone the prototype with Scratch::clone). Compile errors name the pattern.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <hs/hs.h>

#include "core/result.hpp"

namespace halong::hs {

struct Pattern {
  std::string expression;  // Hyperscan regex syntax (use literal_to_regex for literals)
  unsigned flags = 0;      // HS_FLAG_*
  unsigned id = 0;         // reported to the match callback
};

class Database {
 public:
  Database() = default;
  explicit Database(hs_database_t* db) : db_(db, &hs_free_database) {}
  hs_database_t* get() const { return db_.get(); }
  explicit operator bool() const { return db_ != nullptr; }
  size_t size_bytes() const;

  // Serialized form for the on-disk cache; deserialize checks Hyperscan's own header.
  Result<std::string> serialize() const;
  static Result<Database> deserialize(const std::string& bytes);

 private:
  std::shared_ptr<hs_database_t> db_{nullptr, &hs_free_database};
};

class Scratch {
 public:
  Scratch() = default;
  // Allocates scratch for `db` (or grows this one to fit it too).
  Status allocate_for(const Database& db);
  Result<Scratch> clone() const;
  hs_scratch_t* get() const { return s_.get(); }

 private:
  struct Free {
    void operator()(hs_scratch_t* s) const { hs_free_scratch(s); }
  };
  std::unique_ptr<hs_scratch_t, Free> s_;
};

// Compiles `patterns` in block mode (mode = HS_MODE_BLOCK) or another mode. On error
// the message names the offending pattern's index in `patterns` and its expression.
Result<Database> compile(const std::vector<Pattern>& patterns, unsigned mode = HS_MODE_BLOCK);

// Escapes bytes so that Hyperscan treats them literally (\xNN for non-alphanumerics).
std::string literal_to_regex(std::string_view bytes);

// "hyperscan 5.4.0 ..." plus the CPU features the platform supports: part of the
// compiled-ruleset cache key.
std::string version_and_platform();

}  // namespace halong::hs
