#include "collector/gateway/registry.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include <boost/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/wire.hpp"

namespace halong::collector {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string hex(const unsigned char* d, size_t n) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(k[d[i] >> 4]);
    s.push_back(k[d[i] & 15]);
  }
  return s;
}

std::string sha256_hex(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr);
  return hex(md, n);
}

Result<std::string> random_b64url(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    return make_error(ErrorCode::internal, "RAND_bytes failed");
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      out.push_back(k[(acc >> (bits - 6)) & 63]);
      bits -= 6;
    }
  }
  if (bits) out.push_back(k[(acc << (6 - bits)) & 63]);
  return out;
}

int64_t system_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

class Registry::Impl {
 public:
  fs::path dir, file, lock_file;
  NowFn now;
  std::mutex mu;
  std::vector<TokenInfo> tokens;
  std::vector<std::string> token_hashes;  // parallel to tokens
  std::vector<AgentRecord> agents;
  struct timespec mtime{};
  off_t size = -1;

  // flock for the read-modify-write across processes.
  struct Lock {
    int fd = -1;
    explicit Lock(const fs::path& p) {
      fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      if (fd >= 0) ::flock(fd, LOCK_EX);
    }
    ~Lock() {
      if (fd >= 0) {
        ::flock(fd, LOCK_UN);
        ::close(fd);
      }
    }
  };

  bool changed_on_disk() {
    struct stat st{};
    if (::stat(file.c_str(), &st) != 0) return size != -1;
    return st.st_mtim.tv_sec != mtime.tv_sec || st.st_mtim.tv_nsec != mtime.tv_nsec || st.st_size != size;
  }

  Status load() {
    struct stat st{};
    if (::stat(file.c_str(), &st) != 0) {
      tokens.clear();
      token_hashes.clear();
      agents.clear();
      size = -1;
      return {};
    }
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    boost::system::error_code ec;
    auto v = json::parse(ss.str(), ec);
    if (ec || !v.is_object()) return make_error(ErrorCode::parse_error, "registry: " + file.string() + " is not a JSON object");
    tokens.clear();
    token_hashes.clear();
    agents.clear();
    try {
      for (auto& t : v.at("tokens").as_array()) {
        auto& o = t.as_object();
        TokenInfo ti;
        ti.id = json::value_to<std::string>(o.at("id"));
        ti.agency = json::value_to<std::string>(o.at("agency"));
        ti.created_us = o.at("created_us").to_number<int64_t>();
        ti.expires_us = o.at("expires_us").to_number<int64_t>();
        ti.uses_allowed = o.at("uses_allowed").to_number<uint32_t>();
        ti.uses = o.at("uses").to_number<uint32_t>();
        ti.revoked = o.at("revoked").as_bool();
        tokens.push_back(ti);
        token_hashes.push_back(json::value_to<std::string>(o.at("hash")));
      }
      for (auto& a : v.at("agents").as_array()) {
        auto& o = a.as_object();
        AgentRecord r;
        r.id = json::value_to<std::string>(o.at("id"));
        r.agency = json::value_to<std::string>(o.at("agency"));
        r.hostname = json::value_to<std::string>(o.at("hostname"));
        r.token_id = json::value_to<std::string>(o.at("token_id"));
        r.cert_fingerprint = json::value_to<std::string>(o.at("cert_fingerprint"));
        r.cert_serial = json::value_to<std::string>(o.at("cert_serial"));
        r.enrolled_us = o.at("enrolled_us").to_number<int64_t>();
        r.revoked = o.at("revoked").as_bool();
        r.revoked_us = o.at("revoked_us").to_number<int64_t>();
        agents.push_back(r);
      }
    } catch (const std::exception& e) {
      return make_error(ErrorCode::parse_error, "registry: " + file.string() + ": " + e.what());
    }
    mtime = st.st_mtim;
    size = st.st_size;
    return {};
  }

  Status refresh() {
    if (!changed_on_disk()) return {};
    return load();
  }

  Status save() {
    json::array ts, as;
    for (size_t i = 0; i < tokens.size(); ++i) {
      auto& t = tokens[i];
      ts.emplace_back(json::object{{"id", t.id}, {"hash", token_hashes[i]}, {"agency", t.agency}, {"created_us", t.created_us},
                                   {"expires_us", t.expires_us}, {"uses_allowed", t.uses_allowed}, {"uses", t.uses},
                                   {"revoked", t.revoked}});
    }
    for (auto& a : agents)
      as.emplace_back(json::object{{"id", a.id}, {"agency", a.agency}, {"hostname", a.hostname}, {"token_id", a.token_id},
                                   {"cert_fingerprint", a.cert_fingerprint}, {"cert_serial", a.cert_serial},
                                   {"enrolled_us", a.enrolled_us}, {"revoked", a.revoked}, {"revoked_us", a.revoked_us}});
    std::string text = json::serialize(json::object{{"version", 1}, {"tokens", std::move(ts)}, {"agents", std::move(as)}});
    fs::path tmp = file;
    tmp += ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return make_error(ErrorCode::io_error, "registry: cannot create " + tmp.string() + ": " + std::strerror(errno));
    size_t off = 0;
    while (off < text.size()) {
      ssize_t n = ::write(fd, text.data() + off, text.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int e = errno;
        ::close(fd);
        return make_error(ErrorCode::io_error, "registry: cannot write " + tmp.string() + ": " + std::strerror(e));
      }
      off += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
      int e = errno;
      ::close(fd);
      return make_error(ErrorCode::io_error, "registry: cannot sync " + tmp.string() + ": " + std::strerror(e));
    }
    ::close(fd);
    if (::rename(tmp.c_str(), file.c_str()) != 0)
      return make_error(ErrorCode::io_error, "registry: cannot rename " + tmp.string() + ": " + std::strerror(errno));
    struct stat st{};
    if (::stat(file.c_str(), &st) == 0) {
      mtime = st.st_mtim;
      size = st.st_size;
    }
    return {};
  }

  // Runs f on fresh state under the cross-process lock, then saves.
  template <class F>
  auto mutate(F&& f) -> decltype(f()) {
    std::lock_guard lk(mu);
    Lock fl(lock_file);
    if (auto s = load(); !s) return s.error();
    auto r = f();
    if (!r) return r;
    if (auto s = save(); !s) return s.error();
    return r;
  }
};

Registry::Registry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Registry::~Registry() = default;

Result<std::unique_ptr<Registry>> Registry::open(const fs::path& data_dir, NowFn now) {
  auto impl = std::make_unique<Impl>();
  impl->dir = data_dir / "gateway";
  impl->file = impl->dir / "registry.json";
  impl->lock_file = impl->dir / "registry.lock";
  impl->now = now ? std::move(now) : NowFn(system_now_us);
  std::error_code ec;
  fs::create_directories(impl->dir, ec);
  if (ec) return make_error(ErrorCode::io_error, "registry: cannot create " + impl->dir.string() + ": " + ec.message());
  fs::permissions(impl->dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (auto s = impl->load(); !s) return s.error();
  return std::unique_ptr<Registry>(new Registry(std::move(impl)));
}

Result<std::string> Registry::create_token(const std::string& agency, std::chrono::seconds ttl, uint32_t uses,
                                           const std::string& collector_fingerprint) {
  if (agency.empty() || agency.size() > 64) return make_error(ErrorCode::invalid_argument, "token: --agency must be 1-64 characters");
  for (char c : agency)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return make_error(ErrorCode::invalid_argument, "token: --agency may contain only letters, digits, '-', '_' and '.'");
  if (ttl.count() <= 0) return make_error(ErrorCode::invalid_argument, "token: --ttl must be positive");
  if (uses == 0) return make_error(ErrorCode::invalid_argument, "token: --uses must be at least 1");
  if (collector_fingerprint.size() != 64) return make_error(ErrorCode::invalid_argument, "token: collector fingerprint must be 64 hex digits");
  auto secret = random_b64url(32);
  if (!secret) return secret.error();
  std::string text = wire::format_enrollment_token({*secret, collector_fingerprint});
  return impl_->mutate([&]() -> Result<std::string> {
    TokenInfo t;
    std::string h = sha256_hex(*secret);
    t.id = h.substr(0, 12);
    t.agency = agency;
    t.created_us = impl_->now();
    t.expires_us = t.created_us + ttl.count() * 1'000'000;
    t.uses_allowed = uses;
    impl_->tokens.push_back(t);
    impl_->token_hashes.push_back(h);
    return text;
  });
}

Result<std::vector<TokenInfo>> Registry::tokens() {
  std::lock_guard lk(impl_->mu);
  if (auto s = impl_->refresh(); !s) return s.error();
  return impl_->tokens;
}

Status Registry::revoke_token(const std::string& token_id) {
  auto r = impl_->mutate([&]() -> Result<bool> {
    for (auto& t : impl_->tokens)
      if (t.id == token_id) {
        t.revoked = true;
        return true;
      }
    return make_error(ErrorCode::not_found, "token " + token_id + " not found");
  });
  if (!r) return r.error();
  return {};
}

Result<EnrollResult> Registry::enroll(const std::string& token, const std::string& hostname, std::string_view csr_pem,
                                      const ServerCertificate& ca) {
  auto parsed = wire::parse_enrollment_token(token);
  if (!parsed) return make_error(ErrorCode::unauthorized, "enrollment refused: " + parsed.error().message);
  std::string h = sha256_hex(parsed->secret);
  return impl_->mutate([&]() -> Result<EnrollResult> {
    auto& m = *impl_;
    size_t i = 0;
    for (; i < m.tokens.size(); ++i)
      if (m.token_hashes[i].size() == h.size() && CRYPTO_memcmp(m.token_hashes[i].data(), h.data(), h.size()) == 0) break;
    if (i == m.tokens.size()) return make_error(ErrorCode::unauthorized, "enrollment refused: unknown token");
    TokenInfo& t = m.tokens[i];
    if (t.revoked) return make_error(ErrorCode::unauthorized, "enrollment refused: token " + t.id + " was revoked");
    if (m.now() >= t.expires_us) return make_error(ErrorCode::unauthorized, "enrollment refused: token " + t.id + " has expired");
    if (t.uses >= t.uses_allowed)
      return make_error(ErrorCode::unauthorized, "enrollment refused: token " + t.id + " was already used (" +
                                                     std::to_string(t.uses) + " of " + std::to_string(t.uses_allowed) + ")");
    auto rnd = random_b64url(12);
    if (!rnd) return rnd.error();
    std::string id = "ag-" + sha256_hex(*rnd).substr(0, 16);
    auto signed_cert = sign_agent_csr(ca, csr_pem, id, t.agency);
    if (!signed_cert) return signed_cert.error();
    std::ifstream in(ca.cert_file);
    std::stringstream ca_pem;
    ca_pem << in.rdbuf();
    ++t.uses;
    AgentRecord r;
    r.id = id;
    r.agency = t.agency;
    r.hostname = hostname.substr(0, 255);
    r.token_id = t.id;
    r.cert_fingerprint = signed_cert->fingerprint_sha256;
    r.cert_serial = signed_cert->serial_hex;
    r.enrolled_us = m.now();
    m.agents.push_back(r);
    return EnrollResult{r, signed_cert->cert_pem, ca_pem.str()};
  });
}

Result<std::vector<AgentRecord>> Registry::agents() {
  std::lock_guard lk(impl_->mu);
  if (auto s = impl_->refresh(); !s) return s.error();
  return impl_->agents;
}

Result<AgentRecord> Registry::agent(const std::string& id) {
  std::lock_guard lk(impl_->mu);
  if (auto s = impl_->refresh(); !s) return s.error();
  for (auto& a : impl_->agents)
    if (a.id == id) return a;
  return make_error(ErrorCode::not_found, "agent " + id + " not found");
}

Status Registry::revoke_agent(const std::string& id) {
  auto r = impl_->mutate([&]() -> Result<bool> {
    for (auto& a : impl_->agents)
      if (a.id == id) {
        if (!a.revoked) {
          a.revoked = true;
          a.revoked_us = impl_->now();
        }
        return true;
      }
    return make_error(ErrorCode::not_found, "agent " + id + " not found");
  });
  if (!r) return r.error();
  return {};
}

Result<bool> Registry::certificate_valid(const std::string& agent_id, const std::string& fingerprint) {
  std::lock_guard lk(impl_->mu);
  if (auto s = impl_->refresh(); !s) return s.error();
  for (auto& a : impl_->agents)
    if (a.id == agent_id) return !a.revoked && a.cert_fingerprint == fingerprint;
  return false;
}

Result<std::vector<std::string>> Registry::revoked_agents() {
  std::lock_guard lk(impl_->mu);
  if (auto s = impl_->refresh(); !s) return s.error();
  std::vector<std::string> out;
  for (auto& a : impl_->agents)
    if (a.revoked) out.push_back(a.id);
  return out;
}

}  // namespace halong::collector
