// The hash-chained audit log: every change an analyst or admin makes, with who, when, what,
// before and after. Each record carries the SHA-256 of the one before; `verify` walks the
// chain and names the first broken link. Kept in the store's "audit" column family.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "core/result.hpp"

namespace halong::collector {

class RocksStore;

struct AuditRecord {
  uint64_t seq = 0;           // 1, 2, 3... no gaps
  int64_t time_us = 0;
  std::string actor;          // user name, "token:<name>", "system"
  std::string action;         // "alert.update", "incident.update", "user.add", ...
  std::string target;         // alert id, incident id, user name...
  boost::json::value before;  // null when not applicable
  boost::json::value after;
  std::string prev_hash;      // hex SHA-256 of the previous record ("" for the first)
  std::string hash;           // hex SHA-256 of this record's canonical form
};

struct AuditFilter {
  std::optional<std::string> actor;
  std::optional<std::string> action;
  std::optional<std::string> target;
  int64_t from_us = INT64_MIN;
  int64_t to_us = INT64_MAX;
  uint64_t before_seq = UINT64_MAX;  // pagination: records with seq < before_seq
  size_t limit = 100;
};

struct AuditVerdict {
  bool ok = true;
  uint64_t records = 0;       // records checked
  uint64_t broken_seq = 0;    // first broken record (when !ok)
  std::string reason;         // what is wrong with it
};

class AuditLog {
 public:
  // The log lives in `store`'s audit family; the store must outlive it.
  explicit AuditLog(RocksStore& store);

  // Appends one record (durably, synced like the store); returns it with seq and hashes.
  Result<AuditRecord> append(int64_t time_us, const std::string& actor, const std::string& action,
                             const std::string& target, boost::json::value before, boost::json::value after);
  // Newest first.
  Result<std::vector<AuditRecord>> list(const AuditFilter& f);
  // Walks the whole chain from the first record.
  Result<AuditVerdict> verify();

 private:
  RocksStore& store_;
  std::mutex mu_;
  std::optional<std::pair<uint64_t, std::string>> last_;  // seq, hash of the newest record
};

boost::json::object audit_to_json(const AuditRecord& r);

// For `halong-collector audit verify`: opens the store in `store_dir` read-only and walks
// the chain. Works while the collector runs.
Result<AuditVerdict> verify_audit_log(const std::string& store_dir);

}  // namespace halong::collector
