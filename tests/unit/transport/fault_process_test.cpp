// Fault tests (issue 5 (a)-(d)) with real processes: the real `halong-collector serve`
// binary and the agent simulator (halong_test_agent: many agents in one process, each with
// its own spool and sequence), killed with SIGKILL and restarted. Every test ends with a
// count check through the collector's HTTP API (fault_harness.hpp: check_exactly_once).
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "agent/spool/spool.hpp"
#include "fault_harness.hpp"

using namespace halong;
using namespace halong::testing;
using namespace std::chrono_literals;

TEST_CASE("fault (a): collector killed with SIGKILL three times while 20 agents stream 100,000 alerts: every alert stored exactly once",
          "[transport][faults][process]") {
  TempDir d("fault-a");
  RealCollector c{d.path / "collector"};
  c.start();
  const int agents = 20;
  const uint64_t per_agent = 5'000;
  SimOptions so;
  so.agents = agents;
  so.count = per_agent;
  so.rate_per_agent = 1'000;  // 20,000 alerts/s offered: the stream lasts >= 5 s, the kills land inside it
  Child ag;
  start_sim(ag, c.gateway_port, c.fingerprint(), d.path / "agents", so);
  uint64_t last = 0;
  for (int k = 0; k < 3; ++k) {
    // Kill once this collector has stored new alerts: the agents are mid-stream, batches in flight.
    REQUIRE(wait_until([&] { return c.newest_seq("sim-0") > last + 300; }, 60s));
    last = c.newest_seq("sim-0");
    REQUIRE(ag.running());
    c.kill9();
    c.start();  // same data directory, same gateway port
  }
  REQUIRE(last < per_agent);  // the third kill came before the end of the stream
  int st = ag.wait(180s);
  INFO("agents: " << slurp(d.path / "agents" / "agents.err") << "\ncollector:\n" << c.log());
  REQUIRE(st == 0);
  REQUIRE_THAT(slurp(d.path / "agents" / "agents.out"), Catch::Contains("DONE " + std::to_string(agents * per_agent)));
  c.check_exactly_once(agents, per_agent);
  c.stop();
}

TEST_CASE("fault (b): an agent killed with SIGKILL mid-batch and restarted loses nothing and doubles nothing",
          "[transport][faults][process]") {
  TempDir d("fault-b");
  RealCollector c{d.path / "collector"};
  c.start();
  const std::string fp = c.fingerprint();
  const uint64_t n = 6'000;
  SimOptions so;
  so.count = n;
  so.fsync_always = true;  // submit() returns once the alert is on disk
  so.rate_per_agent = 2'000;
  so.batch_size = 100;     // a batch leaves every ~50 ms: a kill always lands with batches in flight
  uint64_t stored = 0, unstored_at_kills = 0, unacked_but_stored = 0;
  for (int k = 0; k < 3; ++k) {
    Child ag;
    start_sim(ag, c.gateway_port, fp, d.path / "agents", so);
    // Kill once this run has delivered new alerts (so it is connected and streaming).
    REQUIRE(wait_until([&] { return c.newest_seq("sim-0") > stored + 250; }, 60s));
    ag.signal(SIGKILL);
    REQUIRE(ag.wait(20s) == 128 + SIGKILL);
    stored = c.newest_seq("sim-0");
    INFO("run " << k << " killed after " << stored << " stored");
    REQUIRE(stored < n);
    // What the kill left behind, from the agent's spool: alerts raised but not stored yet
    // (lost if the agent forgot them) and alerts stored whose ack never arrived (doubled if
    // the collector stored them again).
    agent::SpoolOptions sp;
    sp.dir = d.path / "agents" / "spool-0";
    auto spool = agent::Spool::open(sp);
    REQUIRE(spool.ok());
    const uint64_t raised = (*spool)->last_seq(), acked = (*spool)->acked_seq();
    REQUIRE(raised >= stored);  // nothing is stored that the agent did not raise
    REQUIRE(acked <= stored);   // nothing is acked that is not stored
    unstored_at_kills += raised - stored;
    unacked_but_stored += stored - acked;
  }
  // The kills landed mid-stream: at least one left raised alerts undelivered; every one
  // left alerts not acknowledged to the agent (in flight or unacked at the collector).
  INFO("raised but not stored at the kills: " << unstored_at_kills << "; stored but not acked: " << unacked_but_stored);
  REQUIRE(unstored_at_kills > 0);
  // The last run finishes without fsync per alert (a process kill loses nothing in any
  // fsync mode; `always` only matters for power loss) to keep the test short.
  so.fsync_always = false;
  so.rate_per_agent = 0;
  Child ag;
  start_sim(ag, c.gateway_port, fp, d.path / "agents", so);
  int st = ag.wait(120s);
  INFO("agents: " << slurp(d.path / "agents" / "agents.err") << "\ncollector:\n" << c.log());
  REQUIRE(st == 0);
  c.check_exactly_once(1, n);
  c.stop();
}

TEST_CASE("fault (c): agents spool while the collector is away for 30 s, then deliver everything", "[transport][faults][process]") {
  TempDir d("fault-c");
  RealCollector c{d.path / "collector"};
  c.start();
  const int agents = 5;
  const uint64_t per_agent = 5'000;
  SimOptions so;
  so.agents = agents;
  so.count = per_agent;
  so.rate_per_agent = 150;  // ~33 s of alerts: most are raised while the collector is away
  Child ag;
  start_sim(ag, c.gateway_port, c.fingerprint(), d.path / "agents", so);
  REQUIRE(wait_until([&] { return c.newest_seq("sim-0") >= 50; }, 60s));
  c.stop();
  const auto away_since = std::chrono::steady_clock::now();
  // Away for 30 s (the figure): the agents keep raising alerts into their spools and
  // keep trying to reconnect with backoff. Nothing to wait for here but the time itself.
  std::this_thread::sleep_until(away_since + 30s);
  REQUIRE(ag.running());  // still waiting for the collector, not given up
  c.start();
  const uint64_t resumed_at = c.newest_seq("sim-0");
  INFO("sim-0 had " << resumed_at << " stored when the collector came back");
  REQUIRE(resumed_at < per_agent);
  int st = ag.wait(120s);
  INFO("agents: " << slurp(d.path / "agents" / "agents.err") << "\ncollector:\n" << c.log());
  REQUIRE(st == 0);
  c.check_exactly_once(agents, per_agent);
  c.stop();
}

namespace {

// The collector's "ingestion stalled" flag through the API, if it exposes one: -1 when not.
int stall_flag(RealCollector& c) {
  auto m = c.get("/metrics");
  if (m.status == 200) {
    double v = metric_value(m.body, "ingest_stalled");
    if (v >= 0) return v > 0 ? 1 : 0;
  }
  return -1;
}

}  // namespace

// Issue 5 (d): the collector's data directory runs out of space. Needs root for a small
// tmpfs; skipped with a WARN where mount is not allowed. While an agent streams, the test
// fills the tmpfs to within 1 MiB: the collector's disk guard (the gateway refuses batches
// with retry-after below its 256 MiB reserve, so RocksDB never sees ENOSPC) must stop
// ingestion; the agent keeps its alerts; freeing the space resumes delivery.
// The tmpfs is 400 MiB: RocksDB preallocates ~75 MiB for its WAL on start.
TEST_CASE("fault (d): collector out of disk stops ingestion with a log line and a flag, damages nothing, and resumes when space is freed",
          "[transport][faults][process][disk]") {
  TempDir d("fault-d");
  fs::path mnt = d.path / "mnt";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=400m,mode=0700") != 0) {
    WARN("SKIPPED fault (d): cannot mount a tmpfs here (" << std::strerror(errno) << "); run as root to test disk-full");
    return;
  }
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  RealCollector c{mnt / "collector"};
  c.start();
  const uint64_t n = 12'000;
  SimOptions so;
  so.count = n;
  so.rate_per_agent = 2'000;  // ~6 s of alerts: the disk fills while they stream
  Child ag;
  start_sim(ag, c.gateway_port, c.fingerprint(), d.path / "agents", so);  // the agent's spool is not on the tmpfs
  REQUIRE(wait_until([&] { return c.newest_seq("sim-0") >= 500; }, 60s));
  // Fill the data directory's filesystem to within 1 MiB.
  fs::path filler = mnt / "filler";
  {
    struct statvfs sv{};
    REQUIRE(::statvfs(mnt.c_str(), &sv) == 0);
    auto free_bytes = static_cast<off_t>(sv.f_bavail * sv.f_frsize);
    REQUIRE(free_bytes > (2 << 20));
    int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::posix_fallocate(fd, 0, free_bytes - (1 << 20)) == 0);
    ::close(fd);
  }
  // Ingestion stops, with a clear log line.
  {
    bool stalled = wait_until([&] { return c.log_count("ingestion stalled") > 0; }, 60s);
    INFO("agents: " << slurp(d.path / "agents" / "agents.err") << "\ncollector:\n" << c.log());
    REQUIRE(stalled);
  }
  REQUIRE(c.log_count("disk almost full") > 0);
  // ... and a flag through the API, where the collector exposes one.
  int flag = stall_flag(c);
  if (flag < 0)
    WARN("the collector's API does not expose the gateway's ingest_stalled flag (no *ingest_stalled* line in /metrics); "
         "only the log line was checked");
  else
    REQUIRE(flag == 1);
  // What is stored is intact and readable while stalled: exactly 1..K, each once.
  const uint64_t k = c.newest_seq("sim-0");
  REQUIRE(k > 0);
  REQUIRE(k < n);
  c.check_exactly_once(1, k);
  REQUIRE(c.newest_seq("sim-0") == k);  // nothing more was stored meanwhile
  REQUIRE(ag.running());  // the agent keeps its alerts in the spool and retries later
  // Free the space: ingestion resumes (the agent retries after the collector's retry-after).
  fs::remove(filler);
  REQUIRE(wait_until([&] { return c.log_count("ingestion resumed") > 0; }, 60s));
  if (flag >= 0) REQUIRE(wait_until([&] { return stall_flag(c) == 0; }, 30s));
  int st = ag.wait(120s);
  INFO("agents: " << slurp(d.path / "agents" / "agents.err") << "\ncollector:\n" << c.log());
  REQUIRE(st == 0);
  c.check_exactly_once(1, n);
  // The store reopens cleanly after the episode (RocksDB paranoid checks) with the same count.
  c.stop();
  c.start();
  REQUIRE(c.stats_total() == n);
  c.stop();
}
