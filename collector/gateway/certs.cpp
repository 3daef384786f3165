#include "collector/gateway/certs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace halong::collector {

namespace fs = std::filesystem;

namespace {

struct Del {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(X509_REQ* p) const { X509_REQ_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
template <class T>
using Ptr = std::unique_ptr<T, Del>;

std::string ssl_error(const std::string& what) {
  std::string msg = what;
  unsigned long e;
  bool first = true;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    msg += first ? ": " : "; ";
    msg += buf;
    first = false;
  }
  return msg;
}

Error tls_err(const std::string& what) { return make_error(ErrorCode::internal, ssl_error(what)); }

Result<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return make_error(ErrorCode::io_error, "cannot read " + p.string() + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes `data` to `p` with `mode` through a temporary file + fsync + rename.
Status write_file_atomic(const fs::path& p, const std::string& data, mode_t mode) {
  fs::path tmp = p;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return make_error(ErrorCode::io_error, "cannot create " + tmp.string() + ": " + std::strerror(errno));
  ::fchmod(fd, mode);  // umask must not widen or narrow what we asked for
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return make_error(ErrorCode::io_error, "cannot write " + tmp.string() + ": " + std::strerror(err));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    return make_error(ErrorCode::io_error, "cannot sync " + tmp.string() + ": " + std::strerror(errno));
  if (::rename(tmp.c_str(), p.c_str()) != 0)
    return make_error(ErrorCode::io_error, "cannot rename " + tmp.string() + ": " + std::strerror(errno));
  return {};
}

std::string hex(const unsigned char* d, size_t n) {
  static const char* k = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    s.push_back(k[d[i] >> 4]);
    s.push_back(k[d[i] & 15]);
  }
  return s;
}

Result<std::string> fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert, EVP_sha256(), md, &n) != 1) return tls_err("X509_digest");
  return hex(md, n);
}

Result<std::string> pem_of_key(EVP_PKEY* key) {
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) return tls_err("PEM_write_bio_PrivateKey");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

Result<std::string> pem_of_cert(X509* cert) {
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) return tls_err("PEM_write_bio_X509");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

Status add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Ptr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext) return tls_err("X509V3_EXT_conf_nid(" + std::string(OBJ_nid2sn(nid)) + "=" + value + ")");
  if (!X509_add_ext(cert, ext.get(), -1)) return tls_err("X509_add_ext");
  return {};
}

Result<std::string> random_serial(X509* cert) {
  unsigned char buf[16];
  if (RAND_bytes(buf, sizeof buf) != 1) return tls_err("RAND_bytes");
  buf[0] &= 0x7f;  // positive
  Ptr<BIGNUM> bn(BN_bin2bn(buf, sizeof buf, nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert))) return tls_err("serial");
  return hex(buf, sizeof buf);
}

Status set_validity(X509* cert, long seconds) {
  if (!X509_gmtime_adj(X509_getm_notBefore(cert), -300) || !X509_gmtime_adj(X509_getm_notAfter(cert), seconds))
    return tls_err("validity");
  return {};
}

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

Result<ServerCertificate> create(const fs::path& dir, const CertificateOptions& opts) {
  Ptr<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return tls_err("EC P-256 key generation");
  Ptr<X509> cert(X509_new());
  if (!cert || !X509_set_version(cert.get(), 2)) return tls_err("X509_new");
  if (auto s = random_serial(cert.get()); !s) return s.error();
  if (auto s = set_validity(cert.get(), 86400L * opts.validity_days); !s) return s.error();
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("Halong"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("halong-collector"), -1, -1, 0);
  if (!X509_set_issuer_name(cert.get(), name) || !X509_set_pubkey(cert.get(), key.get())) return tls_err("X509 names");

  std::string san = "DNS:localhost";
  std::string host = hostname();
  if (!host.empty() && host != "localhost") san += ",DNS:" + host;
  for (const auto& d : opts.dns_names) san += ",DNS:" + d;
  for (const auto& ip : opts.ip_addresses) san += ",IP:" + ip;
  // No extendedKeyUsage: the certificate both serves TLS and signs agents' certificates.
  for (auto [nid, v] : {std::pair{NID_basic_constraints, std::string("critical,CA:TRUE")},
                        std::pair{NID_key_usage, std::string("critical,digitalSignature,keyCertSign,cRLSign")},
                        std::pair{NID_subject_key_identifier, std::string("hash")},
                        std::pair{NID_subject_alt_name, san}}) {
    if (auto s = add_ext(cert.get(), cert.get(), nid, v); !s) return s.error();
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return tls_err("X509_sign");

  auto key_pem = pem_of_key(key.get());
  if (!key_pem) return key_pem.error();
  auto cert_pem = pem_of_cert(cert.get());
  if (!cert_pem) return cert_pem.error();
  ServerCertificate out;
  out.key_file = dir / "collector.key";
  out.cert_file = dir / "collector.crt";
  // Key first: a crash between the two leaves a key without a certificate, which the next
  // start regenerates as a pair.
  if (auto s = write_file_atomic(out.key_file, *key_pem, 0600); !s) return s.error();
  if (auto s = write_file_atomic(out.cert_file, *cert_pem, 0644); !s) return s.error();
  auto fp = fingerprint(cert.get());
  if (!fp) return fp.error();
  out.fingerprint_sha256 = *fp;
  out.created = true;
  return out;
}

Result<Ptr<X509>> load_cert(const fs::path& p) {
  auto pem = read_file(p);
  if (!pem) return pem.error();
  Ptr<BIO> bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  Ptr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return make_error(ErrorCode::parse_error, ssl_error(p.string() + ": not a PEM certificate"));
  return cert;
}

Result<Ptr<EVP_PKEY>> load_key(const fs::path& p) {
  auto pem = read_file(p);
  if (!pem) return pem.error();
  Ptr<BIO> bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  Ptr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return make_error(ErrorCode::parse_error, ssl_error(p.string() + ": not a PEM private key"));
  return key;
}

}  // namespace

Result<std::string> certificate_fingerprint(const fs::path& pem_file) {
  auto cert = load_cert(pem_file);
  if (!cert) return cert.error();
  return fingerprint(cert->get());
}

Result<ServerCertificate> ensure_server_certificate(const fs::path& data_dir, const CertificateOptions& opts) {
  std::error_code ec;
  fs::path dir = data_dir / "tls";
  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorCode::io_error, "cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  fs::path key_file = dir / "collector.key", cert_file = dir / "collector.crt";
  if (!fs::exists(key_file) || !fs::exists(cert_file)) return create(dir, opts);

  struct stat st{};
  if (::stat(key_file.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    return make_error(ErrorCode::forbidden, key_file.string() + " is readable by group or others (mode " + mode +
                                                "); run: chmod 600 " + key_file.string());
  }
  auto cert = load_cert(cert_file);
  if (!cert) return cert.error();
  auto key = load_key(key_file);
  if (!key) return key.error();
  if (X509_check_private_key(cert->get(), key->get()) != 1)
    return make_error(ErrorCode::invalid_argument, ssl_error(key_file.string() + " does not match " + cert_file.string()));
  auto fp = fingerprint(cert->get());
  if (!fp) return fp.error();
  return ServerCertificate{cert_file, key_file, *fp, false};
}

Result<SignedAgentCertificate> sign_agent_csr(const ServerCertificate& ca, std::string_view csr_pem,
                                              const std::string& agent_id, const std::string& agency,
                                              std::chrono::hours validity) {
  Ptr<BIO> bio(BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size())));
  Ptr<X509_REQ> req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) return make_error(ErrorCode::parse_error, ssl_error("enrollment: CSR is not PEM"));
  Ptr<EVP_PKEY> pub(X509_REQ_get_pubkey(req.get()));
  if (!pub) return make_error(ErrorCode::invalid_argument, ssl_error("enrollment: CSR has no public key"));
  if (X509_REQ_verify(req.get(), pub.get()) != 1)
    return make_error(ErrorCode::invalid_argument, ssl_error("enrollment: CSR signature does not verify"));
  int bits = EVP_PKEY_get_bits(pub.get());
  bool is_ec = EVP_PKEY_is_a(pub.get(), "EC");
  if ((is_ec && bits < 256) || (!is_ec && (!EVP_PKEY_is_a(pub.get(), "RSA") || bits < 2048)))
    return make_error(ErrorCode::invalid_argument, "enrollment: CSR key must be EC >= 256 or RSA >= 2048 bits");

  auto ca_cert = load_cert(ca.cert_file);
  if (!ca_cert) return ca_cert.error();
  auto ca_key = load_key(ca.key_file);
  if (!ca_key) return ca_key.error();

  Ptr<X509> cert(X509_new());
  if (!cert || !X509_set_version(cert.get(), 2)) return tls_err("X509_new");
  auto serial = random_serial(cert.get());
  if (!serial) return serial.error();
  if (auto s = set_validity(cert.get(), static_cast<long>(validity.count()) * 3600L); !s) return s.error();
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (!agency.empty())
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(agency.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(agent_id.c_str()), -1, -1, 0);
  if (!X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert->get())) || !X509_set_pubkey(cert.get(), pub.get()))
    return tls_err("X509 names");
  for (auto [nid, v] : {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
                        std::pair{NID_key_usage, "critical,digitalSignature"},
                        std::pair{NID_ext_key_usage, "clientAuth"},
                        std::pair{NID_authority_key_identifier, "keyid"}}) {
    if (auto s = add_ext(cert.get(), ca_cert->get(), nid, v); !s) return s.error();
  }
  if (X509_sign(cert.get(), ca_key->get(), EVP_sha256()) <= 0) return tls_err("X509_sign agent");
  auto pem = pem_of_cert(cert.get());
  if (!pem) return pem.error();
  auto fp = fingerprint(cert.get());
  if (!fp) return fp.error();
  return SignedAgentCertificate{*pem, *serial, *fp};
}

}  // namespace halong::collector
