#include "agent/logs/syslog_listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

namespace halong::agent::logs {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// "1.2.3.4:514" or "[::1]:514"
bool parse_addr(const std::string& s, sockaddr_storage& ss, socklen_t& len) {
  std::memset(&ss, 0, sizeof ss);
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string::npos) return false;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5) return false;
  unsigned long p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    p = p * 10 + unsigned(c - '0');
  }
  if (p > 65535) return false;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(p));
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(p));
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

std::string peer_name(const char* proto, const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    return std::string(proto) + "://" + host + ":" + std::to_string(port);
  }
  auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
  ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
  port = ntohs(a->sin6_port);
  return std::string(proto) + "://[" + host + "]:" + std::to_string(port);
}

uint16_t bound_port(int fd) {
  if (fd < 0) return 0;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

void trim_trailer(std::string_view& m) {
  while (!m.empty() && (m.back() == '\n' || m.back() == '\r' || m.back() == '\0')) m.remove_suffix(1);
}

struct Conn {
  int fd = -1;
  std::string peer;
  std::unique_ptr<SyslogFramer> framer;
  int64_t last_ms = 0;
};

}  // namespace

struct SyslogListener::Impl {
  SyslogListenerConfig cfg;
  int udp = -1, tcp = -1;
  std::vector<Conn> conns;
  SyslogListenerStats stats;
  std::vector<char> rbuf = std::vector<char>(65536);

  ~Impl() {
    if (udp >= 0) ::close(udp);
    if (tcp >= 0) ::close(tcp);
    for (auto& c : conns) ::close(c.fd);
  }

  static Result<int> bind_socket(const std::string& addr, int type) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    const char* what = type == SOCK_DGRAM ? "udp" : "tcp";
    if (!parse_addr(addr, ss, len))
      return make_error(ErrorCode::invalid_argument,
                        std::string("syslog ") + what + " address '" + addr + "': expected IP:PORT or [IPv6]:PORT");
    int fd = ::socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(ErrorCode::io_error, std::string("syslog ") + what + " socket: " + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || (type == SOCK_STREAM && ::listen(fd, 64) != 0)) {
      Error e = make_error(ErrorCode::io_error,
                           std::string("syslog ") + what + " cannot listen on " + addr + ": " + std::strerror(errno));
      ::close(fd);
      return e;
    }
    return fd;
  }

  void emit(std::string_view text, const std::string& peer, bool truncated, const MessageFn& fn, size_t& n) {
    trim_trailer(text);
    if (text.empty() && !truncated) return;
    ++stats.messages;
    if (truncated) ++stats.truncated;
    ++n;
    fn(SyslogMessage{text, peer, truncated});
  }

  void read_udp(const MessageFn& fn, size_t& n) {
    for (int i = 0; i < 1024; ++i) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      ssize_t r = ::recvfrom(udp, rbuf.data(), rbuf.size(), MSG_TRUNC, reinterpret_cast<sockaddr*>(&ss), &len);
      if (r < 0) break;
      size_t got = std::min(static_cast<size_t>(r), rbuf.size());
      bool cut = static_cast<size_t>(r) > rbuf.size() || got > cfg.max_message;
      got = std::min(got, cfg.max_message);
      emit(std::string_view(rbuf.data(), got), peer_name("udp", ss), cut, fn, n);
    }
  }

  void accept_tcp() {
    for (;;) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      int fd = ::accept4(tcp, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      if (conns.size() >= cfg.max_connections) {
        ++stats.refused;
        ::close(fd);
        continue;
      }
      ++stats.connections;
      Conn c;
      c.fd = fd;
      c.peer = peer_name("tcp", ss);
      c.framer = std::make_unique<SyslogFramer>(cfg.max_message);
      c.last_ms = now_ms();
      conns.push_back(std::move(c));
    }
  }

  // false: close it
  bool read_conn(Conn& c, const MessageFn& fn, size_t& n) {
    for (int i = 0; i < 64; ++i) {
      ssize_t r = ::recv(c.fd, rbuf.data(), rbuf.size(), 0);
      auto deliver = [&](std::string_view text, bool cut) { emit(text, c.peer, cut, fn, n); };
      if (r == 0) {
        c.framer->feed({}, true, deliver);
        return false;
      }
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;
        return false;
      }
      c.last_ms = now_ms();
      if (!c.framer->feed(std::string_view(rbuf.data(), static_cast<size_t>(r)), false, deliver)) {
        ++stats.framing_errors;
        return false;
      }
    }
    return true;
  }
};

bool SyslogFramer::feed(std::string_view bytes, bool eof, const Fn& on_message) {
  buf_.append(bytes);
  std::string_view b = buf_;
  size_t used = 0;
  bool ok = true;
  auto emit = [&](std::string_view text, bool cut) {
    trim_trailer(text);
    if (!text.empty() || cut) on_message(text, cut);
  };
  while (used < b.size()) {
    std::string_view rest = b.substr(used);
    if (skip_ > 0) {  // the tail of an over-long octet-counted message
      size_t k = std::min(skip_, rest.size());
      skip_ -= k;
      used += k;
      continue;
    }
    if (!discarding_ && msg_.empty() && rest[0] >= '1' && rest[0] <= '9') {
      // octet counting: MSG-LEN SP SYSLOG-MSG
      size_t i = 0;
      uint64_t len = 0;
      while (i < rest.size() && i < 10 && rest[i] >= '0' && rest[i] <= '9') len = len * 10 + uint64_t(rest[i++] - '0');
      if (i == rest.size()) break;  // need more digits
      if (rest[i] == ' ') {
        if (i >= 10) {
          ok = false;
          break;
        }
        size_t body = rest.size() - i - 1;
        if (len <= max_) {
          if (body < len) break;  // wait for the whole message
          emit(rest.substr(i + 1, len), false);
          used += i + 1 + len;
        } else {
          if (body < max_) break;
          emit(rest.substr(i + 1, max_), true);
          used += i + 1 + max_;
          skip_ = len - max_;
        }
        continue;
      }
      // digits not followed by a space: a newline-framed message that starts with digits
    }
    // non-transparent framing: up to LF (or NUL, which some senders use)
    size_t end = rest.find_first_of(std::string_view("\n\0", 2));
    std::string_view part = rest.substr(0, end);
    if (!discarding_) {
      size_t room = max_ - msg_.size();
      if (part.size() > room) {
        msg_.append(part.substr(0, room));
        emit(msg_, true);
        msg_.clear();
        discarding_ = true;
      } else {
        msg_.append(part);
      }
    }
    if (end == std::string_view::npos) {
      used = b.size();
      break;
    }
    if (!discarding_) emit(msg_, false);
    msg_.clear();
    discarding_ = false;
    used += end + 1;
  }
  buf_.erase(0, used);
  if (eof) {
    if (!msg_.empty() && !discarding_) emit(msg_, false);
    msg_.clear();
    buf_.clear();
    skip_ = 0;
    discarding_ = false;
  }
  return ok;
}

SyslogListener::SyslogListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SyslogListener::~SyslogListener() = default;

Result<std::unique_ptr<SyslogListener>> SyslogListener::open(const SyslogListenerConfig& cfg) {
  if (!cfg.enabled) return make_error(ErrorCode::invalid_argument, "syslog listener is disabled (enabled: false)");
  if (cfg.udp.empty() && cfg.tcp.empty())
    return make_error(ErrorCode::invalid_argument, "syslog listener: neither a udp nor a tcp address is configured");
  if (cfg.max_message == 0) return make_error(ErrorCode::invalid_argument, "syslog listener: max_message is 0");
  auto impl = std::make_unique<Impl>();
  impl->cfg = cfg;
  if (!cfg.udp.empty()) {
    auto fd = Impl::bind_socket(cfg.udp, SOCK_DGRAM);
    if (!fd) return fd.error();
    impl->udp = *fd;
  }
  if (!cfg.tcp.empty()) {
    auto fd = Impl::bind_socket(cfg.tcp, SOCK_STREAM);
    if (!fd) return fd.error();
    impl->tcp = *fd;
  }
  return std::unique_ptr<SyslogListener>(new SyslogListener(std::move(impl)));
}

uint16_t SyslogListener::udp_port() const { return bound_port(impl_->udp); }
uint16_t SyslogListener::tcp_port() const { return bound_port(impl_->tcp); }
const SyslogListenerStats& SyslogListener::stats() const { return impl_->stats; }
size_t SyslogListener::connections() const { return impl_->conns.size(); }

size_t SyslogListener::poll(int timeout_ms, const MessageFn& on_message) {
  Impl& m = *impl_;
  std::vector<pollfd> fds;
  if (m.udp >= 0) fds.push_back({m.udp, POLLIN, 0});
  if (m.tcp >= 0) fds.push_back({m.tcp, POLLIN, 0});
  for (const auto& c : m.conns) fds.push_back({c.fd, POLLIN, 0});
  int r = ::poll(fds.data(), fds.size(), timeout_ms);
  size_t n = 0;
  if (r <= 0) {
    if (r == 0) {
      // idle connections
      int64_t t = now_ms();
      for (size_t i = 0; i < m.conns.size();) {
        if (t - m.conns[i].last_ms > m.cfg.idle_timeout_ms) {
          ::close(m.conns[i].fd);
          m.conns.erase(m.conns.begin() + static_cast<long>(i));
          ++m.stats.idle_closed;
        } else {
          ++i;
        }
      }
    }
    return 0;
  }
  size_t k = 0;
  if (m.udp >= 0 && (fds[k++].revents & POLLIN)) m.read_udp(on_message, n);
  bool accept_ready = m.tcp >= 0 && (fds[k++].revents & POLLIN);
  for (size_t i = 0; i < m.conns.size();) {
    short rev = fds[k + i].revents;
    bool keep = true;
    if (rev & (POLLIN | POLLHUP | POLLERR)) keep = m.read_conn(m.conns[i], on_message, n);
    if (!keep) {
      ::close(m.conns[i].fd);
      m.conns.erase(m.conns.begin() + static_cast<long>(i));
      fds.erase(fds.begin() + static_cast<long>(k + i));
    } else {
      ++i;
    }
  }
  if (accept_ready) m.accept_tcp();
  return n;
}

}  // namespace halong::agent::logs
