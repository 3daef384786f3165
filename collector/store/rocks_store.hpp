// RocksStore: the production AlertStore on RocksDB (layout in collector/store/NOTES.md).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "collector/store/alert_store.hpp"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
class Statistics;
}  // namespace rocksdb

namespace halong::collector {

struct RocksOptions {
  bool sync = true;              // fsync the WAL on every write (acks mean durable)
  bool create_if_missing = true;
  bool read_only = false;        // open for reading only (audit verify while the collector runs)
  size_t block_cache_mb = 256;
  // Cap on the memtables of all families together (RocksDB's db_write_buffer_size): past
  // it RocksDB flushes one (the family whose memtable is oldest). It bounds the store's
  // write memory (each of the 22 families would otherwise hold up to 2 x 64 MiB), and
  // smaller memtables are cheaper to insert into: sustained ingest at 1,000 agents +8% on
  // average at 256 MiB (docs/benchmarks.md, session 7; 512 MiB: no change; 128 MiB: more
  // compaction). 0 = no cap.
  size_t memtable_mb = 256;
  IncidentPolicy incidents;
  // Incident groups (sid | agent | source) kept in memory across all agents, so grouping an
  // alert needs no read of the store (~0.3 KB each). Past it, an agent's cache restarts.
  size_t incident_cache_groups = size_t{1} << 18;
  // A batch of at least twice this many alerts is written in chunks of this size, each
  // chunk's write overlapping the staging of the next (0 = never).
  size_t pipeline_chunk = 512;
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
  // Several agents' batches go into the group queue at once (one batch alone: write_batch,
  // which may write it in chunks).
  std::vector<Result<BatchResult>> write_batches(const std::vector<BatchRef>& batches) override;
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
  // Number of grouped writes so far (RocksDB write groups: each one WAL write, one fsync
  // when sync is on); with alert_count gives the group-commit factor, for /metrics and the
  // benchmark.
  uint64_t write_groups();
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

  // Dictionary of 4-byte numeric ids ("a/<agent>", "g/<agency>", "u/<user>"). Ids given
  // out by dict_assign are "pending" until a write that carries their record succeeds
  // (write_batch puts the records of the pending ids it uses into its own batch).
  Result<uint32_t> dict_get_or_add(const std::string& key);  // persists at once (synced write)
  uint32_t dict_assign(const std::string& key);
  bool dict_pending(const std::string& key);
  void dict_persisted(const std::vector<std::string>& keys);
  std::optional<uint32_t> dict_find(const std::string& key);
  // Agents seen with each agency ("m/" agent(4) agency(4) records): the agency filter and
  // the caller's scope walk these agents' by_agent_status entries.
  static uint64_t pair_id(uint32_t agent, uint32_t agency);
  static std::string pair_key(uint32_t agent, uint32_t agency);
  void pair_add(uint32_t agent, uint32_t agency);  // dict_mu_ held (or during open)
  bool pair_pending(uint32_t agent, uint32_t agency);
  void pairs_persisted(const std::vector<uint64_t>& ids);
  std::vector<uint32_t> agents_of_agency(const std::string& agency);
  std::vector<uint32_t> all_agents();
  std::unordered_set<uint64_t> pairs_, pairs_pending_;
  std::unordered_map<uint32_t, std::vector<uint32_t>> agency_agents_;
  std::atomic<uint8_t> statuses_used_{1};  // bit per TriageStatus present in the store ("new" always)
  std::shared_mutex dict_mu_;
  std::unordered_map<std::string, uint32_t> dict_;
  std::unordered_set<std::string> dict_pending_;
  uint32_t dict_next_ = 1;

  // Writes (see NOTES.md "Writes"): each write_batch stages its own rocksdb::WriteBatch
  // under its agent's lock and writes it; RocksDB's write thread groups concurrent writers
  // into one WAL write + fsync and inserts their memtable entries in parallel.
  struct AgentState;
  struct Staged;
  AgentState& agent_state(const std::string& agent_id);
  AgentState* find_agent_state(const std::string& agent_id);
  Status load_cursor(AgentState& st, const std::string& agent_id);
  void drop_incident_cache(AgentState& st);  // st.mu held
  Status sync_if_unsynced(AgentState& st, const std::string& agent_id);  // st.mu held
  // Stages the alerts with seq > hi into wb.
  Status stage(AgentState& st, const std::string& agent_id, std::span<const Alert> alerts, uint64_t hi,
               rocksdb::WriteBatch& wb, Staged& sg, BatchResult& r);
  void publish(AgentState& st, Staged& sg);
  void emit_runs(rocksdb::WriteBatch& wb);
  struct Request;
  Status check_batch(const std::string& agent_id, const std::vector<Alert>& alerts) const;
  Result<BatchResult> write_grouped(const std::string& agent_id, const std::vector<Alert>& alerts);
  void write_grouped(std::vector<Request>& requests);  // until every request has its result
  std::vector<Result<BatchResult>> run_group(const std::vector<Request*>& group);
  std::mutex group_mu_;
  std::condition_variable group_cv_;
  std::deque<Request*> group_queue_;
  int group_leaders_ = 0;
  bool chunked_active_ = false;  // a chunked write is under way (group_mu_)
  std::unordered_set<std::string> group_agents_;  // agents with a batch in a group being written
  Result<BatchResult> write_chunked(AgentState& st, const std::string& agent_id, std::span<const Alert> alerts);
  struct Writers;
  std::once_flag writers_once_;
  std::unique_ptr<Writers> writers_;
  std::optional<Result<AlertStats>> stats_from_counts(const AlertQuery& q, const StatsRequest& r);
  std::optional<Result<AlertStats>> stats_from_agent_counts(const AlertQuery& q, const StatsRequest& r);
  std::shared_mutex agents_mu_;
  std::unordered_map<std::string, std::unique_ptr<AgentState>> agents_;

  std::mutex write_mu_;  // serialises triage updates with retention (read-modify-write of triage)
  std::mutex sig_mu_;
  std::unordered_set<std::string> sig_seen_;
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> next_incident_{1};
  std::atomic<size_t> cached_groups_{0};  // entries in all agents' incident caches
  std::shared_ptr<rocksdb::Statistics> statistics_;  // write groups for /metrics
};

}  // namespace halong::collector
