// Uplink: the agent's side of delivery. Alerts are submitted into the durable Spool (which
// assigns each its seq), and a background thread ships them to the collector over a TLS
// WebSocket (/agent/v1): hello -> welcome{highest_seq} -> alert batches, each kept until the
// collector's ack (which comes after the batch is durable in its store). On reconnect it
// resends everything after the collector's highest stored seq; the collector ignores seqs
// it already has, so delivery is exactly-once in the store.
//
// A collector that is not there, refuses, or stalls: a clear log line (once per state
// change, not per attempt) and a retry with exponential backoff plus jitter, never a crash.
// A wrong token: the error is kept in status().last_error and flush_and_wait returns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/spool/spool.hpp"
#include "core/alert.hpp"
#include "core/result.hpp"
#include "core/wire.hpp"

namespace boost::asio {
class io_context;
}

namespace halong::agent {

struct UplinkOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string token;                          // shared enrollment token (hello.token)
  AgentRef agent;                             // id, hostname, agency sent in hello and stamped on alerts
  std::string version = "0.1.0";              // agent software version (hello.version)
  std::string ruleset_version;                // the ruleset running at start (hello.ruleset_version)

  // Server verification: at least one of these. The fingerprint is the SHA-256 of the
  // collector's DER certificate (lowercase hex, ':' allowed); the CA file a PEM bundle.
  std::string pinned_sha256;
  std::filesystem::path ca_file;
  // Mutual TLS (after enrollment): the agent's certificate and key.
  std::filesystem::path client_cert_file;
  std::filesystem::path client_key_file;

  size_t batch_size = 500;                          // alerts per batch (<= wire::kMaxBatchAlerts)
  std::chrono::milliseconds flush_interval{200};    // a partial batch leaves after this
  size_t max_inflight_batches = 16;                 // sent, not yet acked (the collector reads ahead and stores several in one write)
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds ack_timeout{30'000};    // no ack for the oldest in-flight batch -> reconnect
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{30'000};
  std::chrono::milliseconds heartbeat_interval{30'000};  // 0: none

  SpoolOptions spool;  // spool.dir required

  // Run on a caller's io_context instead of a thread of its own (many uplinks in one process:
  // the agent simulator in bench/). The caller runs it (on any number of threads: each uplink
  // keeps to a strand of its own) and keeps it alive until every uplink on it is stopped.
  // Null (the agent): the uplink starts its own thread "hl-uplink".
  boost::asio::io_context* io_context = nullptr;
};

struct UplinkStatus {
  bool connected = false;
  uint64_t connects = 0;          // successful welcomes
  uint64_t connect_failures = 0;
  uint64_t batches_sent = 0;
  uint64_t batches_acked = 0;
  uint64_t alerts_acked = 0;
  uint64_t submitted = 0;
  uint64_t dropped = 0;           // refused or deleted by the spool's overflow policy
  uint64_t collector_highest_seq = 0;
  std::string last_error;         // empty when the last attempt worked
  bool auth_rejected = false;     // the collector refused our token/certificate
  std::vector<uint32_t> ack_latency_us;  // send -> ack of the most recent batches (up to 1024)
  SpoolStats spool;
};

// Returns a JSON object text of extra stats merged into each heartbeat (packets, lines...).
using StatsProvider = std::function<std::string()>;
// Called on the uplink's thread when the collector pushes a ruleset. Must not block: hand
// the files to a thread that compiles them aside, swap them in, and then call
// Uplink::report_ruleset with the outcome.
using RulesetHandler = std::function<void(const wire::RulesetPush& push)>;

class Uplink {
 public:
  // Opens the spool; fails on a bad option or an unusable spool directory.
  static Result<std::unique_ptr<Uplink>> create(UplinkOptions opts);
  ~Uplink();  // stop()

  // Starts the sender thread (connects in the background). Idempotent.
  Status start();
  // Stops the sender thread; unacked alerts stay in the spool for the next start.
  void stop();

  // Stamps the agent identity on `a`, appends it to the spool (assigning a.seq, a.id) and
  // wakes the sender. Thread-safe. Errors: the spool refused (full with keep-oldest policy,
  // disk error); the alert is then counted as dropped. When the spool has dropped alerts
  // (either policy), the agent raises an alert of its own when the collector acks again
  // (so that the overflow policy cannot delete it before it leaves; at most one a minute): sid kSpoolOverflowSid, engine "halong", category
  // "Agent health", with the number dropped so far.
  Result<uint64_t> submit(Alert a);

  // Waits until every alert submitted before the call is acked by the collector, or until
  // `timeout`. Errors: unauthorized (token/certificate refused), unavailable (collector not
  // reachable: names the last error), the sender not started.
  Status flush_and_wait(std::chrono::milliseconds timeout);

  UplinkStatus status() const;
  void set_stats_provider(StatsProvider p);     // before start()
  void set_ruleset_handler(RulesetHandler h);   // before start()
  // Tells the collector which ruleset the agent runs (ok) or why it kept the old one; the
  // version also goes in every later hello. Thread-safe; sent when connected.
  void report_ruleset(const wire::RulesetStatus& status);
  Spool& spool();

 private:
  class Impl;
  explicit Uplink(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

constexpr uint64_t kSpoolOverflowSid = 9'100'001;

// Normalises a fingerprint ("AB:CD..." or "abcd...") to lowercase hex without colons;
// invalid_argument unless it is 64 hex digits.
Result<std::string> normalize_fingerprint(std::string_view fp);

}  // namespace halong::agent
