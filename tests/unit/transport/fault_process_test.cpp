// Fault tests (issue 5 (a)-(d)) with real processes: a test-only collector (RocksStore +
// Gateway) and a test-only agent simulator, killed with SIGKILL and restarted. Counts are
// checked in the collector's RocksDB store after it exits (the HTTP API is wired by the
// lead's end-to-end tests; the store is what the API reads).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>

#include "collector/store/rocks_store.hpp"
#include "transport_fixture.hpp"

extern char** environ;

using namespace halong;
using namespace halong::testing;

namespace {

struct Proc {
  pid_t pid = -1;
  int out = -1;
  std::string buf;

  static Proc spawn(const std::vector<std::string>& args) {
    Proc p;
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int rc = posix_spawn(&p.pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    REQUIRE(rc == 0);
    p.out = fds[0];
    return p;
  }
  // Next stdout line, or "" after `timeout`.
  std::string line(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto nl = buf.find('\n');
      if (nl != std::string::npos) {
        std::string l = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return l;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) return {};
      pollfd pf{out, POLLIN, 0};
      if (::poll(&pf, 1, static_cast<int>(left)) <= 0) continue;
      char tmp[4096];
      ssize_t n = ::read(out, tmp, sizeof tmp);
      if (n <= 0) return {};
      buf.append(tmp, static_cast<size_t>(n));
    }
  }
  std::string line_starting(const std::string& prefix, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto l = line(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
      if (l.rfind(prefix, 0) == 0) return l;
      if (l.empty()) break;
    }
    return {};
  }
  void signal(int sig) {
    if (pid > 0) ::kill(pid, sig);
  }
  // Exit status, or -1 on timeout (the process is then killed).
  int wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int st = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      pid_t r = ::waitpid(pid, &st, WNOHANG);
      if (r == pid) {
        pid = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(ms(10));
    }
    signal(SIGKILL);
    ::waitpid(pid, &st, 0);
    pid = -1;
    return -1;
  }
  ~Proc() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (out >= 0) ::close(out);
  }
  Proc() = default;
  Proc(Proc&& o) noexcept : pid(o.pid), out(o.out), buf(std::move(o.buf)) {
    o.pid = -1;
    o.out = -1;
  }
  Proc& operator=(Proc&& o) noexcept {
    std::swap(pid, o.pid);
    std::swap(out, o.out);
    std::swap(buf, o.buf);
    return *this;
  }
};

struct CollectorProc {
  explicit CollectorProc(fs::path d) : dir(std::move(d)) {}
  fs::path dir;
  uint16_t port = 0;
  std::string fingerprint;
  uint64_t min_free = 0;
  Proc p;
  void start() {
    p = Proc::spawn({HALONG_TEST_COLLECTOR, dir.string(), std::to_string(port), kToken, std::to_string(min_free)});
    auto ready = p.line_starting("READY ", std::chrono::seconds(20));
    REQUIRE_FALSE(ready.empty());
    char fp[80] = {};
    unsigned prt = 0;
    REQUIRE(std::sscanf(ready.c_str(), "READY %u %70s", &prt, fp) == 2);
    port = static_cast<uint16_t>(prt);
    fingerprint = fp;
  }
  uint64_t stop_and_count() {
    p.signal(SIGTERM);
    auto l = p.line_starting("STORED ", std::chrono::seconds(20));
    REQUIRE(p.wait(std::chrono::seconds(10)) == 0);
    REQUIRE_FALSE(l.empty());
    return std::stoull(l.substr(7));
  }
};

Proc start_agents(const CollectorProc& c, const fs::path& work, int agents, uint64_t count, bool fsync_always, long rate) {
  return Proc::spawn({HALONG_TEST_AGENT, std::to_string(c.port), c.fingerprint, kToken, work.string(), std::to_string(agents),
                      std::to_string(count), fsync_always ? "always" : "never", std::to_string(rate)});
}

void check_store(const fs::path& dir, int agents, uint64_t per_agent) {
  collector::RocksOptions ro;
  ro.read_only = true;
  auto store = collector::RocksStore::open((dir / "store").string(), ro);
  REQUIRE(store.ok());
  REQUIRE((*store)->alert_count() == static_cast<uint64_t>(agents) * per_agent);
  for (int i = 0; i < agents; ++i) {
    auto h = (*store)->highest_seq("sim-" + std::to_string(i));
    REQUIRE(h.ok());
    REQUIRE(*h == per_agent);
  }
  // Spot check: first, middle and last alert of an agent are there, each once.
  for (uint64_t seq : {uint64_t{1}, per_agent / 2, per_agent}) REQUIRE((*store)->get("sim-0:" + std::to_string(seq)).ok());
}

}  // namespace

// Issue 5 (a) asks for 100,000 alerts from 20 agents; we run 20 x 2,500 = 50,000 to keep the
// suite fast on 2 shared cores (the mechanism is the same; bench/ingest runs the full size).
TEST_CASE("fault (a): collector killed with SIGKILL three times while 20 agents stream: every alert stored exactly once",
          "[transport][faults][process]") {
  TempDir d("fault-a");
  CollectorProc c{d.path / "collector"};
  c.start();
  const int agents = 20;
  const uint64_t per_agent = 2'500;
  auto ag = start_agents(c, d.path / "agents", agents, per_agent, false, 1'000);  // ~2.5 s of traffic
  for (int k = 0; k < 3; ++k) {
    std::this_thread::sleep_for(ms(600));
    c.p.signal(SIGKILL);
    REQUIRE(c.p.wait(std::chrono::seconds(10)) == 128 + SIGKILL);
    std::this_thread::sleep_for(ms(150));
    c.start();  // same port, same data directory
  }
  REQUIRE(ag.wait(std::chrono::seconds(90)) == 0);
  REQUIRE(c.stop_and_count() == agents * per_agent);
  check_store(c.dir, agents, per_agent);
}

TEST_CASE("fault (b): an agent killed with SIGKILL mid-batch and restarted loses nothing and doubles nothing",
          "[transport][faults][process]") {
  TempDir d("fault-b");
  CollectorProc c{d.path / "collector"};
  c.start();
  const uint64_t n = 4'000;
  for (int k = 0; k < 3; ++k) {
    auto ag = start_agents(c, d.path / "agents", 1, n, true, 4'000);  // fsync=always: submit means durable
    std::this_thread::sleep_for(ms(200 + 100 * k));
    ag.signal(SIGKILL);
    REQUIRE(ag.wait(std::chrono::seconds(10)) == 128 + SIGKILL);
  }
  // The last run finishes the job without fsync per alert (a process kill loses nothing in
  // any fsync mode; `always` only matters for power loss) to keep the test short.
  auto ag = start_agents(c, d.path / "agents", 1, n, false, 0);
  REQUIRE(ag.wait(std::chrono::seconds(60)) == 0);
  REQUIRE(c.stop_and_count() == n);
  check_store(c.dir, 1, n);
}

// Issue 5 (c) says 30 s; 3 s exercises the same spool-then-deliver path (the backoff cap is
// 1 s in the simulator, so several reconnect attempts fail first).
TEST_CASE("fault (c): agents spool while the collector is away, then deliver everything", "[transport][faults][process]") {
  TempDir d("fault-c");
  CollectorProc c{d.path / "collector"};
  c.port = free_port();
  c.fingerprint = [&] {
    auto cert = collector::ensure_server_certificate(c.dir);  // the agents pin it before it ever runs
    REQUIRE(cert.ok());
    return cert->fingerprint_sha256;
  }();
  auto ag = start_agents(c, d.path / "agents", 5, 2'000, false, 0);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  REQUIRE(ag.pid > 0);
  REQUIRE(::waitpid(ag.pid, nullptr, WNOHANG) == 0);  // still waiting for the collector
  c.start();
  REQUIRE(ag.wait(std::chrono::seconds(60)) == 0);
  REQUIRE(c.stop_and_count() == 10'000);
  check_store(c.dir, 5, 2'000);
}

// Issue 5 (d): the collector's data directory runs out of space. Needs root for a small
// tmpfs; skipped with a message where mount is not allowed. The gateway's disk guard
// (min_free_bytes, 4 MiB here) refuses writes before RocksDB itself sees ENOSPC: Debian's
// librocksdb 7.8 aborts on a failed WAL write (seen: assertion in WritableFileWriter).
TEST_CASE("fault (d): collector out of disk stops ingestion with a flag, damages nothing, and resumes when space is freed",
          "[transport][faults][process][disk]") {
  TempDir d("fault-d");
  fs::path mnt = d.path / "mnt";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=24m,mode=0700") != 0) {
    WARN("skipped: cannot mount a tmpfs here (" << std::strerror(errno) << "); run as root to test disk-full");
    return;
  }
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  CollectorProc c{mnt / "collector"};
  c.min_free = 4u << 20;
  c.start();
  // Leave ~5 MiB free: the guard trips after a few thousand alerts.
  fs::path filler = mnt / "filler";
  {
    struct statvfs sv{};
    REQUIRE(::statvfs(mnt.c_str(), &sv) == 0);
    auto free_bytes = static_cast<off_t>(sv.f_bavail * sv.f_frsize);
    int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::posix_fallocate(fd, 0, free_bytes - (5 << 20)) == 0);
    ::close(fd);
  }
  const uint64_t n = 6'000;  // ~6 MiB in the store: more than the room left
  auto ag = start_agents(c, d.path / "agents", 1, n, false, 0);
  auto stalled = c.p.line_starting("STALLED 1", std::chrono::seconds(30));
  REQUIRE_FALSE(stalled.empty());
  std::this_thread::sleep_for(ms(500));
  REQUIRE(::waitpid(ag.pid, nullptr, WNOHANG) == 0);  // the agent keeps its alerts and waits
  fs::remove(filler);
  auto resumed = c.p.line_starting("STALLED 0", std::chrono::seconds(30));
  REQUIRE_FALSE(resumed.empty());
  REQUIRE(ag.wait(std::chrono::seconds(60)) == 0);
  REQUIRE(c.stop_and_count() == n);
  check_store(c.dir, 1, n);
}
