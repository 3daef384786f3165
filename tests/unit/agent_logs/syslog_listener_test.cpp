#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "agent/logs/parser.hpp"
#include "agent/logs/syslog_listener.hpp"

using namespace halong::agent::logs;

namespace {

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

void send_udp(uint16_t port, const std::string& msg) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  auto a = loopback(port);
  REQUIRE(::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a) ==
          static_cast<ssize_t>(msg.size()));
  ::close(fd);
}

int connect_tcp(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  auto a = loopback(port);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

void send_all(int fd, const std::string& s) { REQUIRE(::send(fd, s.data(), s.size(), 0) == static_cast<ssize_t>(s.size())); }

struct Received {
  std::vector<std::string> texts;
  std::vector<bool> cut;
  std::vector<std::string> peers;
};

// Polls (bounded) until n messages have arrived.
void pump(SyslogListener& l, Received& r, size_t n) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (r.texts.size() < n && std::chrono::steady_clock::now() < deadline) {
    l.poll(50, [&](const SyslogMessage& m) {
      r.texts.emplace_back(m.text);
      r.cut.push_back(m.truncated);
      r.peers.emplace_back(m.peer);
    });
  }
}

std::unique_ptr<SyslogListener> listener(size_t max_message = 64 * 1024) {
  SyslogListenerConfig c;
  c.enabled = true;
  c.udp = "127.0.0.1:0";
  c.tcp = "127.0.0.1:0";
  c.max_message = max_message;
  auto l = SyslogListener::open(c);
  REQUIRE(l.ok());
  return std::move(l).value();
}

}  // namespace

TEST_CASE("syslog listener is off by default and names a bad address", "[agent][logs][syslog]") {
  SyslogListenerConfig c;
  c.udp = "127.0.0.1:0";
  CHECK_FALSE(SyslogListener::open(c).ok());
  c.enabled = true;
  c.udp = "localhost-ish:99999";
  auto l = SyslogListener::open(c);
  REQUIRE_FALSE(l.ok());
  CHECK_THAT(l.error().message, Catch::Contains("localhost-ish:99999"));
}

TEST_CASE("syslog listener receives RFC 3164 and RFC 5424 over UDP; the syslog parser reads them",
          "[agent][logs][syslog]") {
  auto l = listener();
  REQUIRE(l->udp_port() != 0);
  send_udp(l->udp_port(), "<38>Nov 23 12:00:00 fw1 sshd[7]: Failed password for root from 203.0.113.9 port 2 ssh2\n");
  send_udp(l->udp_port(), "<165>1 2026-11-23T12:00:00.000Z sw1 cfgd 99 CHG [meta sequenceId=\"1\"] config changed");
  Received r;
  pump(*l, r, 2);
  REQUIRE(r.texts.size() == 2);
  CHECK_THAT(r.peers[0], Catch::StartsWith("udp://127.0.0.1:"));
  auto p = make_parser("syslog").value();
  halong::logs::LogEvent ev;
  REQUIRE(p->parse(r.texts[0], ev));
  CHECK(*ev.field("host") == "fw1");
  CHECK(*ev.field("src_ip") == "203.0.113.9");
  REQUIRE(p->parse(r.texts[1], ev));
  CHECK(*ev.field("host") == "sw1");
  CHECK(*ev.field("msgid") == "CHG");
  CHECK(*ev.field("message") == "config changed");
}

TEST_CASE("syslog listener frames TCP by octet counting and by newline, split across segments",
          "[agent][logs][syslog]") {
  auto l = listener();
  int fd = connect_tcp(l->tcp_port());
  std::string m1 = "<13>1 2026-11-23T12:00:00Z h app - - - first message\nwith a newline inside";
  std::string framed = std::to_string(m1.size()) + " " + m1;
  send_all(fd, framed.substr(0, 5));
  Received r;
  l->poll(50, [&](const SyslogMessage& m) { r.texts.emplace_back(m.text); });  // accept
  l->poll(50, [&](const SyslogMessage& m) { r.texts.emplace_back(m.text); });
  CHECK(r.texts.empty());  // incomplete
  send_all(fd, framed.substr(5) + "<13>Nov 23 12:00:01 h app: second\n<13>Nov 23 12:00:02 h app: thi");
  send_all(fd, "rd\n12 digits then\n");  // "12 " is an octet count: the 12 bytes are "digits then\n"
  pump(*l, r, 4);
  REQUIRE(r.texts.size() == 4);
  CHECK(r.texts[0] == m1);
  CHECK(r.texts[1] == "<13>Nov 23 12:00:01 h app: second");
  CHECK(r.texts[2] == "<13>Nov 23 12:00:02 h app: third");
  CHECK(r.texts[3] == "digits then");
  ::close(fd);
}

TEST_CASE("syslog listener cuts over-long TCP messages, counts them, and keeps the next one",
          "[agent][logs][syslog]") {
  auto l = listener(100);
  int fd = connect_tcp(l->tcp_port());
  std::string big(250, 'x');
  send_all(fd, big + "\nafter-newline\n" + std::to_string(big.size()) + " " + big + "5 after");
  Received r;
  pump(*l, r, 4);
  REQUIRE(r.texts.size() == 4);
  CHECK(r.texts[0] == std::string(100, 'x'));
  CHECK(r.cut[0]);
  CHECK(r.texts[1] == "after-newline");
  CHECK_FALSE(r.cut[1]);
  CHECK(r.texts[2] == std::string(100, 'x'));
  CHECK(r.cut[2]);
  CHECK(r.texts[3] == "after");
  CHECK(l->stats().truncated == 2);
  ::close(fd);
  pump(*l, r, 5);  // notices the close
  CHECK(l->connections() == 0);
}

TEST_CASE("syslog framer: byte-by-byte input frames the same as one buffer", "[agent][logs][syslog]") {
  std::string stream = "5 hello<13>Nov 23 12:00:00 h a: x\n11 two\nlines!\n" + std::string(30, 'L') +
                       "\n40 " + std::string(40, 'o') + "tail-without-newline";
  auto run = [&](size_t step) {
    SyslogFramer f(20);
    std::vector<std::pair<std::string, bool>> out;
    auto on = [&](std::string_view t, bool cut) { out.emplace_back(std::string(t), cut); };
    for (size_t i = 0; i < stream.size(); i += step) REQUIRE(f.feed(std::string_view(stream).substr(i, step), false, on));
    REQUIRE(f.feed({}, true, on));
    return out;
  };
  auto whole = run(stream.size());
  std::vector<std::pair<std::string, bool>> expect = {
      {"hello", false},
      {"<13>Nov 23 12:00:00 h a: x", true},  // 26 bytes > 20: cut, the rest of the line dropped
      {"two\nlines!", false},
      {std::string(20, 'L'), true},
      {std::string(20, 'o'), true},
      {"tail-without-newline", false},
  };
  expect[1].first = expect[1].first.substr(0, 20);
  CHECK(whole == expect);
  CHECK(run(1) == expect);
  CHECK(run(7) == expect);
}

TEST_CASE("syslog framer: an octet count of 10 digits is a framing error", "[agent][logs][syslog]") {
  SyslogFramer f(100);
  CHECK_FALSE(f.feed("1234567890 x", false, [](std::string_view, bool) {}));
}
