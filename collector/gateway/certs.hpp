// The collector's certificate authority and TLS identity (OpenSSL 3 EVP APIs).
//
// On first start `ensure_server_certificate` creates, in <data_dir>/tls/:
//   collector.key  EC P-256 private key, mode 0600
//   collector.crt  self-signed X.509 v3 certificate, CA:TRUE, SAN localhost/127.0.0.1/hostname
// The same certificate is the trust anchor agents pin (its SHA-256 fingerprint travels in the
// enrollment token) and the CA that signs agents' certificates (sign_agent_csr). Later starts
// load the files as they are.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace halong::collector {

struct ServerCertificate {
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  std::string fingerprint_sha256;  // lowercase hex of SHA-256 over the DER certificate
  bool created = false;            // true when this call generated them
};

struct CertificateOptions {
  std::vector<std::string> dns_names;  // extra subjectAltName DNS entries (localhost and the hostname are always in)
  std::vector<std::string> ip_addresses = {"127.0.0.1", "::1"};
  int validity_days = 3650;
};

// Creates key and certificate on first start (key 0600, written via a temporary file and
// rename so a crash never leaves half a key), else loads and checks them.
Result<ServerCertificate> ensure_server_certificate(const std::filesystem::path& data_dir,
                                                    const CertificateOptions& opts = {});

// SHA-256 fingerprint (lowercase hex, no colons) of the first certificate in a PEM file.
Result<std::string> certificate_fingerprint(const std::filesystem::path& pem_file);

struct SignedAgentCertificate {
  std::string cert_pem;
  std::string serial_hex;
  std::string fingerprint_sha256;
};

// Signs a PEM CSR with the collector's CA. The subject is NOT taken from the CSR: the
// certificate gets CN=<agent_id>, O=<agency> (identity is what the collector decided, the
// CSR only contributes the public key, whose self-signature is checked).
Result<SignedAgentCertificate> sign_agent_csr(const ServerCertificate& ca, std::string_view csr_pem,
                                              const std::string& agent_id, const std::string& agency,
                                              std::chrono::hours validity = std::chrono::hours(24 * 365));

}  // namespace halong::collector
