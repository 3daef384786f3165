#include "agent/app/run.hpp"

#include <sys/resource.h>
#include <time.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "agent/app/detect.hpp"
#include "agent/app/ship.hpp"
#include "agent/capture/pcap_source.hpp"
#include "agent/decode/decoder.hpp"
#include "agent/flow/flow_table.hpp"
#include "agent/logs/journald.hpp"
#include "agent/logs/log_inputs.hpp"
#include "agent/logs/parser.hpp"
#include "agent/logs/syslog_listener.hpp"

namespace halong::agent {

namespace {

// Alerts go into the uplink's durable spool; a refusal (spool full with drop_newest)
// is counted by the uplink and must not stop detection.
class UplinkSink final : public AlertSink {
 public:
  explicit UplinkSink(Uplink& up) : up_(up) {}
  void emit(Alert&& a) override { (void)up_.submit(std::move(a)); }

 private:
  Uplink& up_;
};

struct Counters {
  std::atomic<uint64_t> packets{0}, decode_errors{0}, kernel_dropped{0}, if_dropped{0}, lines{0};
};

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t rss_bytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t size = 0, rss = 0;
  in >> size >> rss;
  return rss * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void capture_loop(const AgentConfig& c, net::LiveSource& src, std::shared_ptr<const detect::net::Ruleset> rules,
                  AlertSink& sink, Counters& n, std::atomic<bool>& stop) {
  net::Decoder decoder(decoder_options(c));
  net::FlowTable flows(flow_settings(c));
  std::optional<NetworkDetector> det;
  if (rules) det.emplace(agent_ref(c), rules, sink);
  net::Frame frame;
  net::Decoded decoded;
  uint64_t cnt = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    auto r = src.next(frame);
    if (!r) {
      spdlog::error("capture {}: {}; capture on this interface stopped", src.name(), r.error().message);
      return;
    }
    if (*r == net::ReadStatus::end) return;
    if (*r == net::ReadStatus::timeout) {
      flows.expire(now_us());
      continue;
    }
    decoder.decode(frame, ++cnt, decoded);
    if (decoded.error) n.decode_errors.fetch_add(1, std::memory_order_relaxed);
    for (auto& p : decoded) {
      n.packets.fetch_add(1, std::memory_order_relaxed);
      flows.process(p);
      if (det) det->on_packet(p);
    }
  }
}

void log_loop(const AgentConfig& c, std::shared_ptr<const detect::sigma::Ruleset> rules, Uplink& up, AlertSink& sink,
              Counters& n, std::atomic<bool>& stop) {
  std::vector<logs::LogInputConfig> inputs;
  for (const auto& in : c.logs) {
    logs::LogInputConfig lc;
    lc.paths = in.paths;
    lc.format = in.format;
    lc.source = halong::logs::LogSource{in.product, in.service, in.category};
    lc.from_start = in.from_start;
    inputs.push_back(std::move(lc));
  }
  logs::TailerOptions topt;
  topt.state_dir = (std::filesystem::path(c.data_dir) / "logs").string();
  auto li = logs::LogInputs::open(std::move(inputs), topt);
  if (!li) {
    spdlog::error("log inputs: {}; log reading stopped", li.error().message);
    return;
  }
  std::optional<LogDetector> det;
  if (rules) det.emplace(agent_ref(c), rules, sink);
  while (!stop.load(std::memory_order_relaxed)) {
    size_t got = (*li)->poll([&](const halong::logs::LogEvent& ev) {
      n.lines.fetch_add(1, std::memory_order_relaxed);
      if (det) det->on_event(ev);
    });
    // The alerts of every line handled so far are in the spool: now the offsets may move.
    auto s = (*li)->sync(std::to_string(up.spool().last_seq()));
    if (!s) spdlog::warn("log inputs: cannot save read offsets: {}", s.error().message);
    if (got == 0) (*li)->wait(200);
  }
}

void journal_loop(const AgentConfig& c, const JournalInput& in, size_t index,
                  std::shared_ptr<const detect::sigma::Ruleset> rules, Uplink& up, AlertSink& sink, Counters& n,
                  std::atomic<bool>& stop) {
  logs::JournalConfig jc;
  jc.name = "input" + std::to_string(index);
  jc.directory = in.directory;
  jc.matches = in.matches;
  jc.format = in.format;
  jc.source = halong::logs::LogSource{in.product, in.service, in.category};
  jc.from_start = in.from_start;
  auto jr = logs::JournalReader::open(jc, (std::filesystem::path(c.data_dir) / "logs").string());
  if (!jr) {
    spdlog::error("journald input {}: {}; this input stopped", index, jr.error().message);
    return;
  }
  auto parser = logs::make_parser(in.format);
  if (!parser) {
    spdlog::error("journald input {}: {}", index, parser.error().message);
    return;
  }
  std::optional<LogDetector> det;
  if (rules) det.emplace(agent_ref(c), rules, sink);
  const halong::logs::LogSource src = jc.source;
  while (!stop.load(std::memory_order_relaxed)) {
    size_t got = (*jr)->poll([&](const logs::JournalLine& line) {
      n.lines.fetch_add(1, std::memory_order_relaxed);
      (void)detect_line(**parser, line.text, "journald", 0, src, det ? &*det : nullptr);
      (*jr)->commit(line.cursor);
    });
    auto s = (*jr)->sync(std::to_string(up.spool().last_seq()));
    if (!s) spdlog::warn("journald input {}: cannot save the cursor: {}", index, s.error().message);
    if (got == 0) (*jr)->wait(200);
  }
}

void syslog_loop(const AgentConfig& c, logs::SyslogListener& listener, std::shared_ptr<const detect::sigma::Ruleset> rules,
                 AlertSink& sink, Counters& n, std::atomic<bool>& stop) {
  auto parser = logs::make_parser(c.syslog.format);
  if (!parser) {
    spdlog::error("syslog listener: {}", parser.error().message);
    return;
  }
  std::optional<LogDetector> det;
  if (rules) det.emplace(agent_ref(c), rules, sink);
  const halong::logs::LogSource src{c.syslog.product, c.syslog.service, c.syslog.category};
  while (!stop.load(std::memory_order_relaxed)) {
    listener.poll(200, [&](const logs::SyslogMessage& m) {
      n.lines.fetch_add(1, std::memory_order_relaxed);
      (void)detect_line(**parser, m.text, m.peer, 0, src, det ? &*det : nullptr);
    });
  }
}

}  // namespace

Status run_agent(const AgentConfig& c, std::atomic<bool>& stop) {
  auto rules = load_rulesets(c);
  if (!rules) return rules.error();
  spdlog::info("rules: {} loaded, {} skipped, {} errors (details: halong-agent rules check)", rules->loaded,
               rules->skipped, rules->errors);
  auto uopt = uplink_options(c);
  if (!uopt) return uopt.error();
  auto up = Uplink::create(*uopt);
  if (!up) return up.error();
  Uplink& uplink = **up;
  UplinkSink sink(uplink);
  Counters n;

  std::vector<std::unique_ptr<net::LiveSource>> sources;
  for (const auto& ifname : c.capture.interfaces) {
    net::LiveOptions lo;
    lo.interface = ifname;
    lo.bpf = c.capture.bpf;
    lo.snaplen = static_cast<int>(c.capture.snaplen);
    lo.buffer_size = static_cast<int>(std::min<uint64_t>(c.capture.buffer_size, INT32_MAX));
    lo.promisc = c.capture.promisc;
    auto s = net::LiveSource::open(lo);
    if (!s) return make_error(s.error().code, "capture.interfaces: " + s.error().message);
    sources.push_back(std::move(*s));
  }
  std::unique_ptr<logs::SyslogListener> listener;
  if (c.syslog.enabled) {
    logs::SyslogListenerConfig sc;
    sc.enabled = true;
    sc.udp = c.syslog.udp;
    sc.tcp = c.syslog.tcp;
    auto l = logs::SyslogListener::open(sc);
    if (!l) return make_error(l.error().code, "syslog: " + l.error().message);
    listener = std::move(*l);
  }
  const auto start_us = now_us();
  uplink.set_stats_provider([&] {
    uint64_t kdrop = 0, ifdrop = 0;
    for (const auto& s : sources) {
      auto st = s->stats();
      kdrop += st.dropped;
      ifdrop += st.if_dropped;
    }
    auto us = uplink.status();
    boost::json::object o{{"version", "0.1.0"},
                          {"uptime_s", (now_us() - start_us) / 1'000'000},
                          {"rules_loaded", rules->loaded},
                          {"rules_failed", rules->errors},
                          {"packets", n.packets.load()},
                          {"packets_dropped", kdrop + ifdrop},
                          {"lines", n.lines.load()},
                          {"alerts", us.submitted},
                          {"spool_depth", us.spool.depth},
                          {"alerts_dropped", us.dropped},
                          {"cpu_seconds", cpu_seconds()},
                          {"rss_bytes", rss_bytes()}};
    return boost::json::serialize(o);
  });
  auto st = uplink.start();
  if (!st) return st.error();

  std::vector<std::thread> threads;
  for (auto& s : sources)
    threads.emplace_back([&, src = s.get()] { capture_loop(c, *src, rules->network, sink, n, stop); });
  if (!c.logs.empty()) threads.emplace_back([&] { log_loop(c, rules->logs, uplink, sink, n, stop); });
  for (size_t i = 0; i < c.journald.size(); ++i)
    threads.emplace_back([&, i] { journal_loop(c, c.journald[i], i, rules->logs, uplink, sink, n, stop); });
  if (listener) threads.emplace_back([&] { syslog_loop(c, *listener, rules->logs, sink, n, stop); });
  spdlog::info("agent {} running: {} interfaces, {} log inputs, {} journald inputs, syslog listener {}, collector {}",
               c.id, sources.size(), c.logs.size(), c.journald.size(), listener ? "on" : "off", c.collector.address);
  while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (auto& s : sources) s->break_loop();
  for (auto& t : threads) t.join();
  uplink.stop();
  spdlog::info("agent stopped: {} packets, {} log lines, {} alerts", n.packets.load(), n.lines.load(),
               uplink.status().submitted);
  return {};
}

}  // namespace halong::agent
