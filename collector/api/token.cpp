#include "collector/api/token.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/rand.h>

namespace halong::collector::api {

Result<std::string> random_hex(size_t n) {
  std::vector<unsigned char> b(n);
  if (RAND_bytes(b.data(), static_cast<int>(n)) != 1) return make_error(ErrorCode::internal, "RAND_bytes failed");
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (auto c : b) {
    s.push_back(hex[c >> 4]);
    s.push_back(hex[c & 15]);
  }
  return s;
}

bool secret_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::pair<std::string, std::string>> ensure_api_token(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return make_error(ErrorCode::io_error, "cannot create data directory " + data_dir + ": " + ec.message());
  std::string path = (std::filesystem::path(data_dir) / "api-token").string();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    auto tok = random_hex(32);
    if (!tok) {
      ::close(fd);
      return tok.error();
    }
    std::string line = *tok + "\n";
    bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
      ::unlink(path.c_str());
      return make_error(ErrorCode::io_error, "cannot write " + path + ": " + std::strerror(errno));
    }
    return std::make_pair(*tok, path);
  }
  if (errno != EEXIST) return make_error(ErrorCode::io_error, "cannot create " + path + ": " + std::strerror(errno));
  fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::io_error, "cannot read " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    ::close(fd);
    return make_error(ErrorCode::forbidden, path + " is readable by group or others: chmod 600 it");
  }
  char buf[256];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n <= 0) return make_error(ErrorCode::io_error, path + " is empty or unreadable");
  std::string tok(buf, static_cast<size_t>(n));
  while (!tok.empty() && (tok.back() == '\n' || tok.back() == '\r' || tok.back() == ' ')) tok.pop_back();
  if (tok.size() < 32 || tok.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
    return make_error(ErrorCode::parse_error, path + " does not hold a token (expected at least 32 hex digits)");
  return std::make_pair(tok, path);
}

}  // namespace halong::collector::api
