// MemoryStore: the in-memory AlertStore for tests and fakes. Same contract as RocksStore
// (tests/unit/collector_store runs one suite against both); queries are brute-force scans.
#pragma once

#include <map>
#include <mutex>

#include "collector/store/alert_store.hpp"

namespace halong::collector {

class MemoryStore final : public AlertStore {
 public:
  explicit MemoryStore(IncidentPolicy policy = {}) : policy_(policy) {}

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

 private:
  struct Rec {
    Alert alert;
    Triage triage;
  };
  uint32_t agent_num(const std::string& agent);
  std::string* find_key(const std::string& id);

  IncidentPolicy policy_;
  std::mutex mu_;
  std::map<std::string, uint32_t> agent_nums_;
  std::map<std::string, uint64_t> cursors_;
  std::map<std::string, Rec> alerts_;               // alert key -> record
  std::map<std::string, std::string> ids_;          // alert id -> alert key
  std::map<uint64_t, Incident> incidents_;
  std::map<std::string, uint64_t> open_incidents_;  // sid|agent|src -> incident id
  uint64_t next_incident_ = 1;
};

}  // namespace halong::collector
