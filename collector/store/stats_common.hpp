// Internal: accumulating AlertStats from matching alerts, and the incident grouping rule,
// shared by MemoryStore and RocksStore so both mean the same thing.
#pragma once

#include <string>
#include <map>
#include <unordered_map>

#include "collector/store/alert_store.hpp"

namespace halong::collector::detail {

class StatsBuilder {
 public:
  explicit StatsBuilder(const StatsRequest& r) : r_(r) {}
  void add(const Alert& a, const Triage& t);
  // n alerts with field value `value` in the bucket holding timestamp `ts`.
  void add_n(const std::string& value, int64_t ts, uint64_t n);
  AlertStats finish();

 private:
  StatsRequest r_;
  uint64_t total_ = 0;
  std::unordered_map<std::string, uint64_t> by_;
  std::map<int64_t, uint64_t> hist_;
};

std::string incident_group_key(const Alert& a);
bool is_closed(TriageStatus s);

// Decides what a new alert does to the open incident of its group (if any): returns true
// when it joins `open` (which is updated: count, last seen, reopened), false when a new
// incident must be started.
bool join_incident(Incident& open, const Alert& a, const IncidentPolicy& p);
Incident new_incident(uint64_t id, const Alert& a);

// Applies a triage update; returns false (and leaves t alone) if nothing to do is not an error.
void apply_update(Triage& t, const TriageUpdate& u, const std::string& actor, int64_t now_us);

}  // namespace halong::collector::detail
