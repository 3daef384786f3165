// The one Alert type both sides share, and its JSON form.
//
// The JSON follows Suricata's EVE alert record where the fields fit (src_ip, dest_port,
// proto, alert.signature_id, alert.severity...), so analysts' existing tooling reads it.
// docs/alert.schema.json is the schema; tests check emitted alerts against it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/fwd.hpp>
#include <boost/json/storage_ptr.hpp>

#include "core/result.hpp"

namespace halong {

struct AgentRef {
  std::string id;        // stable agent id (from enrollment / certificate)
  std::string hostname;
  std::string agency;    // the agency the agent belongs to, e.g. "so-tttt"
  bool operator==(const AgentRef&) const = default;
};

struct LogContext {
  std::string path;      // file path, "journald:input0" (journald input 0), "syslog://udp/514"...
  uint64_t offset = 0;   // byte offset of the line in the file; a journal entry's time (µs); 0 where not meaningful
  std::string line;      // the raw line (capped)
  std::string format;    // parser that read it: "syslog", "sshd", "apache", "json"...
  bool operator==(const LogContext&) const = default;
};

struct AlertInfo {
  std::string action = "allowed";     // EVE: allowed | blocked
  uint32_t gid = 1;
  uint64_t signature_id = 0;          // Suricata sid; for Sigma a number derived from the rule id
  uint32_t rev = 0;
  std::string signature;              // Suricata msg / Sigma title
  std::string category;               // classtype description / Sigma logsource category
  int severity = 3;                   // 1 = most severe (EVE: priority)
  std::string engine;                 // "suricata" | "sigma"
  std::string rule_id;                // Sigma rule UUID; empty for Suricata rules
  std::vector<std::string> tags;      // ATT&CK tags, classtype name...
  std::map<std::string, std::vector<std::string>> metadata;  // Suricata metadata keyword, Sigma status/level/...
  std::vector<std::string> references;
  bool operator==(const AlertInfo&) const = default;
};

struct Alert {
  std::string id;                 // "<agent id>:<seq>", set when the alert is spooled
  uint64_t seq = 0;               // agent's sequence number (monotonic per agent)
  int64_t timestamp_us = 0;       // event time, UTC microseconds since the epoch
  AgentRef agent;
  std::string source;             // "network" | "log"

  // Network context (empty/zero when source == "log" and the log gave no addresses).
  std::string src_ip;
  uint16_t src_port = 0;
  std::string dest_ip;
  uint16_t dest_port = 0;
  std::string proto;              // "TCP" | "UDP" | "ICMP" | "IPv6-ICMP" | number
  uint64_t flow_id = 0;
  std::optional<int> icmp_type;
  std::optional<int> icmp_code;

  std::optional<LogContext> log;
  // Fields the log parser extracted (Sigma field names), for the analyst's context.
  std::map<std::string, std::string> fields;

  AlertInfo alert;
  std::string payload_printable;  // printable rendering of the matched payload (capped)

  bool operator==(const Alert&) const = default;
};

// JSON form (EVE field names). `to_json` never fails; `alert_from_json` reports the
// first field that is missing or of the wrong type, by its JSON path.
boost::json::object to_json(const Alert& a, boost::json::storage_ptr sp = {});
std::string to_json_string(const Alert& a);
// Appends the same text as to_json_string (byte for byte, tested) straight to `out`,
// without building a JSON object first: the store and the spool serialise every alert.
void append_json(std::string& out, const Alert& a);
Result<Alert> alert_from_json(const boost::json::value& v);
Result<Alert> alert_from_json_string(std::string_view text);

// RFC 3339 with microseconds and a numeric offset, as EVE writes it:
// "2026-11-23T12:00:00.123456+0000". The parser accepts "Z", "+07:00" and "+0700".
std::string format_timestamp(int64_t timestamp_us);
// The same text into buf (no terminating NUL); returns its length. kTimestampMax is room
// for any int64 input.
constexpr size_t kTimestampMax = 64;
size_t format_timestamp_into(char* buf, int64_t timestamp_us);
Result<int64_t> parse_timestamp(std::string_view text);

// A printable rendering of payload bytes: printable ASCII kept, others as '.'; capped.
std::string printable_payload(const uint8_t* data, size_t len, size_t cap = 256);

}  // namespace halong
