// The running collector: store, gateway and API wired together. `halong-collector serve`
// runs one until SIGINT/SIGTERM; tests may run one in-process.
#pragma once

#include <memory>
#include <string>

#include "collector/app/config.hpp"
#include "core/result.hpp"

namespace halong::collector {

struct CollectorPaths {
  std::string data_dir;
  std::string store_dir;          // <data_dir>/store (RocksDB)
  std::string api_token_file;     // <data_dir>/api-token (0600)
  std::string enroll_token_file;  // <data_dir>/enroll-token (0600)
  std::string cert_file;          // <data_dir>/tls/collector.crt
  std::string fingerprint;        // SHA-256 of the certificate, for agents to pin
};

class CollectorServer {
 public:
  // Creates the data directory (0700), opens the store (a corrupt store is an error,
  // never half-opened), creates the certificate and tokens on first start, binds the
  // gateway and the API, and writes the bound addresses to <data_dir>/api.addr and
  // <data_dir>/gateway.addr.
  static Result<std::unique_ptr<CollectorServer>> start(const CollectorConfig& c);
  ~CollectorServer();
  void stop();
  uint16_t api_port() const;
  uint16_t gateway_port() const;
  const CollectorPaths& paths() const;

  struct Impl;

 private:
  explicit CollectorServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace halong::collector
