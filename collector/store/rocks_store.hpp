// RocksStore: the production AlertStore on RocksDB (layout in collector/store/NOTES.md).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "collector/store/alert_store.hpp"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace halong::collector {

struct RocksOptions {
  bool sync = true;              // fsync the WAL on every write (acks mean durable)
  bool create_if_missing = true;
  bool read_only = false;        // open for reading only (audit verify while the collector runs)
  size_t block_cache_mb = 256;
  IncidentPolicy incidents;
};

class RocksStore final : public AlertStore {
 public:
  // Opens (or creates) the store in `dir`. A missing directory with create_if_missing=false,
  // a corrupt or foreign database returns storage_error naming the directory and RocksDB's
  // status: the store is never half-opened.
  static Result<std::unique_ptr<RocksStore>> open(const std::string& dir, const RocksOptions& o = {});
  ~RocksStore() override;
  RocksStore(const RocksStore&) = delete;
  RocksStore& operator=(const RocksStore&) = delete;

  Result<BatchResult> write_batch(const std::string& agent_id, const std::vector<Alert>& alerts) override;
  Result<uint64_t> highest_seq(const std::string& agent_id) override;
  Result<Alert> get(const std::string& id) override;
  Result<AlertPage> query(const AlertQuery& q) override;
  Result<Triage> get_triage(const std::string& id) override;
  Result<std::pair<Triage, Triage>> update_triage(const std::string& id, const TriageUpdate& u,
                                                  const std::string& actor, int64_t now_us) override;
  Result<AlertStats> stats(const AlertQuery& q, const StatsRequest& r) override;
  Result<Incident> get_incident(uint64_t id) override;
  Result<std::vector<Incident>> list_incidents(const AlertQuery& q) override;
  Result<std::pair<Incident, Incident>> update_incident(uint64_t id, const TriageUpdate& u,
                                                        const std::string& actor, int64_t now_us) override;
  Result<uint64_t> delete_before(int64_t cutoff_us) override;
  uint64_t alert_count() override;

  // For the other record kinds kept in the same database (audit, users, tokens):
  // the database and a family by name ("audit", "users", "tokens", "sessions"); null if unknown.
  rocksdb::DB* db() { return db_.get(); }
  rocksdb::ColumnFamilyHandle* family(const std::string& name) const;
  bool sync() const { return opt_.sync; }
  // A RocksDB property ("rocksdb.estimate-num-keys"...) of the alerts family, for /metrics.
  std::string property(const std::string& name) const;
  const std::string& dir() const { return dir_; }
  // Number of grouped writes so far (each one rocksdb::Write); with alert_count gives the
  // group-commit factor, for /metrics and the benchmark.
  uint64_t write_groups() { std::lock_guard l(gc_mu_); return groups_; }
  // Prometheus text for the store: alerts stored, grouped writes, RocksDB sizes and
  // compaction state (pass to ApiOptions::extra_metrics).
  std::string metrics_text();
  // Flushes every memtable to SST files (benchmarks, before measuring size).
  Status flush();

  struct Impl;

 private:
  RocksStore() = default;
  std::string dir_;
  RocksOptions opt_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unordered_map<std::string, rocksdb::ColumnFamilyHandle*> by_name_;
  rocksdb::ColumnFamilyHandle* cf(int i) const { return handles_[static_cast<size_t>(i)]; }

  // Dictionary of 4-byte numeric ids ("a/<agent>", "g/<agency>", "u/<user>").
  Result<uint32_t> dict_get_or_add(const std::string& key);
  std::optional<uint32_t> dict_find(const std::string& key);
  Status apply_counts(rocksdb::WriteBatch& wb, const std::map<std::string, int64_t>& deltas);
  std::optional<Result<AlertStats>> stats_from_counts(const AlertQuery& q, const StatsRequest& r);
  Result<uint64_t> highest_seq_locked(const std::string& agent_id);
  std::mutex dict_mu_;
  std::unordered_map<std::string, uint32_t> dict_;
  uint32_t dict_next_ = 1;

  // Group commit (see write_batch).
  struct GroupState;
  struct PendingWrite;
  void commit_group(const std::vector<PendingWrite*>& group);
  Status stage(const std::string& agent_id, const std::vector<Alert>& alerts, rocksdb::WriteBatch& wb, GroupState& g,
               BatchResult& r);
  std::mutex gc_mu_;
  std::condition_variable gc_cv_;
  std::deque<PendingWrite*> gc_queue_;
  bool gc_leader_ = false;
  uint64_t groups_ = 0;

  std::mutex write_mu_;                                   // one writer at a time (see NOTES.md)
  std::unordered_map<std::string, uint64_t> cursor_cache_;
  std::mutex sig_mu_;
  std::unordered_set<std::string> sig_seen_;
  std::atomic<uint64_t> count_{0};
  uint64_t next_incident_ = 1;
};

}  // namespace halong::collector
