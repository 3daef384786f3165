#include "collector/app/secrets.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace halong::collector {

Result<std::string> ensure_secret_file(const std::string& path) {
  {
    std::ifstream in(path);
    if (in) {
      std::string tok;
      std::getline(in, tok);
      if (tok.size() >= 16) return tok;
      return make_error(ErrorCode::invalid_argument, path + ": token file is empty or too short; remove it to create a new one");
    }
  }
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return make_error(ErrorCode::internal, "RAND_bytes failed");
  static const char* hex = "0123456789abcdef";
  std::string tok;
  for (unsigned char c : raw) {
    tok.push_back(hex[c >> 4]);
    tok.push_back(hex[c & 15]);
  }
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCode::io_error, tmp + ": " + std::strerror(errno));
  std::string line = tok + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return make_error(ErrorCode::io_error, path + ": cannot write token: " + std::strerror(errno));
  }
  return tok;
}

}  // namespace halong::collector
