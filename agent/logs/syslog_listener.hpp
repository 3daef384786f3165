// SyslogListener: receives syslog from devices that cannot run an agent. UDP (one message
// per datagram) and TCP with RFC 6587 framing: octet counting ("LEN SP MSG") and
// non-transparent newline framing, detected per message. RFC 3164 and RFC 5424 payloads
// are left to the "syslog" parser. Off by default; bind 127.0.0.1 in tests.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace halong::agent::logs {

struct SyslogListenerConfig {
  bool enabled = false;              // off by default
  std::string udp;                   // "127.0.0.1:514", "[::1]:5514"; empty: no UDP ("...:0" = any free port)
  std::string tcp;                   // same for TCP
  size_t max_message = 64 * 1024;    // longer messages are cut (counted)
  size_t max_connections = 256;      // further TCP connections are refused (counted)
  int64_t idle_timeout_ms = 300'000; // TCP connections silent this long are closed
};

struct SyslogMessage {
  std::string_view text;  // without framing, trailing newline/NUL removed
  std::string_view peer;  // "udp://1.2.3.4:5140", "tcp://1.2.3.4:40000"
  bool truncated = false;
};

struct SyslogListenerStats {
  uint64_t messages = 0;
  uint64_t truncated = 0;
  uint64_t connections = 0;
  uint64_t refused = 0;         // over max_connections
  uint64_t framing_errors = 0;  // a bad octet count: the connection is closed
  uint64_t idle_closed = 0;
};

// RFC 6587 framing of one TCP stream, without sockets (the listener runs one per
// connection; tests and the fuzzer call it directly). feed() returns false on a framing
// error (an octet count of more than 9 digits): the connection should be closed.
class SyslogFramer {
 public:
  explicit SyslogFramer(size_t max_message) : max_(max_message == 0 ? 1 : max_message) {}
  // on_message(text, truncated) for every complete message in the bytes so far; at eof a
  // pending newline-framed message is delivered, an incomplete octet-counted one dropped.
  using Fn = std::function<void(std::string_view text, bool truncated)>;
  bool feed(std::string_view bytes, bool eof, const Fn& on_message);

 private:
  size_t max_;
  std::string buf_;          // unframed bytes
  std::string msg_;          // newline framing: the message so far
  size_t skip_ = 0;          // octet counting: bytes of an over-long message still to drop
  bool discarding_ = false;  // newline framing: dropping the rest of an over-long line
};

class SyslogListener {
 public:
  // Binds the configured sockets. Error when disabled, when nothing is configured, or a
  // socket cannot be bound (the message names the address).
  static Result<std::unique_ptr<SyslogListener>> open(const SyslogListenerConfig& cfg);
  ~SyslogListener();
  SyslogListener(const SyslogListener&) = delete;
  SyslogListener& operator=(const SyslogListener&) = delete;

  uint16_t udp_port() const;  // the bound ports (useful with port 0); 0 when not listening
  uint16_t tcp_port() const;

  // Waits up to timeout_ms for traffic, then accepts, reads and delivers every complete
  // message available. Returns the number of messages delivered.
  using MessageFn = std::function<void(const SyslogMessage&)>;
  size_t poll(int timeout_ms, const MessageFn& on_message);

  const SyslogListenerStats& stats() const;
  size_t connections() const;

  struct Impl;

 private:
  explicit SyslogListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace halong::agent::logs
