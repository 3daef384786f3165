// The agent's configuration: YAML parsed in one pass into typed structs. Every error
// names file:line and the key path; all errors are reported together. `--set KEY=VALUE`
// overrides (Suricata-style, e.g. vars.address-groups.HOME_NET=[10.0.0.0/8] or
// stream.midstream=true) are applied to the YAML tree before it is parsed, so they are
// checked exactly like the file. docs/operations.md documents every key.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace halong::agent {

struct CollectorConfig {
  std::string address;              // host:port of the collector's agent gateway; empty = none
  std::string token;                // enrollment / shared token
  std::string ca_file;              // PEM of the collector certificate/CA to trust
  std::string fingerprint;          // or: SHA-256 fingerprint of the collector certificate
  uint64_t batch_size = 500;
  uint64_t flush_interval_ms = 200;
};

struct CaptureConfig {
  std::vector<std::string> interfaces;  // live capture
  std::string bpf;
  uint64_t snaplen = 65535;
  uint64_t buffer_size = 32ull << 20;
  bool promisc = true;
};

struct StreamConfig {
  bool midstream = false;
  bool async_oneside = false;       // Suricata stream.async-oneside
  uint64_t reassembly_depth = 1ull << 20;
  uint64_t max_flows = 100'000;
};

struct LogInput {
  std::vector<std::string> paths;   // files or globs
  std::string format = "syslog";
  std::string product = "linux";
  std::string service;
  std::string category;
  bool from_start = true;
};

struct JournalInput {
  std::vector<std::string> matches;  // "FIELD=value", OR'd; empty = every entry
  std::string directory;             // empty = the local system journal
  std::string format = "auth";
  std::string product = "linux";
  std::string service;
  std::string category;
  bool from_start = false;
};

struct SyslogListen {
  bool enabled = false;              // off by default
  std::string udp;                   // HOST:PORT
  std::string tcp;                   // HOST:PORT
  std::string format = "syslog";
  std::string product = "linux";
  std::string service;
  std::string category;
};

struct SpoolConfig {
  uint64_t max_bytes = 256ull << 20;
  std::string when_full = "drop_oldest";  // drop_oldest | drop_newest
  std::string fsync = "batch";            // always | batch | never
};

struct AgentConfig {
  std::string source_file;          // where it was loaded from (for messages)
  std::string id;                   // default: the host name
  std::string hostname;             // default: the host name
  std::string agency;
  std::string data_dir = "/var/lib/halong-agent";
  std::string log_level = "info";

  CollectorConfig collector;
  std::map<std::string, std::string> address_vars;  // vars.address-groups
  std::map<std::string, std::string> port_vars;     // vars.port-groups
  std::vector<std::string> network_rules;           // files or directories
  std::vector<std::string> log_rules;
  std::string classification_file;
  std::string threshold_file;                       // threshold.config (suppress / threshold lines)
  CaptureConfig capture;
  StreamConfig stream;
  bool vxlan = true;
  std::vector<LogInput> logs;
  std::vector<JournalInput> journald;
  SyslogListen syslog;
  SpoolConfig spool;
};

// Loads and checks a config file (or an empty config when path is empty), applying
// `overrides` ("key.path=value") first. Relative paths in the file are resolved
// against the file's directory.
Result<AgentConfig> load_agent_config(const std::string& path, const std::vector<std::string>& overrides = {});
Result<AgentConfig> load_agent_config_string(const std::string& yaml, const std::string& name,
                                             const std::vector<std::string>& overrides = {},
                                             const std::string& base_dir = ".");

}  // namespace halong::agent
