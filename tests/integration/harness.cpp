#include "tests/integration/harness.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace halong::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

fs::path binary_dir() { return HALONG_BINARY_DIR; }
fs::path source_dir() { return HALONG_SOURCE_DIR; }
fs::path corpus_dir() { return HALONG_CORPUS_DIR; }
std::string agent_binary() { return (binary_dir() / "agent" / "halong-agent").string(); }
std::string collector_binary() { return (binary_dir() / "collector" / "halong-collector").string(); }

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "halong-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}
TempDir::~TempDir() {
  std::error_code ec;
  if (!std::getenv("HALONG_KEEP_TEST_DIRS")) fs::remove_all(path_, ec);
}

Process::~Process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
  }
}

void Process::start(const std::vector<std::string>& argv, const fs::path& out_file, const fs::path& err_file) {
  status_.reset();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out >= 0) dup2(out, 1);
    if (err >= 0) dup2(err, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  pid_ = pid;
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return status_;
    }
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

void Process::kill(int sig) {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

bool Process::running() { return pid_ > 0 && !wait(0ms); }

RunResult run(const std::vector<std::string>& argv, const fs::path& work_dir, std::chrono::milliseconds timeout) {
  static int n = 0;
  auto out = work_dir / ("run" + std::to_string(++n) + ".out");
  auto err = work_dir / ("run" + std::to_string(n) + ".err");
  Process p;
  p.start(argv, out, err);
  RunResult r;
  auto code = p.wait(timeout);
  if (!code) {
    p.kill();
    p.wait(5s);
    r.code = -1;
  } else {
    r.code = *code;
  }
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

bool wait_for_file(const fs::path& p, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    if (fs::exists(p, ec) && fs::file_size(p, ec) > 0) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

HttpResponse http_get(uint16_t port, const std::string& target, const std::string& bearer) {
  return http_request(port, "GET", target, bearer, "");
}

HttpResponse http_request(uint16_t port, const std::string& method, const std::string& target, const std::string& bearer,
                          const std::string& json_body) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(10s);
  boost::system::error_code ec;
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return {0, ec.message()};
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
  if (!json_body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = json_body;
    req.prepare_payload();
  }
  http::write(stream, req, ec);
  if (ec) return {0, ec.message()};
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);

  http::read(stream, buf, parser, ec);
  auto& res = parser.get();
  if (ec) return {0, ec.message()};
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  return {static_cast<int>(res.result_int()), res.body()};
}

CollectorProcess::CollectorProcess(fs::path data_dir) : dir_(std::move(data_dir)) {}

namespace {
uint16_t read_port(const fs::path& addr_file) {
  auto s = read_file(addr_file);
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return 0;
  return static_cast<uint16_t>(std::stoi(s.substr(colon + 1)));
}
}  // namespace

void CollectorProcess::start() {
  ++starts_;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  fs::remove(dir_ / "api.addr", ec);
  fs::remove(dir_ / "gateway.addr", ec);
  proc_.start({collector_binary(), "serve", "--set", "data_dir=" + dir_.string(), "--set", "api.listen=127.0.0.1:0",
               "--set", "gateway.listen=127.0.0.1:0", "--set", "log_level=info"},
              dir_ / "collector.out", dir_ / "collector.err");
  if (!wait_for_file(dir_ / "api.addr", 60s) || !wait_for_file(dir_ / "gateway.addr", 5s))
    throw std::runtime_error("collector did not start: " + log());
  api_port_ = read_port(dir_ / "api.addr");
  gateway_port_ = read_port(dir_ / "gateway.addr");
  for (int i = 0; i < 500; ++i) {
    if (http_get(api_port_, "/healthz").status == 200) return;
    std::this_thread::sleep_for(10ms);
  }
  throw std::runtime_error("collector /healthz did not answer: " + log());
}

void CollectorProcess::stop() {
  proc_.kill(SIGTERM);
  if (!proc_.wait(30s)) {
    proc_.kill(SIGKILL);
    proc_.wait(5s);
  }
}

void CollectorProcess::kill9() {
  proc_.kill(SIGKILL);
  proc_.wait(10s);
}

std::string CollectorProcess::api_token() const {
  auto s = read_file(dir_ / "api-token");
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}
std::string CollectorProcess::enroll_token() const {
  auto s = read_file(dir_ / "enroll-token");
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}
fs::path CollectorProcess::ca_file() const { return dir_ / "tls" / "collector.crt"; }
std::string CollectorProcess::log() const { return read_file(dir_ / "collector.err") + read_file(dir_ / "collector.out"); }

std::vector<boost::json::object> CollectorProcess::alerts(const std::string& query) {
  std::vector<boost::json::object> out;
  std::string cursor;
  for (int page = 0; page < 10000; ++page) {
    std::string target = "/api/v1/alerts?limit=500";
    if (!query.empty()) target += "&" + query;
    if (!cursor.empty()) target += "&cursor=" + cursor;
    auto r = http_get(api_port_, target, api_token());
    if (r.status != 200) throw std::runtime_error("GET " + target + " -> " + std::to_string(r.status) + " " + r.body);
    auto v = boost::json::parse(r.body).as_object();
    for (auto& a : v.at("alerts").as_array()) out.push_back(a.as_object());
    auto it = v.find("next_cursor");
    if (it == v.end() || !it->value().is_string() || it->value().as_string().empty()) break;
    cursor = std::string(it->value().as_string());
  }
  return out;
}

}  // namespace halong::testing
