// The collector's configuration: YAML parsed in one pass into typed structs; errors name
// file:line and the key path. docs/operations.md documents every key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace halong::collector {

struct CollectorConfig {
  std::string source_file;
  std::string data_dir = "/var/lib/halong-collector";
  std::string log_level = "info";
  // HTTP API and web page. Plain HTTP is allowed only on a loopback address.
  std::string api_listen = "127.0.0.1:8080";
  bool api_tls = false;
  // Agent gateway (TLS WebSocket).
  std::string gateway_listen = "0.0.0.0:7443";
  // Shared enrollment token accepted in the agents' hello (created on first start in
  // data_dir/enroll-token when empty).
  std::string enroll_token;
  uint64_t retention_days = 0;  // 0 = keep forever
  // Disk reserve for the store: below this much free space agents' batches are refused
  // with a retry-after (RocksDB must never hit a full disk).
  uint64_t min_free_mb = 256;
  // Memory for the store's memtables, all families together (RocksOptions::memtable_mb).
  uint64_t store_memtable_mb = 256;
};

Result<CollectorConfig> load_collector_config(const std::string& path, const std::vector<std::string>& overrides = {});
Result<CollectorConfig> load_collector_config_string(const std::string& yaml, const std::string& name,
                                                     const std::vector<std::string>& overrides = {},
                                                     const std::string& base_dir = ".");

// Splits "host:port" ("[::1]:8080" too); port 0 is allowed (any free port).
Result<std::pair<std::string, uint16_t>> split_host_port(const std::string& s);

}  // namespace halong::collector
