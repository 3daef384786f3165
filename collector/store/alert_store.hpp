// AlertStore: the narrow interface between the collector's gateway / API and the store.
// Implementations: RocksStore (RocksDB, production) and MemoryStore (tests); both pass
// the same contract test suite (tests/unit/collector_store).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/alert.hpp"
#include "core/result.hpp"

namespace halong::collector {

struct BatchResult {
  uint64_t highest_seq = 0;   // the agent's highest stored seq after this batch
  size_t stored = 0;          // alerts newly stored
  size_t duplicates = 0;      // alerts ignored because their seq was already stored
};

// ---- triage -------------------------------------------------------------------------
enum class TriageStatus : uint8_t { fresh = 0, acknowledged = 1, investigating = 2, resolved = 3, false_positive = 4 };
// "new", "acknowledged", "investigating", "resolved", "false_positive".
std::string_view to_string(TriageStatus s);
std::optional<TriageStatus> parse_triage_status(std::string_view s);

struct Comment {
  std::string author;
  int64_t time_us = 0;
  std::string text;
  bool operator==(const Comment&) const = default;
};

struct Triage {
  TriageStatus status = TriageStatus::fresh;
  std::string assignee;            // user name; empty = unassigned
  std::vector<Comment> comments;
  uint64_t incident = 0;           // 0 = none
  int64_t updated_us = 0;
  std::string updated_by;
  bool operator==(const Triage&) const = default;
};

// A change to an alert's triage; unset fields are left alone.
struct TriageUpdate {
  std::optional<TriageStatus> status;
  std::optional<std::string> assignee;   // "" unassigns
  std::optional<std::string> comment;    // appended
};

// ---- queries ------------------------------------------------------------------------
// An IPv4 or IPv6 network; IPv4 is held as v4-mapped IPv6 (::ffff:a.b.c.d), prefix + 96.
struct Cidr {
  std::array<uint8_t, 16> addr{};
  int prefix = 128;  // 0..128 in the v6 space
  bool contains(const std::array<uint8_t, 16>& ip) const;
  bool operator==(const Cidr&) const = default;
};
// "10.0.0.0/24", "10.0.0.5", "2001:db8::/32", "::1". Error names the text.
Result<Cidr> parse_cidr(std::string_view text);
// Parses an address into the 16-byte (v4-mapped) form; nullopt when it is not an IP.
std::optional<std::array<uint8_t, 16>> parse_ip16(std::string_view text);

struct AlertQuery {
  std::optional<uint64_t> sid;
  std::optional<std::string> agent;
  std::optional<std::string> agency;
  // Agency scope of the caller: nullopt = all agencies; otherwise only these.
  std::optional<std::vector<std::string>> scope;
  std::optional<std::string> engine;       // "suricata" | "sigma"
  std::optional<int> min_severity;         // "severity >= X": alert.severity <= X (1 = most severe)
  std::optional<std::string> category;     // exact
  std::optional<Cidr> src_net;
  std::optional<Cidr> dest_net;
  std::optional<uint16_t> port;            // src or dest
  std::optional<TriageStatus> status;
  std::optional<std::string> assignee;     // "" = unassigned
  std::optional<uint64_t> incident;
  std::optional<std::string> text;         // case-insensitive substring of alert.signature
  int64_t from_us = INT64_MIN;        // inclusive
  int64_t to_us = INT64_MAX;          // exclusive
  size_t limit = 100;
  std::string cursor;                 // opaque; empty = newest
};

// True when the alert (with its triage) satisfies every filter of q (limit/cursor ignored).
// The one definition of what a filter means, shared by every store.
bool alert_matches(const AlertQuery& q, const Alert& a, const Triage& t);

struct AlertPage {
  std::vector<Alert> alerts;          // newest first
  std::vector<Triage> triage;         // same size as alerts
  std::string next_cursor;            // empty when there is no more
};

// Counts for the dashboard: by a chosen field, and a time histogram, for the same filters.
enum class StatsField { sid, agent, agency, severity, category, engine, status, src_ip, dest_ip, assignee };
std::optional<StatsField> parse_stats_field(std::string_view s);
struct AlertStats {
  uint64_t total = 0;
  std::vector<std::pair<std::string, uint64_t>> by;        // value -> count, count desc, capped
  std::vector<std::pair<int64_t, uint64_t>> histogram;      // bucket start (µs) -> count, ascending
};
struct StatsRequest {
  StatsField field = StatsField::sid;
  int64_t bucket_us = 3600LL * 1000000;  // histogram bucket width
  size_t top = 20;
};

// An incident: alerts with the same signature, agent and source ip within a window.
struct Incident {
  uint64_t id = 0;
  uint64_t sid = 0;
  std::string agent;
  std::string agency;
  std::string src_ip;
  std::string signature;
  uint64_t count = 0;
  int64_t first_seen_us = 0;
  int64_t last_seen_us = 0;
  TriageStatus status = TriageStatus::fresh;
  std::string assignee;
  bool operator==(const Incident&) const = default;
};
struct IncidentPolicy {
  int64_t window_us = 3600LL * 1000000;  // alerts further apart than this start a new incident
  bool reopen_closed = true;              // new alert for a resolved/false_positive incident: reopen (true) or new incident (false)
};

class AlertStore {
 public:
  virtual ~AlertStore() = default;

  // Stores the alerts of one agent and the agent's new highest seq in one atomic write;
  // alerts whose seq is <= the highest already stored are ignored (exactly-once). The
  // write is durable (WAL synced) when this returns ok. Alerts are grouped into incidents.
  virtual Result<BatchResult> write_batch(const std::string& agent_id, const std::vector<Alert>& alerts) = 0;

  // Batches of several agents (each agent at most once), each stored exactly as by
  // write_batch, with one result per batch in order. A store that can (RocksStore) writes
  // them in as few synced writes as it can; this default writes them one by one.
  struct BatchRef {
    const std::string* agent_id;
    const std::vector<Alert>* alerts;
  };
  virtual std::vector<Result<BatchResult>> write_batches(const std::vector<BatchRef>& batches) {
    std::vector<Result<BatchResult>> out;
    out.reserve(batches.size());
    for (const auto& b : batches) out.push_back(write_batch(*b.agent_id, *b.alerts));
    return out;
  }

  // Highest seq stored for the agent (0 when none).
  virtual Result<uint64_t> highest_seq(const std::string& agent_id) = 0;

  // One alert by its id ("<agent>:<seq>"); not_found when absent.
  virtual Result<Alert> get(const std::string& id) = 0;

  // Newest first, filtered, paginated. invalid_argument for a malformed cursor.
  virtual Result<AlertPage> query(const AlertQuery& q) = 0;

  // ---- triage / incidents / stats (issue 6) ----
  virtual Result<Triage> get_triage(const std::string& id) = 0;
  // Applies the update; returns the triage before and after (for the audit log).
  virtual Result<std::pair<Triage, Triage>> update_triage(const std::string& id, const TriageUpdate& u,
                                                          const std::string& actor, int64_t now_us) = 0;
  virtual Result<AlertStats> stats(const AlertQuery& q, const StatsRequest& r) = 0;
  virtual Result<Incident> get_incident(uint64_t id) = 0;
  // Newest (last seen) first; scope/agency/status filters from q are honoured; limit from q.
  virtual Result<std::vector<Incident>> list_incidents(const AlertQuery& q) = 0;
  // Sets the incident's status/assignee (and comment) and applies the same to its alerts.
  // Returns the incident before and after.
  virtual Result<std::pair<Incident, Incident>> update_incident(uint64_t id, const TriageUpdate& u,
                                                                const std::string& actor, int64_t now_us) = 0;
  // Deletes alerts with timestamp < cutoff_us with their index and triage entries; returns
  // how many were deleted.
  virtual Result<uint64_t> delete_before(int64_t cutoff_us) = 0;
  // Number of alerts stored.
  virtual uint64_t alert_count() = 0;
};

}  // namespace halong::collector
