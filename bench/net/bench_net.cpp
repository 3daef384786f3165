// bench_net: single-core speed of the network engine (see docs/benchmarks-net.md).
//
//   bench_net [--benchmark_filter=...] [--benchmark_min_time=2]
//
// Inputs: (1) every suricata-verify pcap of the corpus, decoded once into memory and
// replayed through the agent pipeline (decode + flows + streams) with and without the
// engine; (2) a generated HTTP/DNS/TLS mix of already-decoded packets on established
// flows. Rules: the ET Open rules that load (`et-open/rules/*.rules`).
//
// Figures per input: engine (inspect with ET Open), raw Hyperscan block scan of the same
// payload bytes with one database of the same fast patterns (the design's physical
// limit), and no rules. Throughput counters: packets/s ("pkts") and bytes/s of payload.
#include <benchmark/benchmark.h>
#include <hs/hs.h>
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "agent/capture/pcap_source.hpp"
#include "agent/flow/net_pipeline.hpp"
#include "core/detect/net/engine.hpp"
#include "core/detect/net/ruleset_impl.hpp"

namespace fs = std::filesystem;
using namespace halong::detect::net;

namespace {

// ---------------------------------------------------------------- inputs

struct CapturedFile {
  int linktype = 1;
  std::vector<std::vector<uint8_t>> frames;
  std::vector<int64_t> ts;
};

struct Inputs {
  std::shared_ptr<const Ruleset> et;
  std::shared_ptr<const Ruleset> empty;
  hs_database_t* raw_db = nullptr;
  std::vector<CapturedFile> pcaps;
  size_t pcap_packets = 0, pcap_payload_bytes = 0, pcap_frame_bytes = 0;
  // Generated mix.
  std::vector<std::string> payloads;
  std::vector<halong::net::Packet> mix;
  std::vector<halong::net::FlowInfo> flows;
  size_t mix_bytes = 0;
};

Inputs& inputs() {
  static Inputs in;
  return in;
}

long rss_kb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  return -1;
}

void load_pcaps(Inputs& in) {
  fs::path dir = fs::path(HALONG_CORPUS_DIR) / "suricata-verify";
  std::set<std::string> seen;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    auto ext = e.path().extension().string();
    if (ext != ".pcap" && ext != ".pcapng") continue;
    auto src = halong::agent::net::PcapFileSource::open(e.path().string());
    if (!src) continue;
    CapturedFile cf;
    cf.linktype = (*src)->linktype();
    halong::agent::net::Frame fr;
    while (true) {
      auto st = (*src)->next(fr);
      if (!st || *st != halong::agent::net::ReadStatus::frame) break;
      cf.frames.emplace_back(fr.data, fr.data + fr.caplen);
      cf.ts.push_back(fr.ts_us);
      in.pcap_frame_bytes += fr.caplen;
    }
    in.pcap_packets += cf.frames.size();
    in.pcaps.push_back(std::move(cf));
  }
  // Payload bytes as the engine sees them (decoded once).
  for (auto& cf : in.pcaps) {
    halong::agent::net::NetPipeline pl;
    for (size_t i = 0; i < cf.frames.size(); ++i) {
      halong::agent::net::Frame fr{cf.frames[i].data(), static_cast<uint32_t>(cf.frames[i].size()),
                                   static_cast<uint32_t>(cf.frames[i].size()), cf.ts[i], cf.linktype};
      pl.process(fr, [&](halong::net::Packet& p) { in.pcap_payload_bytes += p.payload_len; });
    }
  }
}

// A deterministic HTTP / TLS / DNS mix on established flows, as decoded packets.
void generate_mix(Inputs& in, size_t n) {
  std::mt19937_64 rng(42);
  const char* hosts[] = {"www.example.com", "cdn.static-assets.net", "api.service.vn", "update.vendor.org", "mail.gov.vn"};
  const char* paths[] = {"/", "/index.html", "/api/v1/items?id=", "/static/js/app.js", "/login.php", "/images/logo.png",
                         "/wp-admin/admin-ajax.php", "/search?q="};
  const char* agents[] = {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
                          "curl/7.88.1", "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0"};
  in.flows.resize(64);
  for (size_t i = 0; i < in.flows.size(); ++i) {
    in.flows[i].established = true;
    in.flows[i].flow_id = i + 1;
  }
  in.payloads.reserve(n);
  struct Hdr {
    uint8_t proto;
    uint16_t sp, dp;
    bool to_server;
  };
  std::vector<Hdr> hdrs;
  for (size_t i = 0; i < n; ++i) {
    int kind = static_cast<int>(rng() % 10);
    std::string pl;
    Hdr h{};
    if (kind < 4) {  // HTTP: requests and response segments
      if (rng() % 2) {
        pl = std::string("GET ") + paths[rng() % 8] + std::to_string(rng() % 100000) + " HTTP/1.1\r\nHost: " + hosts[rng() % 5] +
             "\r\nUser-Agent: " + agents[rng() % 3] +
             "\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n"
             "Cookie: session=" + std::to_string(rng()) + "\r\n\r\n";
        h = {6, static_cast<uint16_t>(40000 + rng() % 20000), 80, true};
      } else {
        pl = "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 5120\r\n\r\n"
             "<html><head><title>Portal</title><script src=\"/static/js/app.js\"></script></head><body>";
        while (pl.size() < 1400) pl += "<div class=\"item\"><a href=\"/item?id=" + std::to_string(rng() % 100000) + "\">Item</a></div>\n";
        pl.resize(1400);
        h = {6, 80, static_cast<uint16_t>(40000 + rng() % 20000), false};
      }
    } else if (kind < 7) {  // TLS: client hello-ish or encrypted records
      pl.assign("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
      size_t len = rng() % 2 ? 300 : 1400;
      while (pl.size() < len) pl.push_back(static_cast<char>(rng()));
      h = {6, static_cast<uint16_t>(40000 + rng() % 20000), 443, rng() % 2 == 0};
    } else {  // DNS query
      pl.assign("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
      std::string host = hosts[rng() % 5];
      size_t start = 0;
      while (start <= host.size()) {
        size_t dot = host.find('.', start);
        if (dot == std::string::npos) dot = host.size();
        pl.push_back(static_cast<char>(dot - start));
        pl += host.substr(start, dot - start);
        start = dot + 1;
      }
      pl.append("\x00\x00\x01\x00\x01", 5);
      h = {17, static_cast<uint16_t>(30000 + rng() % 30000), 53, true};
    }
    in.payloads.push_back(std::move(pl));
    hdrs.push_back(h);
  }
  for (size_t i = 0; i < n; ++i) {
    halong::net::Packet p;
    p.ip_version = 4;
    p.ip_proto = hdrs[i].proto;
    p.src = halong::net::IpAddr::v4(hdrs[i].to_server ? 0xc0a80000u + (i % 250) : 0x5db8d800u + (i % 50));
    p.dst = halong::net::IpAddr::v4(hdrs[i].to_server ? 0x5db8d800u + (i % 50) : 0xc0a80000u + (i % 250));
    p.src_port = hdrs[i].sp;
    p.dst_port = hdrs[i].dp;
    p.ttl = 64;
    p.tcp_flags = p.ip_proto == 6 ? 0x18 : 0;
    p.payload = reinterpret_cast<const uint8_t*>(in.payloads[i].data());
    p.payload_len = in.payloads[i].size();
    p.ts_us = static_cast<int64_t>(i) * 100;
    in.mix.push_back(p);
    in.mix_bytes += p.payload_len;
  }
  for (size_t i = 0; i < n; ++i) {
    in.flows[i % in.flows.size()].to_server = hdrs[i].to_server;
    in.mix[i].flow = &in.flows[i % in.flows.size()];
  }
}

hs_database_t* compile_raw(const Ruleset& rs) {
  std::set<std::pair<std::string, bool>> pats;
  for (const auto& r : rs.impl().rules) {
    if (r->fast_content < 0) continue;
    const auto& c = r->contents[static_cast<size_t>(r->fast_content)];
    std::string b = c.fp_chop_off >= 0 ? c.bytes.substr(static_cast<size_t>(c.fp_chop_off), static_cast<size_t>(c.fp_chop_len)) : c.bytes;
    pats.insert({b, c.nocase});
  }
  std::vector<const char*> e;
  std::vector<size_t> l;
  std::vector<unsigned> f, ids;
  unsigned id = 0;
  for (auto& [b, nc] : pats) {
    e.push_back(b.data());
    l.push_back(b.size());
    f.push_back(HS_FLAG_SINGLEMATCH | (nc ? HS_FLAG_CASELESS : 0u));
    ids.push_back(id++);
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  if (hs_compile_lit_multi(e.data(), f.data(), ids.data(), l.data(), id, HS_MODE_BLOCK, nullptr, &db, &err) != HS_SUCCESS) {
    std::fprintf(stderr, "raw compile failed: %s\n", err ? err->message : "?");
    std::exit(1);
  }
  std::printf("raw Hyperscan database: %u distinct fast patterns\n", id);
  return db;
}

int on_hit(unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
  ++*static_cast<size_t*>(ctx);
  return 0;
}

void setup() {
  Inputs& in = inputs();
  fs::path et = fs::path(HALONG_CORPUS_DIR) / "et-open" / "rules";
  long rss0 = rss_kb("VmRSS:");
  LoadOptions o;
  o.classification_file = (et / "classification.config").string();
  LoadReport rep;
  auto t0 = std::chrono::steady_clock::now();
  auto rs = load_rules({et.string()}, o, rep);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!rs) {
    std::fprintf(stderr, "ET Open did not load: %s\n", rs.error().message.c_str());
    std::exit(1);
  }
  in.et = *rs;
  std::printf("ET Open: %zu rules without a fast pattern (%zu of them prefiltered by their pcre, the rest checked on every "
              "packet of their group), %zu IP-only rules\n",
              in.et->stats().no_content_rules, in.et->stats().pcre_prefiltered, in.et->stats().ip_only_rules);
  {
    Matcher warm(in.et);  // scratch allocation counts towards the agent's RSS
    long before_trim = rss_kb("VmRSS:");
    malloc_trim(0);
    std::printf("RSS after load %ld kB, after malloc_trim %ld kB\n", before_trim, rss_kb("VmRSS:"));
    std::printf("ET Open: %zu rules loaded, %zu skipped, %zu errors; %zu groups, %zu fast patterns, %zu bytes of "
                "databases; load+compile %.0f ms (compile %.0f ms); RSS %ld kB -> %ld kB (peak %ld kB)\n",
                rep.loaded(), rep.skipped(), rep.error_count(), rep.groups, rep.fast_patterns, rep.database_bytes, ms,
                rep.compile_ms, rss0, rss_kb("VmRSS:"), rss_kb("VmHWM:"));
  }
  LoadReport erep;
  in.empty = *load_rules_from_string("", "none.rules", {}, erep);
  in.raw_db = compile_raw(*in.et);
  load_pcaps(in);
  generate_mix(in, 20000);
  std::printf("inputs: %zu pcaps, %zu frames, %zu frame bytes, %zu payload bytes; generated mix: %zu packets, %zu payload bytes\n",
              in.pcaps.size(), in.pcap_packets, in.pcap_frame_bytes, in.pcap_payload_bytes, in.mix.size(), in.mix_bytes);
  std::fflush(stdout);
}

void set_rates(benchmark::State& st, size_t pkts, size_t bytes) {
  st.counters["pkts"] = benchmark::Counter(static_cast<double>(pkts), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["Mbit"] = benchmark::Counter(static_cast<double>(bytes) * 8 / 1e6, benchmark::Counter::kIsIterationInvariantRate);
}

// ---------------------------------------------------------------- generated mix

void BM_mix_engine_et(benchmark::State& st) {
  Inputs& in = inputs();
  Matcher m(in.et);
  std::vector<Match> out;
  size_t alerts = 0;
  for (auto _ : st) {
    for (auto& f : in.flows) f.flowbits.clear();
    for (auto& p : in.mix) {
      out.clear();
      m.inspect(p, out);
      alerts += out.size();
    }
  }
  benchmark::DoNotOptimize(alerts);
  st.counters["alerts/pass"] = static_cast<double>(alerts) / static_cast<double>(st.iterations());
  st.counters["cands/pkt"] = static_cast<double>(m.counters().candidates) / static_cast<double>(m.counters().packets);
  st.counters["scans/pkt"] = static_cast<double>(m.counters().scans) / static_cast<double>(m.counters().packets);
  set_rates(st, in.mix.size(), in.mix_bytes);
}

// Worst case for IP-only rules: no flow tracking, so every packet is a "first packet of
// its flow direction" and every IP-only rule (the ET IP-reputation lists) is consulted.
void BM_mix_engine_et_stateless(benchmark::State& st) {
  Inputs& in = inputs();
  Matcher m(in.et);
  std::vector<halong::net::Packet> pkts = in.mix;
  for (auto& p : pkts) p.flow = nullptr;
  std::vector<Match> out;
  size_t alerts = 0;
  for (auto _ : st) {
    for (auto& p : pkts) {
      out.clear();
      m.inspect(p, out);
      alerts += out.size();
    }
  }
  benchmark::DoNotOptimize(alerts);
  st.counters["cands/pkt"] = static_cast<double>(m.counters().candidates) / static_cast<double>(m.counters().packets);
  set_rates(st, in.mix.size(), in.mix_bytes);
}

void BM_mix_raw_hyperscan(benchmark::State& st) {
  Inputs& in = inputs();
  hs_scratch_t* scratch = nullptr;
  hs_alloc_scratch(in.raw_db, &scratch);
  size_t hits = 0;
  for (auto _ : st) {
    for (auto& p : in.mix)
      hs_scan(in.raw_db, reinterpret_cast<const char*>(p.payload), static_cast<unsigned>(p.payload_len), 0, scratch, on_hit, &hits);
  }
  benchmark::DoNotOptimize(hits);
  hs_free_scratch(scratch);
  set_rates(st, in.mix.size(), in.mix_bytes);
}

void BM_mix_no_rules(benchmark::State& st) {
  Inputs& in = inputs();
  Matcher m(in.empty);
  std::vector<Match> out;
  for (auto _ : st)
    for (auto& p : in.mix) m.inspect(p, out);
  set_rates(st, in.mix.size(), in.mix_bytes);
}

// ---------------------------------------------------------------- corpus pcaps (full pipeline)

template <bool kEngine>
void run_pcaps(benchmark::State& st, const std::shared_ptr<const Ruleset>& rs) {
  Inputs& in = inputs();
  Matcher m(rs);
  std::vector<Match> out;
  size_t alerts = 0;
  for (auto _ : st) {
    for (auto& cf : in.pcaps) {
      halong::agent::net::NetPipeline pl;
      for (size_t i = 0; i < cf.frames.size(); ++i) {
        halong::agent::net::Frame fr{cf.frames[i].data(), static_cast<uint32_t>(cf.frames[i].size()),
                                     static_cast<uint32_t>(cf.frames[i].size()), cf.ts[i], cf.linktype};
        pl.process(fr, [&](halong::net::Packet& p) {
          if (kEngine) {
            out.clear();
            m.inspect(p, out);
            alerts += out.size();
          }
        });
      }
      pl.finish();
    }
  }
  benchmark::DoNotOptimize(alerts);
  st.counters["cands/pkt"] = static_cast<double>(m.counters().candidates) / static_cast<double>(m.counters().packets + 1);
  set_rates(st, in.pcap_packets, in.pcap_frame_bytes);
}

void BM_pcaps_pipeline_engine_et(benchmark::State& st) { run_pcaps<true>(st, inputs().et); }
void BM_pcaps_pipeline_no_rules(benchmark::State& st) { run_pcaps<false>(st, inputs().empty); }

void BM_pcaps_raw_hyperscan(benchmark::State& st) {
  // The payloads the pipeline hands to the engine, scanned once each with the raw database.
  Inputs& in = inputs();
  static std::vector<std::string> payloads;
  if (payloads.empty())
    for (auto& cf : in.pcaps) {
      halong::agent::net::NetPipeline pl;
      for (size_t i = 0; i < cf.frames.size(); ++i) {
        halong::agent::net::Frame fr{cf.frames[i].data(), static_cast<uint32_t>(cf.frames[i].size()),
                                     static_cast<uint32_t>(cf.frames[i].size()), cf.ts[i], cf.linktype};
        pl.process(fr, [&](halong::net::Packet& p) {
          payloads.emplace_back(reinterpret_cast<const char*>(p.payload), p.payload_len);
        });
      }
    }
  hs_scratch_t* scratch = nullptr;
  hs_alloc_scratch(in.raw_db, &scratch);
  size_t hits = 0;
  for (auto _ : st)
    for (auto& pl : payloads)
      if (!pl.empty()) hs_scan(in.raw_db, pl.data(), static_cast<unsigned>(pl.size()), 0, scratch, on_hit, &hits);
  benchmark::DoNotOptimize(hits);
  hs_free_scratch(scratch);
  set_rates(st, in.pcap_packets, in.pcap_frame_bytes);
}

}  // namespace

BENCHMARK(BM_mix_engine_et)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_mix_engine_et_stateless)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_mix_raw_hyperscan)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_mix_no_rules)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_pcaps_pipeline_engine_et)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_pcaps_raw_hyperscan)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_pcaps_pipeline_no_rules)->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (!fs::exists(fs::path(HALONG_CORPUS_DIR) / "et-open" / "rules")) {
    std::fprintf(stderr, "corpus not found at %s\n", HALONG_CORPUS_DIR);
    return 1;
  }
  setup();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
