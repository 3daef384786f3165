// AlertStore: the narrow interface between the collector's gateway / API and the store.
// Implementations: RocksStore (RocksDB, production) and MemoryStore (tests); both pass
// the same contract test suite (tests/unit/collector_store).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/alert.hpp"
#include "core/result.hpp"

namespace halong::collector {

struct BatchResult {
  uint64_t highest_seq = 0;   // the agent's highest stored seq after this batch
  size_t stored = 0;          // alerts newly stored
  size_t duplicates = 0;      // alerts ignored because their seq was already stored
};

struct AlertQuery {
  std::optional<uint64_t> sid;
  std::optional<std::string> agent;
  int64_t from_us = INT64_MIN;        // inclusive
  int64_t to_us = INT64_MAX;          // exclusive
  size_t limit = 100;
  std::string cursor;                 // opaque; empty = newest
};

struct AlertPage {
  std::vector<Alert> alerts;          // newest first
  std::string next_cursor;            // empty when there is no more
};

class AlertStore {
 public:
  virtual ~AlertStore() = default;

  // Stores the alerts of one agent and the agent's new highest seq in one atomic write;
  // alerts whose seq is <= the highest already stored are ignored (exactly-once). The
  // write is durable (WAL synced) when this returns ok.
  virtual Result<BatchResult> write_batch(const std::string& agent_id, const std::vector<Alert>& alerts) = 0;

  // Highest seq stored for the agent (0 when none).
  virtual Result<uint64_t> highest_seq(const std::string& agent_id) = 0;

  // One alert by its id ("<agent>:<seq>"); not_found when absent.
  virtual Result<Alert> get(const std::string& id) = 0;

  // Newest first, filtered, paginated.
  virtual Result<AlertPage> query(const AlertQuery& q) = 0;
};

}  // namespace halong::collector
