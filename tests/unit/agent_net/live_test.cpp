// Live capture on a veth pair between two network namespaces that the test creates.
// Needs root (CAP_SYS_ADMIN + CAP_NET_RAW) and iproute2; skips with a message otherwise.
// All traffic stays between the two namespaces (192.0.2.0/24, TEST-NET-1).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "agent/capture/pcap_source.hpp"
#include "agent/flow/net_pipeline.hpp"

using namespace halong::agent::net;

namespace {

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

// Two namespaces joined by a veth pair; removed on destruction.
struct VethPair {
  std::string ns_a, ns_b, if_a, if_b;
  bool ok = false;
  std::string why;
  VethPair() {
    std::string id = std::to_string(::getpid() % 100000);
    ns_a = "halong-t" + id + "a";
    ns_b = "halong-t" + id + "b";
    if_a = "hlg" + id + "a";
    if_b = "hlg" + id + "b";
    if (::geteuid() != 0) {
      why = "not running as root";
      return;
    }
    if (sh("ip netns add " + ns_a) != 0 || sh("ip netns add " + ns_b) != 0) {
      why = "cannot create network namespaces (ip netns add)";
      return;
    }
    if (sh("ip link add " + if_a + " netns " + ns_a + " type veth peer name " + if_b + " netns " + ns_b) != 0) {
      why = "cannot create a veth pair";
      return;
    }
    ok = sh("ip -n " + ns_a + " addr add 192.0.2.1/24 dev " + if_a) == 0 &&
         sh("ip -n " + ns_b + " addr add 192.0.2.2/24 dev " + if_b) == 0 &&
         sh("ip -n " + ns_a + " link set " + if_a + " up") == 0 &&
         sh("ip -n " + ns_b + " link set " + if_b + " up") == 0 && sh("ip -n " + ns_a + " link set lo up") == 0 &&
         sh("ip -n " + ns_b + " link set lo up") == 0;
    if (!ok) why = "cannot configure the veth pair";
  }
  ~VethPair() {
    sh("ip netns del " + ns_a);
    sh("ip netns del " + ns_b);
  }
};

// Runs `fn` on a thread that has joined network namespace `ns` (setns affects only the
// calling thread, so the test process itself stays where it is).
template <class Fn>
bool in_netns(const std::string& ns, Fn&& fn) {
  bool entered = false;
  std::thread t([&] {
    int fd = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    entered = ::setns(fd, CLONE_NEWNET) == 0;
    ::close(fd);
    if (entered) fn();
  });
  t.join();
  return entered;
}

}  // namespace

TEST_CASE("live source captures udp between two namespaces with a bpf filter and counts drops",
          "[agent][capture][live]") {
  VethPair v;
  if (!v.ok) {
    WARN("SKIPPED: live capture test needs root and network namespaces: " << v.why);
    return;
  }
  constexpr int kSent = 20;
  std::unique_ptr<LiveSource> src;
  std::string open_error;
  // Open the capture inside namespace A (the socket keeps its namespace afterwards).
  REQUIRE(in_netns(v.ns_a, [&] {
    LiveOptions o;
    o.interface = v.if_a;
    o.bpf = "udp and dst port 5555";
    o.snaplen = 1500;
    o.buffer_size = 1 << 20;
    o.timeout_ms = 50;
    o.immediate = true;
    auto r = LiveSource::open(o);
    if (r) src = std::move(*r);
    else open_error = r.error().message;
  }));
  INFO(open_error);
  REQUIRE(src != nullptr);
  CHECK(src->linktype() == 1);

  // Send from namespace B: kSent datagrams to port 5555 and some to 6666 (filtered out).
  REQUIRE(in_netns(v.ns_b, [&] {
    int s = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.1", &to.sin_addr);
    for (int i = 0; i < kSent; ++i) {
      std::string msg = "halong-live-" + std::to_string(i);
      for (uint16_t port : {uint16_t{5555}, uint16_t{6666}}) {
        to.sin_port = htons(port);
        (void)::sendto(s, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      }
    }
    ::close(s);
  }));

  NetPipeline pipe;
  int got = 0, wrong_port = 0;
  std::atomic<bool> stop{false};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (got < kSent && std::chrono::steady_clock::now() < deadline) {
    Frame f;
    auto r = src->next(f);
    REQUIRE(r);
    if (*r != ReadStatus::frame) continue;
    pipe.process(f, [&](halong::net::Packet& p) {
      if (p.ip_proto != 17) return;
      if (p.dst_port != 5555) ++wrong_port;
      if (p.src.to_string() == "192.0.2.2" && p.dst.to_string() == "192.0.2.1") ++got;
      CHECK(p.ts_us > 0);
      REQUIRE(p.flow != nullptr);
      CHECK(p.flow->to_server);
    });
  }
  CHECK(got == kSent);
  CHECK(wrong_port == 0);
  CaptureStats st = src->stats();
  CHECK(st.received >= static_cast<uint64_t>(kSent));
  CHECK(st.kernel_received >= static_cast<uint64_t>(kSent));
  CHECK(st.dropped == 0);
  CHECK(pipe.flows().size() == 1);  // one UDP flow 192.0.2.2 -> 192.0.2.1:5555
}

TEST_CASE("live source run loop stops on request and expires flows with the injected clock",
          "[agent][capture][live]") {
  VethPair v;
  if (!v.ok) {
    WARN("SKIPPED: live capture test needs root and network namespaces: " << v.why);
    return;
  }
  std::unique_ptr<LiveSource> src;
  REQUIRE(in_netns(v.ns_a, [&] {
    LiveOptions o;
    o.interface = v.if_a;
    o.bpf = "udp";
    o.timeout_ms = 20;
    o.immediate = true;
    auto r = LiveSource::open(o);
    if (r) src = std::move(*r);
  }));
  REQUIRE(src != nullptr);
  REQUIRE(in_netns(v.ns_b, [&] {
    int s = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(7777);
    inet_pton(AF_INET, "192.0.2.1", &to.sin_addr);
    (void)::sendto(s, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    ::close(s);
  }));
  NetPipeline pipe;
  std::atomic<bool> stop{false};
  int64_t fake_now = 0;
  int seen = 0;
  int clock_calls = 0;
  auto status = pipe.run(
      *src,
      [&](halong::net::Packet& p) {
        if (p.ip_proto == 17) ++seen;
        fake_now = p.ts_us + 3600LL * 1'000'000;  // an hour later: past every UDP timeout
      },
      &stop,
      [&] {
        // Called on read timeouts: expire with the injected clock, then stop once the
        // flow is gone.
        if (seen > 0 && pipe.flows().size() == 0) stop = true;
        if (++clock_calls > 250) stop = true;  // ~5 s safety net
        return fake_now;
      });
  REQUIRE(status);
  CHECK(seen == 1);
  CHECK(pipe.flows().size() == 0);
  CHECK(pipe.flows().counters().timed_out == 1);
  src->break_loop();
  Frame f;
  auto r = src->next(f);
  REQUIRE(r);
  CHECK(*r == ReadStatus::end);
}
