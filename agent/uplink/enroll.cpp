#include "agent/uplink/enroll.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/wire.hpp"

namespace halong::agent {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

namespace {

struct Del {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509_REQ* p) const { X509_REQ_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};

std::string bio_string(BIO* b) {
  char* d = nullptr;
  long n = BIO_get_mem_data(b, &d);
  return std::string(d, static_cast<size_t>(n));
}

Status write_file(const fs::path& p, const std::string& data, mode_t mode) {
  fs::path tmp = p;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return make_error(ErrorCode::io_error, "enroll: cannot create " + tmp.string() + ": " + std::strerror(errno));
  ::fchmod(fd, mode);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return make_error(ErrorCode::io_error, "enroll: cannot write " + tmp.string() + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), p.c_str()) != 0)
    return make_error(ErrorCode::io_error, "enroll: cannot rename " + tmp.string() + ": " + std::strerror(errno));
  return {};
}

std::string sha256_of(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!cert || X509_digest(cert, EVP_sha256(), md, &n) != 1) return {};
  static const char* k = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < n; ++i) {
    s.push_back(k[md[i] >> 4]);
    s.push_back(k[md[i] & 15]);
  }
  return s;
}

}  // namespace

Result<Enrollment> enroll(const EnrollOptions& opts) {
  auto tok = wire::parse_enrollment_token(opts.token);
  if (!tok) return tok.error();
  std::string want_fp;
  for (char c : tok->fingerprint) want_fp.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (opts.dir.empty()) return make_error(ErrorCode::invalid_argument, "enroll: no directory for the identity files");
  std::string hostname = opts.hostname;
  if (hostname.empty()) {
    char buf[256] = {};
    ::gethostname(buf, sizeof buf - 1);
    hostname = buf;
  }

  // Key and CSR.
  std::unique_ptr<EVP_PKEY, Del> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return make_error(ErrorCode::internal, "enroll: key generation failed");
  std::unique_ptr<X509_REQ, Del> req(X509_REQ_new());
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(hostname.c_str()), -1, -1, 0);
  if (!X509_REQ_set_pubkey(req.get(), key.get()) || X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0)
    return make_error(ErrorCode::internal, "enroll: CSR signing failed");
  std::unique_ptr<BIO, Del> csr_bio(BIO_new(BIO_s_mem())), key_bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(csr_bio.get(), req.get());
  PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::string csr_pem = bio_string(csr_bio.get()), key_pem = bio_string(key_bio.get());

  // TLS connection, pinned to the token's fingerprint.
  std::string where = opts.host + ":" + std::to_string(opts.port);
  net::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  ctx.set_verify_mode(ssl::verify_peer);
  std::string seen_fp;
  websocket::stream<ssl::stream<beast::tcp_stream>> ws(ioc, ctx);
  ws.next_layer().set_verify_callback([&](bool, ssl::verify_context& vc) {
    if (X509_STORE_CTX_get_error_depth(vc.native_handle()) != 0) return true;  // we pin the leaf
    seen_fp = sha256_of(X509_STORE_CTX_get_current_cert(vc.native_handle()));
    return seen_fp == want_fp;
  });
  boost::system::error_code ec;
  tcp::resolver resolver(ioc);
  auto eps = resolver.resolve(opts.host, std::to_string(opts.port), ec);
  if (ec) return make_error(ErrorCode::unavailable, "enroll: cannot resolve " + opts.host + ": " + ec.message());
  auto& sock = beast::get_lowest_layer(ws).socket();
  net::connect(sock, eps, ec);
  if (ec) return make_error(ErrorCode::unavailable, "enroll: collector " + where + " not reachable: " + ec.message());
  timeval tv{static_cast<time_t>(opts.timeout.count() / 1000), static_cast<suseconds_t>((opts.timeout.count() % 1000) * 1000)};
  ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  SSL_set_tlsext_host_name(ws.next_layer().native_handle(), opts.host.c_str());
  ws.next_layer().handshake(ssl::stream_base::client, ec);
  if (ec) {
    if (!seen_fp.empty() && seen_fp != want_fp)
      return make_error(ErrorCode::forbidden, "enroll: collector " + where + " presented certificate " + seen_fp +
                                                  ", not the one in the token (" + want_fp + "): refusing to enroll");
    return make_error(ErrorCode::unavailable, "enroll: TLS handshake with " + where + " failed: " + ec.message());
  }
  ws.handshake(opts.host, "/agent/v1", ec);
  if (ec) return make_error(ErrorCode::unavailable, "enroll: WebSocket upgrade at " + where + " failed: " + ec.message());
  ws.text(true);
  ws.write(net::buffer(wire::encode(wire::EnrollRequest{opts.token, hostname, csr_pem})), ec);
  if (ec) return make_error(ErrorCode::unavailable, "enroll: sending the request failed: " + ec.message());
  beast::flat_buffer buf;
  ws.read(buf, ec);
  if (ec) return make_error(ErrorCode::unavailable, "enroll: no answer from " + where + ": " + ec.message());
  auto msg = wire::decode(beast::buffers_to_string(buf.data()));
  if (!msg) return make_error(ErrorCode::parse_error, "enroll: bad answer from " + where + ": " + msg.error().message);
  if (auto* e = std::get_if<wire::ErrorMsg>(&*msg)) {
    ErrorCode code = e->code == "unauthorized" ? ErrorCode::unauthorized
                   : e->code == "forbidden"    ? ErrorCode::forbidden
                                               : ErrorCode::unavailable;
    return make_error(code, "enroll: the collector refused: " + e->message);
  }
  auto* en = std::get_if<wire::Enrolled>(&*msg);
  if (!en) return make_error(ErrorCode::parse_error, "enroll: unexpected answer from " + where);
  beast::error_code cec;
  ws.close(websocket::close_code::normal, cec);

  std::error_code fec;
  fs::create_directories(opts.dir, fec);
  if (fec) return make_error(ErrorCode::io_error, "enroll: cannot create " + opts.dir.string() + ": " + fec.message());
  fs::permissions(opts.dir, fs::perms::owner_all, fs::perm_options::replace, fec);
  Enrollment out;
  out.agent_id = en->agent_id;
  out.agency = en->agency;
  out.collector_fingerprint = want_fp;
  out.key_file = opts.dir / "agent.key";
  out.cert_file = opts.dir / "agent.crt";
  out.ca_file = opts.dir / "ca.crt";
  if (auto s = write_file(out.key_file, key_pem, 0600); !s) return s.error();
  if (auto s = write_file(out.cert_file, en->cert_pem, 0644); !s) return s.error();
  if (auto s = write_file(out.ca_file, en->ca_pem, 0644); !s) return s.error();
  std::string ident = boost::json::serialize(boost::json::object{
      {"agent_id", out.agent_id}, {"agency", out.agency}, {"collector_fingerprint", out.collector_fingerprint}});
  if (auto s = write_file(opts.dir / "identity.json", ident, 0644); !s) return s.error();
  return out;
}

Result<Enrollment> load_enrollment(const fs::path& dir) {
  fs::path p = dir / "identity.json";
  std::ifstream in(p);
  if (!in) return make_error(ErrorCode::not_found, "agent is not enrolled (" + p.string() + " missing): run `halong-agent enroll`");
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  auto v = boost::json::parse(ss.str(), ec);
  if (ec || !v.is_object()) return make_error(ErrorCode::parse_error, p.string() + ": not a JSON object");
  auto& o = v.get_object();
  Enrollment e;
  auto str = [&](const char* k) -> std::string {
    auto it = o.find(k);
    return it != o.end() && it->value().is_string() ? std::string(it->value().get_string()) : std::string();
  };
  e.agent_id = str("agent_id");
  e.agency = str("agency");
  e.collector_fingerprint = str("collector_fingerprint");
  if (e.agent_id.empty()) return make_error(ErrorCode::parse_error, p.string() + ": agent_id missing");
  e.key_file = dir / "agent.key";
  e.cert_file = dir / "agent.crt";
  e.ca_file = dir / "ca.crt";
  for (auto& f : {e.key_file, e.cert_file, e.ca_file})
    if (!fs::exists(f)) return make_error(ErrorCode::not_found, f.string() + " missing: enroll the agent again");
  return e;
}

}  // namespace halong::agent
