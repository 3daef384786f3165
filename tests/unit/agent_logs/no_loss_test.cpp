// "No loss, no duplicates": 100,000 numbered lines written across rename and copy-truncate
// rotations, with the tailing process killed (SIGKILL) and restarted twice in the middle
// (once with a rotation while it is down). Every number must arrive exactly once.
//
// The tailing process is a fork of this test running FileTailer: it appends every line it
// receives to out.txt, commits, and syncs with app_state = out.txt's length; on start it
// cuts out.txt back to the restored length (lines handled after the last sync are delivered
// again, so they must be forgotten: the consumer side of exactly-once).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "agent/logs/file_tailer.hpp"
#include "helpers.hpp"

using namespace halong::agent::logs;

namespace {

[[noreturn]] void tail_child(const std::string& dir) {
  LogInputConfig in;
  in.paths = {dir + "/app.log"};
  in.format = "raw";
  TailerOptions o;
  o.state_dir = dir + "/state";
  o.rotate_wait_us = 5'000'000;  // the default: under load the writer may take long to write to the old file
  o.rescan_interval_us = 20'000;
  o.fsync = false;  // kill -9 keeps the page cache: no fsync needed for this test
  auto t = FileTailer::open({in}, o);
  if (!t) _exit(3);
  auto& tailer = **t;
  const std::string out_path = dir + "/out.txt";
  uint64_t out_len = 0;
  if (!tailer.restored_app_state().empty()) out_len = std::stoull(tailer.restored_app_state());
  int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(out_len)) != 0) _exit(4);
  std::string buf;
  for (;;) {
    buf.clear();
    size_t n = tailer.poll([&](const TailLine& l) {
      buf.append(l.text);
      buf.push_back('\n');
      tailer.commit(l.next);
    });
    if (!buf.empty()) {
      if (::pwrite(fd, buf.data(), buf.size(), static_cast<off_t>(out_len)) != static_cast<ssize_t>(buf.size()))
        _exit(5);
      out_len += buf.size();
    }
    if (!tailer.sync(std::to_string(out_len))) _exit(6);
    if (n == 0) tailer.wait(20);
  }
}

pid_t start_child(const std::string& dir) {
  pid_t pid = ::fork();
  if (pid == 0) tail_child(dir);
  return pid;
}

void kill_child(pid_t pid) {
  ::kill(pid, SIGKILL);
  int st = 0;
  ::waitpid(pid, &st, 0);
}

uint64_t out_lines(const std::string& dir) {
  struct stat st{};
  if (::stat((dir + "/out.txt").c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_size) / 7;  // "%06d\n"
}

// What arrived so far, for failure messages: the child's fate and the missing numbers.
std::string diagnose(const std::string& dir, pid_t child, int upto) {
  std::string d;
  int st = 0;
  pid_t r = ::waitpid(child, &st, WNOHANG);
  if (r == child)
    d += WIFEXITED(st) ? "tailing process exited with " + std::to_string(WEXITSTATUS(st))
                       : "tailing process killed by signal " + std::to_string(WTERMSIG(st));
  else
    d += "tailing process alive";
  std::vector<int> seen(static_cast<size_t>(upto) + 1, 0);
  for (const auto& l : halong::test::read_lines(dir + "/out.txt")) {
    int v = std::atoi(l.c_str());
    if (v >= 1 && v <= upto) ++seen[static_cast<size_t>(v)];
  }
  int shown = 0;
  for (int i = 1; i <= upto && shown < 5; ++i) {
    if (seen[static_cast<size_t>(i)] == 1) continue;
    int j = i;
    while (j + 1 <= upto && seen[static_cast<size_t>(j + 1)] == seen[static_cast<size_t>(i)]) ++j;
    d += "; " + std::to_string(i) + ".." + std::to_string(j) + " seen " + std::to_string(seen[static_cast<size_t>(i)]) + "x";
    ++shown;
    i = j;
  }
  d += "; state: " + halong::test::slurp(dir + "/state/tail.state");
  return d;
}

bool wait_for(const std::string& dir, uint64_t n, int seconds = 30) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (out_lines(dir) >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

struct Writer {
  std::string path;
  int fd = -1;
  explicit Writer(std::string p) : path(std::move(p)) { reopen(); }
  ~Writer() {
    if (fd >= 0) ::close(fd);
  }
  void reopen() {
    if (fd >= 0) ::close(fd);
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
  }
  void line(int n) {
    char b[16];
    int len = std::snprintf(b, sizeof b, "%06d\n", n);
    REQUIRE(::write(fd, b, static_cast<size_t>(len)) == len);
  }
};

}  // namespace

TEST_CASE("100,000 numbered lines across rename and copy-truncate rotations and two kill -9 restarts arrive exactly once",
          "[agent][logs][tailer][slow]") {
  halong::test::TempDir d;
  const std::string log = d / "app.log";
  Writer w(log);
  pid_t child = start_child(d.path);
  REQUIRE(child > 0);
  int kills = 0;
  for (int n = 1; n <= 100000; ++n) {
    w.line(n);
    if (n == 10000 || n == 70000) {  // rename rotation; the writer keeps its old fd a little
      REQUIRE(::rename(log.c_str(), (log + ".1").c_str()) == 0);
      for (int k = 1; k <= 200; ++k) w.line(++n);
      w.reopen();
    }
    if (n == 20000 || n == 85000) {  // copy-truncate (only loses lines if the reader lags: wait)
      if (!wait_for(d.path, static_cast<uint64_t>(n))) FAIL(diagnose(d.path, child, n));
      halong::test::overwrite(log + ".ct", halong::test::slurp(log));
      REQUIRE(::ftruncate(w.fd, 0) == 0);
    }
    if (n == 35000 || n == 60000) {  // the agent dies without warning
      kill_child(child);
      ++kills;
      if (n == 35000) {  // ...and the log rotates while it is down
        for (int k = 1; k <= 3000; ++k) w.line(++n);
        REQUIRE(::rename(log.c_str(), (log + ".1").c_str()) == 0);
        for (int k = 1; k <= 10; ++k) w.line(++n);
        w.reopen();
      }
      child = start_child(d.path);
      REQUIRE(child > 0);
    }
    if (n % 1000 == 0) std::this_thread::yield();
  }
  bool done = wait_for(d.path, 100000);
  if (!done) WARN(diagnose(d.path, child, 100000));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // any duplicate would show up now
  kill_child(child);
  CHECK(done);
  CHECK(kills == 2);

  std::vector<int> seen(100001, 0);
  uint64_t bad = 0, dup = 0;
  for (const auto& l : halong::test::read_lines(d / "out.txt")) {
    int v = std::atoi(l.c_str());
    if (l.size() != 6 || v < 1 || v > 100000) {
      ++bad;
      continue;
    }
    if (++seen[static_cast<size_t>(v)] > 1) ++dup;
  }
  uint64_t missing = 0;
  for (int i = 1; i <= 100000; ++i) missing += seen[static_cast<size_t>(i)] == 0;
  CHECK(bad == 0);
  CHECK(dup == 0);
  CHECK(missing == 0);
}
