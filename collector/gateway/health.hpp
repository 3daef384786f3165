// Agent health: online / degraded / offline, from connections and heartbeats.
//
// The gateway feeds it (connect, disconnect, heartbeat, ruleset status); the API exposes
// `all()` / `get(id)` as GET /api/v1/agents and /api/v1/agents/{id}; `sweep()` (called
// periodically, e.g. every few seconds by the gateway) reports agents that just went
// offline so the collector can raise an alert for each.
//
//   offline   no heartbeat (nor any frame) for `offline_after`, or never seen since start
//   degraded  seen recently, but: spool depth grew over the last `growth_window` heartbeats,
//             or the spool dropped alerts, or packets were dropped by the capture, or the
//             last ruleset push failed on the agent (reasons[] says which)
//   online    otherwise
//
// Heartbeat stats keys read (all optional): spool_depth, spool_dropped, packets_dropped,
// ruleset_version, version, uptime_s (docs/delivery.md lists what the agent sends).
// Thread-safe; the clock is injected.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace halong::collector {

enum class AgentState { online, degraded, offline };
const char* to_string(AgentState s);

struct HealthPolicy {
  std::chrono::milliseconds offline_after{90'000};  // ~3 missed heartbeats at the default 30 s
  size_t growth_window = 3;                          // heartbeats of strictly growing spool depth -> degraded
};

struct AgentHealth {
  std::string agent_id;
  AgentState state = AgentState::offline;
  bool connected = false;
  int64_t last_seen_us = 0;          // last frame of any kind
  int64_t last_heartbeat_us = 0;
  std::string ruleset_version;       // as last reported
  bool ruleset_failed = false;
  std::string ruleset_message;
  std::string stats_json = "{}";     // the last heartbeat's stats, as sent
  std::vector<std::string> reasons;  // why degraded / offline
};

class HealthTracker {
 public:
  using NowFn = std::function<int64_t()>;  // UTC microseconds
  explicit HealthTracker(HealthPolicy p = {}, NowFn now = {});

  void on_connect(const std::string& agent);
  void on_disconnect(const std::string& agent);
  void on_frame(const std::string& agent);  // any frame: counts as seen
  void on_heartbeat(const std::string& agent, const std::string& stats_json);
  void on_ruleset_status(const std::string& agent, const std::string& version, bool ok, const std::string& message);

  std::vector<AgentHealth> all() const;  // sorted by id
  std::optional<AgentHealth> get(const std::string& agent) const;
  // Agents that became offline since the previous call (each reported once per outage).
  std::vector<std::string> sweep();
  const HealthPolicy& policy() const { return policy_; }

 private:
  struct Entry {
    AgentHealth h;
    std::vector<uint64_t> depths;  // last growth_window+1 spool depths
    uint64_t last_dropped = 0, last_pkt_dropped = 0;
    bool dropping = false, pkt_dropping = false;
    bool reported_offline = false;
  };
  AgentHealth evaluate(const Entry& e) const;
  HealthPolicy policy_;
  NowFn now_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> agents_;
};

}  // namespace halong::collector
