// bench_decode: packets/s and Mbit/s of the network input path on one core.
//
// Workloads: (1) every suricata-verify pcap of the corpus, loaded in memory, replayed
// repeatedly (flows are reset between rounds); (2) a generated mix: 2,000 interleaved TCP
// sessions (handshake, 1,400-byte segments both ways, 3% out of order) plus DNS-sized UDP.
// For each: libpcap read of the file (corpus only), a memcpy baseline (copying every frame
// once: what touching every byte costs), decode only (reads headers, not payloads),
// decode + flow table, decode + flow + TCP reassembly (the default; copies payloads).
#include <pcap/pcap.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "agent/flow/net_pipeline.hpp"

using namespace halong::agent::net;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Trace {
  std::vector<std::vector<uint8_t>> frames;
  std::vector<int64_t> ts;
  std::vector<int> lt;
  uint64_t bytes = 0;
  void add(std::vector<uint8_t> f, int64_t t, int l) {
    bytes += f.size();
    frames.push_back(std::move(f));
    ts.push_back(t);
    lt.push_back(l);
  }
};

volatile uint64_t g_sink;

struct Figure {
  double pps, mbps;
};

template <class Fn>
Figure measure(const Trace& t, double seconds, Fn&& round) {
  uint64_t pkts = 0, bytes = 0;
  auto start = Clock::now();
  double el = 0;
  do {
    round();
    pkts += t.frames.size();
    bytes += t.bytes;
    el = std::chrono::duration<double>(Clock::now() - start).count();
  } while (el < seconds);
  return {pkts / el, bytes * 8 / el / 1e6};
}

void print(const char* name, Figure f, Figure base) {
  std::printf("  %-34s %12.0f pkt/s %10.0f Mbit/s  (%6.1f%% of memcpy rate)\n", name, f.pps, f.mbps,
              100.0 * f.pps / base.pps);
}

void run(const char* title, const Trace& t, double seconds, const NetSettings& base_settings) {
  std::printf("%s: %zu frames, %.1f MB\n", title, t.frames.size(), t.bytes / 1e6);
  std::vector<uint8_t> scratch(65536);
  Figure touch = measure(t, seconds, [&] {
    uint64_t x = 0;
    for (const auto& f : t.frames) {
      std::memcpy(scratch.data(), f.data(), f.size());
      x += scratch[f.size() / 2];
    }
    g_sink = x;
  });
  print("memcpy of every frame (baseline)", touch, touch);
  Decoder dec(base_settings.decoder);
  Decoded out;
  Figure decode_only = measure(t, seconds, [&] {
    for (size_t i = 0; i < t.frames.size(); ++i) {
      Frame f{t.frames[i].data(), static_cast<uint32_t>(t.frames[i].size()), static_cast<uint32_t>(t.frames[i].size()),
              t.ts[i], t.lt[i]};
      dec.decode(f, i + 1, out);
      g_sink = out.count;
    }
  });
  print("decode", decode_only, touch);
  for (bool reasm : {false, true}) {
    NetSettings s = base_settings;
    s.flow.reassembly = reasm;
    Figure fig = measure(t, seconds, [&] {
      NetPipeline pipe(s);
      for (size_t i = 0; i < t.frames.size(); ++i) {
        Frame f{t.frames[i].data(), static_cast<uint32_t>(t.frames[i].size()),
                static_cast<uint32_t>(t.frames[i].size()), t.ts[i], t.lt[i]};
        pipe.process(f, [](halong::net::Packet& p) { g_sink = p.stream_len; });
      }
    });
    print(reasm ? "decode + flow + tcp reassembly" : "decode + flow", fig, touch);
  }
}

bool load_pcap(const fs::path& p, Trace& t) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* h = pcap_open_offline(p.c_str(), err);
  if (!h) return false;
  int lt = pcap_datalink(h);
  pcap_pkthdr* hdr;
  const u_char* d;
  while (pcap_next_ex(h, &hdr, &d) == 1)
    t.add(std::vector<uint8_t>(d, d + hdr->caplen), hdr->ts.tv_sec * 1000000LL + hdr->ts.tv_usec, lt);
  pcap_close(h);
  return true;
}

// --- generated mix -------------------------------------------------------------------
void put16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}
void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  put16(b, at, static_cast<uint16_t>(v >> 16));
  put16(b, at + 2, static_cast<uint16_t>(v));
}
std::vector<uint8_t> frame(uint32_t src, uint32_t dst, uint8_t proto, uint16_t sp, uint16_t dp, uint32_t seq,
                           uint32_t ack, uint8_t flags, size_t payload, uint8_t fill) {
  size_t l4 = proto == 6 ? 20 : 8;
  std::vector<uint8_t> b(14 + 20 + l4 + payload, fill);
  put16(b, 12, 0x0800);
  b[14] = 0x45;
  b[15] = 0;
  put16(b, 16, static_cast<uint16_t>(20 + l4 + payload));
  put32(b, 18, 0);
  b[22] = 64;
  b[23] = proto;
  put16(b, 24, 0);
  put32(b, 26, src);
  put32(b, 30, dst);
  put16(b, 34, sp);
  put16(b, 36, dp);
  if (proto == 6) {
    put32(b, 38, seq);
    put32(b, 42, ack);
    b[46] = 0x50;
    b[47] = flags;
    put16(b, 48, 65535);
    put32(b, 50, 0);
  } else {
    put16(b, 38, static_cast<uint16_t>(8 + payload));
    put16(b, 40, 0);
  }
  return b;
}

Trace generated_mix() {
  Trace t;
  std::mt19937 rng(42);
  const int sessions = 2000, segs = 20;
  struct S {
    uint32_t c, s;
    uint16_t cp;
    uint32_t cseq, sseq;
    int step;
  };
  std::vector<S> ss;
  for (int i = 0; i < sessions; ++i)
    ss.push_back({0x0a000000u + static_cast<uint32_t>(i), 0xc0a80001u, static_cast<uint16_t>(1024 + i),
                  static_cast<uint32_t>(rng()), static_cast<uint32_t>(rng()), 0});
  int64_t ts = 1'700'000'000'000'000;
  std::vector<uint8_t> held;
  bool have_held = false;
  int64_t held_ts = 0;
  for (int round = 0; round < segs + 3; ++round) {
    for (auto& s : ss) {
      ts += 5;
      if (round == 0) {
        t.add(frame(s.c, s.s, 6, s.cp, 80, s.cseq, 0, 0x02, 0, 0), ts, 1);
      } else if (round == 1) {
        t.add(frame(s.s, s.c, 6, 80, s.cp, s.sseq, s.cseq + 1, 0x12, 0, 0), ts, 1);
      } else if (round == 2) {
        t.add(frame(s.c, s.s, 6, s.cp, 80, s.cseq + 1, s.sseq + 1, 0x10, 0, 0), ts, 1);
        s.cseq += 1;
        s.sseq += 1;
      } else {
        bool to_server = (round % 4) == 0;
        size_t len = to_server ? 400 : 1400;
        auto f = to_server ? frame(s.c, s.s, 6, s.cp, 80, s.cseq, s.sseq, 0x18, len, 'a')
                           : frame(s.s, s.c, 6, 80, s.cp, s.sseq, s.cseq, 0x18, len, 'b');
        (to_server ? s.cseq : s.sseq) += static_cast<uint32_t>(len);
        if (!have_held && rng() % 100 < 3) {  // hold it back: delivered after the next one
          held = std::move(f);
          held_ts = ts;
          have_held = true;
          continue;
        }
        t.add(std::move(f), ts, 1);
        if (have_held) {
          t.add(std::move(held), held_ts, 1);
          have_held = false;
        }
      }
      if (rng() % 4 == 0) {  // DNS-sized UDP query and answer
        uint16_t port = static_cast<uint16_t>(rng());
        t.add(frame(s.c, 0x08080808u, 17, port, 53, 0, 0, 0, 40, 'q'), ts, 1);
        t.add(frame(0x08080808u, s.c, 17, 53, port, 0, 0, 0, 120, 'r'), ts + 1, 1);
      }
    }
  }
  if (have_held) t.add(std::move(held), held_ts, 1);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2.0;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
  NetSettings settings;
  settings.decoder.vxlan = true;

  fs::path sv = fs::path(HALONG_CORPUS_DIR) / "suricata-verify";
  Trace corpus;
  std::vector<fs::path> files;
  if (fs::exists(sv))
    for (const auto& e : fs::recursive_directory_iterator(sv))
      if (e.path().extension() == ".pcap") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) load_pcap(f, corpus);
  if (!corpus.frames.empty()) {
    // libpcap read of the same files (I/O + record parsing), for reference.
    uint64_t n = 0;
    auto start = Clock::now();
    double el = 0;
    do {
      for (const auto& f : files) {
        char err[PCAP_ERRBUF_SIZE];
        pcap_t* h = pcap_open_offline(f.c_str(), err);
        if (!h) continue;
        pcap_pkthdr* hdr;
        const u_char* d;
        while (pcap_next_ex(h, &hdr, &d) == 1) ++n;
        pcap_close(h);
      }
      el = std::chrono::duration<double>(Clock::now() - start).count();
    } while (el < seconds);
    std::printf("libpcap read of %zu corpus files: %.0f pkt/s\n", files.size(), n / el);
    run("suricata-verify corpus pcaps", corpus, seconds, settings);
  } else {
    std::printf("corpus not found at %s: corpus workload skipped\n", sv.c_str());
  }
  run("generated TCP/UDP mix (2,000 sessions, 3% out of order)", generated_mix(), seconds, settings);
  return 0;
}
