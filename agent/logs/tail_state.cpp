#include "agent/logs/tail_state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/logs/text_util.hpp"

namespace halong::agent::logs {

namespace {

constexpr std::string_view kMagic = "halong-tail-state 1";

std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '%' || c == '\n' || c == '\r') {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool unescape(std::string_view s, std::string& out) {
  out.clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return false;
    unsigned v = 0;
    for (int k = 1; k <= 2; ++k) {
      char c = s[i + k];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else return false;
    }
    out.push_back(static_cast<char>(v));
    i += 2;
  }
  return true;
}

Error io_err(const std::string& what, const std::string& path) {
  return make_error(ErrorCode::io_error, what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

uint64_t fnv1a64(std::string_view data) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

Result<std::optional<TailState>> load_tail_state(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<TailState>();
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_err("cannot read tail state", path);
  TailState st;
  std::string line;
  size_t lineno = 0;
  auto bad = [&](std::string_view why) {
    return make_error(ErrorCode::parse_error,
                      path + ":" + std::to_string(lineno) + ": corrupt tail state: " + std::string(why));
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (lineno == 1) {
      if (line != kMagic) return bad("expected '" + std::string(kMagic) + "'");
      continue;
    }
    std::string_view s = line;
    if (detail::consume(s, "app ")) {
      if (!unescape(s, st.app_state)) return bad("bad app state escape");
      continue;
    }
    if (s == "app") continue;
    if (!detail::consume(s, "file ")) return bad("unknown record");
    TailStateEntry e;
    uint64_t fp_len = 0;
    if (!detail::take_uint(s, 20, e.id.dev) || !detail::consume(s, " ") || !detail::take_uint(s, 20, e.id.ino) ||
        !detail::consume(s, " ") || !detail::take_uint(s, 20, e.offset) || !detail::consume(s, " ") ||
        !detail::take_uint(s, 5, fp_len) || !detail::consume(s, " ") || !detail::take_uint(s, 20, e.fp_hash) ||
        !detail::consume(s, " "))
      return bad("expected 'file DEV INO OFFSET FPLEN FPHASH PATH'");
    e.fp_len = static_cast<uint32_t>(fp_len);
    if (!unescape(s, e.path)) return bad("bad path escape");
    st.files.push_back(std::move(e));
  }
  if (lineno == 0) return bad("empty file");
  return std::optional<TailState>(std::move(st));
}

Status save_tail_state(const std::string& path, const TailState& st, bool fsync) {
  std::string text;
  text.reserve(64 + st.files.size() * 96);
  text += kMagic;
  text += "\napp ";
  text += escape(st.app_state);
  text += '\n';
  for (const auto& e : st.files) {
    text += "file " + std::to_string(e.id.dev) + " " + std::to_string(e.id.ino) + " " + std::to_string(e.offset) +
            " " + std::to_string(e.fp_len) + " " + std::to_string(e.fp_hash) + " " + escape(e.path) + "\n";
  }
  return atomic_write_file(path, text, fsync);
}

std::string escape_line(std::string_view s) { return escape(s); }
bool unescape_line(std::string_view s, std::string& out) { return unescape(s, out); }

Status atomic_write_file(const std::string& path, std::string_view text, bool fsync) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_err("cannot write state file", tmp);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      Error e = io_err("cannot write state file", tmp);
      ::close(fd);
      return e;
    }
    done += static_cast<size_t>(n);
  }
  if (fsync && ::fsync(fd) != 0) {
    Error e = io_err("cannot fsync state file", tmp);
    ::close(fd);
    return e;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_err("cannot rename state file to", path);
  if (fsync) {
    std::string dir = path.substr(0, path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/'));
    if (dir.empty()) dir = ".";
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  return {};
}

}  // namespace halong::agent::logs
