// Process-level helpers for the fault tests: the real `halong-collector serve` binary and
// the agent simulator (halong_test_agent) as child processes on loopback, their output in
// files under the test's temporary directory, and a small HTTP client for the collector's
// API (/api/v1, bearer token from <data_dir>/api-token) so every test ends with a count
// check through the API.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "collector/gateway/certs.hpp"
#include "transport_fixture.hpp"

extern char** environ;

namespace halong::testing {

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Waits until pred() is true or the timeout passes; returns the last pred().
inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds step = std::chrono::milliseconds(50)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(step);
  }
  return pred();
}

// A child process; stdout and stderr appended to files. Killed (SIGKILL) by the destructor.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  void start(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) {
    REQUIRE(pid_ <= 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    INFO("spawn " << args[0]);
    REQUIRE(rc == 0);
  }
  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  bool running() {
    if (pid_ <= 0) return false;
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == 0) return true;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    pid_ = -1;
    return false;
  }
  // The exit status (128+signal when killed), or -1 on timeout (the child is then killed).
  int wait(std::chrono::milliseconds timeout) {
    if (!wait_until([this] { return !running(); }, timeout, std::chrono::milliseconds(10))) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
      return -1;
    }
    return status_;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

struct HttpReply {
  int status = 0;
  std::string body;
};

inline HttpReply http_get(uint16_t port, const std::string& target, const std::string& bearer = "") {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(30));
  boost::system::error_code ec;
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return {0, ec.message()};
  http::request<http::string_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
  http::write(stream, req, ec);
  if (ec) return {0, ec.message()};
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);
  http::read(stream, buf, parser, ec);
  if (ec) return {0, ec.message()};
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  return {static_cast<int>(parser.get().result_int()), parser.get().body()};
}

// The value of the first Prometheus sample whose line contains `needle`, or -1.
inline double metric_value(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.find(needle) == std::string::npos) continue;
    auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    try {
      return std::stod(line.substr(sp + 1));
    } catch (...) {
    }
  }
  return -1;
}

inline std::string collector_binary() { return HALONG_COLLECTOR_BINARY; }
inline std::string sim_agent_binary() { return HALONG_TEST_AGENT; }

// The real collector (`halong-collector serve`) on loopback. The gateway port is chosen by
// the kernel on the first start and kept on restarts (the agents know it); the API port is
// new on each start (read from <data_dir>/api.addr). The shared enrollment token is
// kToken (the simulator's agents send it in their hello).
class RealCollector {
 public:
  explicit RealCollector(fs::path data_dir) : dir_(std::move(data_dir)) {}
  const fs::path& dir() const { return dir_; }
  uint16_t gateway_port = 0;  // set before start() to use a given port
  uint16_t api_port = 0;

  // The certificate the collector will use (created now when it has never run), for the
  // agents to pin.
  std::string fingerprint() {
    auto c = collector::ensure_server_certificate(dir_);
    REQUIRE(c.ok());
    return c->fingerprint_sha256;
  }

  void start(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    fs::remove(dir_ / "api.addr", ec);
    fs::remove(dir_ / "gateway.addr", ec);
    ++starts_;
    proc_.start({collector_binary(), "serve", "--set", "data_dir=" + dir_.string(), "--set", "api.listen=127.0.0.1:0", "--set",
                 "gateway.listen=127.0.0.1:" + std::to_string(gateway_port), "--set", "log_level=info", "--set",
                 std::string("enrollment.token=") + kToken},
                dir_ / "collector.out", dir_ / "collector.err");
    auto ready = [&] {
      return fs::exists(dir_ / "api.addr", ec) && fs::exists(dir_ / "gateway.addr", ec) &&
             read_port(dir_ / "api.addr") != 0 && read_port(dir_ / "gateway.addr") != 0;
    };
    bool up = wait_until([&] { return ready() || !proc_.running(); }, timeout, std::chrono::milliseconds(20)) && ready();
    INFO("collector log:\n" << log());
    REQUIRE(up);
    api_port = read_port(dir_ / "api.addr");
    uint16_t gw = read_port(dir_ / "gateway.addr");
    if (gateway_port != 0) REQUIRE(gw == gateway_port);
    gateway_port = gw;
    REQUIRE(wait_until([&] { return http_get(api_port, "/healthz").status == 200; }, std::chrono::seconds(20)));
  }
  void kill9() {
    proc_.signal(SIGKILL);
    REQUIRE(proc_.wait(std::chrono::seconds(20)) == 128 + SIGKILL);
  }
  // SIGTERM; a clean exit (status 0) is required.
  void stop() {
    proc_.signal(SIGTERM);
    int st = proc_.wait(std::chrono::seconds(60));
    INFO("collector log:\n" << log());
    REQUIRE(st == 0);
  }
  bool running() { return proc_.running(); }

  std::string api_token() const {
    auto s = slurp(dir_ / "api-token");
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
  }
  std::string log() const { return slurp(dir_ / "collector.err") + slurp(dir_ / "collector.out"); }
  size_t log_count(const std::string& needle) const {
    auto l = log();
    size_t n = 0;
    for (auto p = l.find(needle); p != std::string::npos; p = l.find(needle, p + needle.size())) ++n;
    return n;
  }

  HttpReply get(const std::string& target) { return http_get(api_port, target, api_token()); }
  boost::json::object get_json(const std::string& target) {
    auto r = get(target);
    INFO("GET " << target << " -> " << r.status << " " << r.body.substr(0, 500));
    REQUIRE(r.status == 200);
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(v.is_object());
    return v.as_object();
  }
  // GET /api/v1/alerts/stats?<query>: "total".
  uint64_t stats_total(const std::string& query = "") {
    auto o = get_json("/api/v1/alerts/stats" + (query.empty() ? std::string() : "?" + query));
    return o.at("total").to_number<uint64_t>();
  }
  // The ids of every alert of one agent, paging through GET /api/v1/alerts (1000 a page),
  // and for each the signature text (the simulator writes "simulated <k>" into alert k).
  std::vector<std::pair<std::string, std::string>> alert_ids(const std::string& agent) {
    std::vector<std::pair<std::string, std::string>> out;
    std::string cursor;
    for (int page = 0; page < 100000; ++page) {
      std::string target = "/api/v1/alerts?limit=1000&agent=" + agent;
      if (!cursor.empty()) target += "&cursor=" + cursor;
      auto o = get_json(target);
      for (const auto& a : o.at("alerts").as_array()) {
        const auto& ao = a.as_object();
        out.emplace_back(std::string(ao.at("id").as_string()),
                         std::string(ao.at("alert").as_object().at("signature").as_string()));
      }
      auto it = o.find("next_cursor");
      if (it == o.end() || !it->value().is_string() || it->value().as_string().empty()) break;
      cursor = std::string(it->value().as_string());
    }
    return out;
  }
  // The highest seq stored for an agent, from the newest alert (0 when none).
  uint64_t newest_seq(const std::string& agent) {
    auto o = get_json("/api/v1/alerts?limit=1&agent=" + agent);
    const auto& arr = o.at("alerts").as_array();
    if (arr.empty()) return 0;
    std::string id(arr[0].as_object().at("id").as_string());
    return std::stoull(id.substr(id.rfind(':') + 1));
  }

  // Issue 5's check, through the API: for each agent sim-<i>, every seq 1..per_agent is
  // stored exactly once (stats count == per_agent, the paged ids are exactly
  // sim-<i>:1..per_agent with no repeat, and alert k carries the simulator's text for k),
  // and the total over all alerts is agents * per_agent.
  void check_exactly_once(int agents, uint64_t per_agent, const std::string& prefix = "sim-") {
    for (int i = 0; i < agents; ++i) {
      const std::string agent = prefix + std::to_string(i);
      INFO("agent " << agent);
      CHECK(stats_total("agent=" + agent) == per_agent);
      auto ids = alert_ids(agent);
      std::set<uint64_t> seqs;
      size_t mismatched = 0, repeated = 0, foreign = 0;
      for (const auto& [id, sig] : ids) {
        if (id.rfind(agent + ":", 0) != 0) {
          ++foreign;
          continue;
        }
        uint64_t seq = std::stoull(id.substr(agent.size() + 1));
        if (!seqs.insert(seq).second) ++repeated;
        if (sig != "simulated " + std::to_string(seq)) ++mismatched;
      }
      CHECK(ids.size() == per_agent);
      CHECK(repeated == 0);
      CHECK(foreign == 0);
      CHECK(mismatched == 0);  // alert k stored under seq k, not under another
      REQUIRE(seqs.size() == per_agent);
      REQUIRE(*seqs.begin() == 1);
      REQUIRE(*seqs.rbegin() == per_agent);
    }
    REQUIRE(stats_total("") == static_cast<uint64_t>(agents) * per_agent);
  }

 private:
  static uint16_t read_port(const fs::path& addr_file) {
    auto s = slurp(addr_file);
    auto colon = s.rfind(':');
    if (colon == std::string::npos) return 0;
    try {
      return static_cast<uint16_t>(std::stoul(s.substr(colon + 1)));
    } catch (...) {
      return 0;
    }
  }
  fs::path dir_;
  Child proc_;
  int starts_ = 0;
};

// The agent simulator: `agents` agents (sim-0..) in one process, each raising `count`
// alerts in total across restarts; exits 0 once all are acked.
struct SimOptions {
  int agents = 1;
  uint64_t count = 1000;
  bool fsync_always = false;
  long rate_per_agent = 0;  // alerts/s per agent, 0: as fast as possible
  size_t batch_size = 500;
};

inline void start_sim(Child& c, uint16_t port, const std::string& fingerprint, const fs::path& work, const SimOptions& o) {
  std::error_code ec;
  fs::create_directories(work, ec);
  c.start({sim_agent_binary(), std::to_string(port), fingerprint, kToken, work.string(), std::to_string(o.agents),
           std::to_string(o.count), o.fsync_always ? "always" : "never", std::to_string(o.rate_per_agent),
           std::to_string(o.batch_size)},
          work / "agents.out", work / "agents.err");
}

}  // namespace halong::testing
