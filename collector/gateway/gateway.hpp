// Gateway: the collector's agent endpoint. TLS WebSocket server (Boost.Beast), path /agent/v1.
//
// Per connection: TLS handshake -> WebSocket upgrade on /agent/v1 -> hello (token checked) ->
// welcome{agent_id, highest_seq from the store} -> then alert batches are read, decoded and
// queued while the previous store write of this connection is in flight; the next write
// takes every queued batch in one AlertStore::write_batch (durable on return), and only then
// is each of those batches acked, in order. One write per connection is in the store at a
// time (so one agent's alerts are stored in the order sent); the read-ahead is bounded
// (max_queued_batches / max_queued_alerts, then TCP back-pressure). The writes of all
// connections wait in one queue; two writer threads each take what is queued (one write
// per agent, up to 16,384 alerts) into one AlertStore::write_batches call, which the store
// makes one synced write (one fsync serves many agents).
//
// A frame that does not decode, an unexpected message or an oversized frame gets an error
// message (or close code 1009 for oversized) and that connection is closed; others are not
// affected. A store failure (disk full...) is answered with error{code:"unavailable",
// retry_after_ms} and the connection closed; stats().ingest_stalled says so until a write
// succeeds again.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "collector/gateway/health.hpp"
#include "collector/gateway/registry.hpp"
#include "collector/store/alert_store.hpp"
#include "core/result.hpp"
#include "core/wire.hpp"

namespace halong::collector {

struct GatewayOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;                        // 0: any free port; see Gateway::port()
  std::filesystem::path cert_file;          // PEM certificate (ensure_server_certificate)
  std::filesystem::path key_file;           // PEM private key
  std::string enrollment_token;             // shared token accepted in hello (walking skeleton); empty: none
  // Enrollment + mutual TLS (issue 5). With a registry, agents enroll on this endpoint
  // (CSR signed with cert_file/key_file as the CA) and then connect with their certificate;
  // identity and agency come from it. Revoked agents are disconnected (poll below) and refused.
  Registry* registry = nullptr;
  std::chrono::milliseconds registry_poll{1'000};
  // Health (issue 5 item 4): connections, frames, heartbeats and ruleset reports feed it;
  // every health_sweep the agents that went offline are logged and passed to on_agent_offline
  // (the collector raises an alert for each there).
  HealthTracker* health = nullptr;
  std::chrono::milliseconds health_sweep{5'000};
  std::function<void(const std::string& agent_id)> on_agent_offline;
  size_t max_frame_bytes = wire::kMaxFrameBytes;
  std::chrono::milliseconds handshake_timeout{10'000};  // TLS + upgrade + hello
  std::chrono::milliseconds idle_timeout{60'000};       // no frame (pings included) for this long
  int io_threads = 1;
  int store_threads = 16;                   // threads for the store's other calls (hello checks, cursors); writes: see above
  // Read-ahead per connection: while one store write of the agent is in flight, up to this
  // many further batches / alerts are read and decoded; the next write takes them all (up
  // to max_write_alerts) in one write_batch. At the limit the connection is not read
  // (TCP back-pressure). Acks still come only after the write that holds the batch.
  size_t max_queued_batches = 16;
  size_t max_queued_alerts = 16'384;
  size_t max_write_alerts = 16'384;
  // The same bound over all connections (decoded alerts held in memory, ~1.5 KB each): past
  // it a connection that already has a batch queued is not read until the total falls, so
  // a thousand agents flushing their spools at once cannot exhaust the collector's memory.
  size_t max_queued_alerts_total = 262'144;
  uint64_t retry_after_ms = 5'000;          // told to agents when the store refuses a write
  // Disk guard: before each write, the free space of the filesystem holding `store_dir` is
  // checked; below min_free_bytes the batch is refused like a failed write (retry-after,
  // ingest_stalled) without touching the store. RocksDB must never hit ENOSPC: Debian's
  // librocksdb 7.8 aborts the process on a failed WAL write (assertion in
  // WritableFileWriter), and flushes/compactions need headroom. Empty dir or 0: no guard.
  std::filesystem::path store_dir;
  uint64_t min_free_bytes = 256ull << 20;
};

struct GatewayStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_active = 0;
  uint64_t tls_failures = 0;        // handshake failed (no/bad certificate, not TLS...)
  uint64_t auth_failures = 0;       // wrong token, revoked or superseded certificate, refused enrollment
  uint64_t enrollments = 0;
  uint64_t protocol_errors = 0;     // garbage, truncated, oversized, unexpected frames
  uint64_t batches_stored = 0;
  uint64_t store_writes = 0;        // write_batch calls that stored batches (batches_stored / store_writes = read-ahead merge)
  uint64_t alerts_stored = 0;
  uint64_t alerts_duplicate = 0;
  uint64_t store_errors = 0;
  uint64_t queued_alerts = 0;       // read ahead, decoded, waiting for the store (all connections)
  bool ingest_stalled = false;      // the last store write failed (disk full...); cleared by the next success
  std::string last_store_error;
};

// Called (from a gateway thread) with every heartbeat's stats JSON text; see health.hpp.
using HeartbeatSink = std::function<void(const std::string& agent_id, const std::string& stats_json)>;
// Called with each agent's report after a ruleset push (ok, or why it kept the old one).
using RulesetStatusSink = std::function<void(const std::string& agent_id, const wire::RulesetStatus& status)>;

class Gateway {
 public:
  Gateway(GatewayOptions opts, AlertStore& store);
  ~Gateway();  // stops
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Loads the certificate, binds and starts the threads. Fails with io_error when the
  // address cannot be bound, invalid_argument when the certificate or key cannot be used.
  Status start();
  // Closes the listener and every connection, waits for the threads. Batches whose write
  // already started complete (and stay stored); their acks are not sent (agents resend,
  // the store ignores the duplicates). Idempotent.
  void stop();

  uint16_t port() const;  // the bound port (after start)
  GatewayStats stats() const;
  std::vector<std::string> connected_agents() const;
  // Closes every connection of this agent at once. Returns how many were closed.
  size_t disconnect_agent(const std::string& agent_id);
  // Marks the agent revoked in the registry and disconnects it at once.
  Status revoke_agent(const std::string& agent_id);

  void set_heartbeat_sink(HeartbeatSink sink);        // before start()
  void set_ruleset_status_sink(RulesetStatusSink sink);  // before start()

  // Makes `rs` the ruleset every agent should run: sent now to every connected agent and,
  // on connect, to every agent whose hello reports another version. The caller validated
  // and stored it (versioned) beforehand; call it at start with the current stored one.
  // Returns the number of agents it was sent to now.
  size_t push_ruleset(wire::RulesetPush rs);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace halong::collector
