// Test harness for end-to-end tests: runs the real halong-collector and halong-agent
// binaries as child processes on loopback, in a temporary directory, and talks to the
// collector's HTTP API with a small Beast client.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

namespace halong::testing {

std::filesystem::path binary_dir();          // the CMake build directory
std::filesystem::path source_dir();
std::filesystem::path corpus_dir();          // ../shared/corpus (may not exist)
std::string agent_binary();
std::string collector_binary();

// A fresh directory under /tmp, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& s) const { return path_ / s; }

 private:
  std::filesystem::path path_;
};

// A child process; stdout and stderr go to files next to the data.
class Process {
 public:
  Process() = default;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();
  void start(const std::vector<std::string>& argv, const std::filesystem::path& out_file,
             const std::filesystem::path& err_file);
  // Waits for exit; returns the exit code (128+signal when killed), or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  void kill(int sig = SIGKILL);
  bool running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// Runs a command to completion; returns exit code and captured stdout/stderr.
struct RunResult {
  int code = -1;
  std::string out, err;
};
RunResult run(const std::vector<std::string>& argv, const std::filesystem::path& work_dir,
              std::chrono::milliseconds timeout = std::chrono::seconds(120));

std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& text);
// Waits until the file exists and is non-empty; false on timeout.
bool wait_for_file(const std::filesystem::path& p, std::chrono::milliseconds timeout);

struct HttpResponse {
  int status = 0;
  std::string body;
};
HttpResponse http_get(uint16_t port, const std::string& target, const std::string& bearer = "");
// Any method; a non-empty body is sent as application/json.
HttpResponse http_request(uint16_t port, const std::string& method, const std::string& target,
                          const std::string& bearer, const std::string& json_body);

// A collector on loopback with its data in `dir`, on ports chosen by the kernel.
class CollectorProcess {
 public:
  explicit CollectorProcess(std::filesystem::path data_dir);
  void start();            // waits until the API answers /healthz
  void stop();             // SIGTERM and wait
  void kill9();
  uint16_t api_port() const { return api_port_; }
  uint16_t gateway_port() const { return gateway_port_; }
  std::string api_token() const;
  std::string enroll_token() const;
  std::filesystem::path ca_file() const;
  std::string log() const;
  // GET /api/v1/alerts?<query> with the API token; all pages; newest first.
  std::vector<boost::json::object> alerts(const std::string& query = "");

 private:
  std::filesystem::path dir_;
  Process proc_;
  uint16_t api_port_ = 0, gateway_port_ = 0;
  int starts_ = 0;
};

}  // namespace halong::testing
