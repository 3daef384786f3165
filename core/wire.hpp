// Agent <-> collector messages, carried as WebSocket text frames holding one JSON object
// each (path /agent/v1 over TLS). Version 1. docs/architecture.md describes the exchange:
//
//   agent -> hello {token, agent, version, last_acked_seq}
//   collector -> welcome {agent_id, highest_seq}      (or error {code, message} and close)
//   agent -> alerts {batch, alerts:[Alert...]}        (seqs strictly increasing)
//   collector -> ack {batch, highest_seq}             (after the batch is durable)
//   agent -> heartbeat {stats}
//   collector -> error {code, message, retry_after_ms}
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/alert.hpp"
#include "core/result.hpp"

namespace halong::wire {

constexpr int kProtocolVersion = 1;
constexpr size_t kMaxFrameBytes = 16 * 1024 * 1024;  // a frame larger than this is refused
constexpr size_t kMaxBatchAlerts = 10'000;

struct Hello {
  std::string token;             // enrollment / shared token (mTLS identity later)
  AgentRef agent;
  std::string version;           // agent software version
  int protocol = kProtocolVersion;
};

struct Welcome {
  std::string agent_id;
  uint64_t highest_seq = 0;      // the highest seq the collector has stored for this agent
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

using Message = std::variant<Hello, Welcome, AlertBatch, Ack, Heartbeat, ErrorMsg>;

std::string encode(const Message& m);
// Decoding checks the type and every required field; the error names the field.
Result<Message> decode(std::string_view frame);

}  // namespace halong::wire
