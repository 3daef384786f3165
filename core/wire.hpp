// Agent <-> collector messages, carried as WebSocket text frames holding one JSON object
// each (path /agent/v1 over TLS). Version 1. docs/delivery.md describes the exchange:
//
//   agent -> enroll {token, hostname, csr}            (no client certificate yet)
//   collector -> enrolled {agent_id, agency, cert, ca} (or error, then close)
//
//   agent -> hello {token?, agent, version, ruleset_version}   (mTLS: token empty)
//   collector -> welcome {agent_id, agency, highest_seq, ruleset_version}
//                                                      (or error {code, message} and close)
//   agent -> alerts {batch, alerts:[Alert...]}        (seqs strictly increasing)
//   collector -> ack {batch, highest_seq}             (after the batch is durable)
//   agent -> heartbeat {stats}
//   collector -> ruleset {version, files:[{name,text}]}
//   agent -> ruleset_status {version, ok, message}
//   collector -> error {code, message, retry_after_ms}
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <boost/json/storage_ptr.hpp>

#include "core/alert.hpp"
#include "core/result.hpp"

namespace halong::wire {

constexpr int kProtocolVersion = 1;
constexpr size_t kMaxFrameBytes = 16 * 1024 * 1024;  // a frame larger than this is refused
constexpr size_t kMaxBatchAlerts = 10'000;

struct Hello {
  std::string token;             // shared token; empty with mTLS (identity from the certificate)
  AgentRef agent;
  std::string version;           // agent software version
  int protocol = kProtocolVersion;
  std::string ruleset_version;   // the ruleset the agent runs now ("" = none / local rules)
};

struct Welcome {
  std::string agent_id;
  uint64_t highest_seq = 0;      // the highest seq the collector has stored for this agent
  std::string agency;            // from the agent's certificate (mTLS), else from hello
  std::string ruleset_version;   // the ruleset the collector wants the agent to run ("" = none)
};

struct AlertBatch {
  uint64_t batch = 0;            // agent-chosen batch number, echoed in the ack
  std::vector<Alert> alerts;
};

struct Ack {
  uint64_t batch = 0;
  uint64_t highest_seq = 0;      // everything <= this is stored
};

struct Heartbeat {
  std::string stats_json;        // agent statistics (JSON object text)
};

struct ErrorMsg {
  std::string code;              // ErrorCode name
  std::string message;
  uint64_t retry_after_ms = 0;   // > 0: the agent may retry after this long
};

// Enrollment (same endpoint, before the agent has a certificate): the agent sends a CSR and
// the one-time token; the collector answers with the signed certificate and its CA.
struct EnrollRequest {
  std::string token;
  std::string hostname;
  std::string csr_pem;
};

struct Enrolled {
  std::string agent_id;
  std::string agency;
  std::string cert_pem;
  std::string ca_pem;
};

// A ruleset pushed by the collector (and re-sent on connect when the agent runs another
// version). Files are (name, text) pairs: "*.rules" Suricata, "*.yml"/"*.yaml" Sigma.
struct RulesetPush {
  std::string version;
  std::vector<std::pair<std::string, std::string>> files;
};
// What a pushed ruleset's file may be called: a plain file name (no directory part, not
// hidden) ending in .rules, .yml or .yaml. Checked by the API and again by the agent.
bool is_ruleset_file_name(std::string_view name);

// The agent reports what it runs after a push (or on connect): ok, or the reason it kept the
// previous version.
struct RulesetStatus {
  std::string version;
  bool ok = false;
  std::string message;
};

using Message = std::variant<Hello, Welcome, AlertBatch, Ack, Heartbeat, ErrorMsg, EnrollRequest, Enrolled, RulesetPush,
                             RulesetStatus>;

// Enrollment token text: "hlt1.<secret>.<collector certificate SHA-256, 64 hex>".
struct EnrollmentToken {
  std::string secret;
  std::string fingerprint;
};
Result<EnrollmentToken> parse_enrollment_token(std::string_view token);
std::string format_enrollment_token(const EnrollmentToken& t);

std::string encode(const Message& m);
// An "alerts" frame from alerts already in JSON form (the agent's spool keeps them so):
// no parse / re-serialise on the send path. Each element must be one JSON object.
std::string encode_alert_batch_raw(uint64_t batch, const std::vector<std::string_view>& alert_json);
// The same frame built in place (a buffer reused from batch to batch): begin, then
// append_alert_raw for each alert JSON object, then end.
void begin_alert_batch(std::string& out, uint64_t batch);
void append_alert_raw(std::string& out, std::string_view alert_json, bool first);
void end_alert_batch(std::string& out);
// Decoding checks the type and every required field; the error names the field. `sp` is
// the memory the JSON tree is parsed into while decoding (the gateway passes a per-thread
// arena: one malloc per JSON node is most of a batch's decode cost); the Message returned
// owns all its data either way.
Result<Message> decode(std::string_view frame, boost::json::storage_ptr sp = {});

}  // namespace halong::wire
