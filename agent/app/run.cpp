#include "agent/app/run.hpp"

#include <sys/resource.h>
#include <time.h>

#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <map>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
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
#include "agent/logs/tail_state.hpp"
#include "core/wire.hpp"

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

// The rulesets every detection thread runs. A push from the collector builds the new
// ones aside and swaps them here; each thread notices the generation change at its next
// packet or line and rebuilds its detector (no packet or line is dropped).
class LiveRules {
 public:
  explicit LiveRules(std::shared_ptr<const Rulesets> r) : cur_(std::move(r)) {}
  std::shared_ptr<const Rulesets> get() const {
    std::lock_guard lk(mu_);
    return cur_;
  }
  void set(std::shared_ptr<const Rulesets> r) {
    std::lock_guard lk(mu_);
    cur_ = std::move(r);
    gen_.fetch_add(1, std::memory_order_release);
  }
  uint64_t generation() const { return gen_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Rulesets> cur_;
  std::atomic<uint64_t> gen_{0};
};

// A detector that follows LiveRules: call refresh() before each packet or event.
template <class Detector, class Pick>
class FollowingDetector {
 public:
  FollowingDetector(const AgentConfig& c, LiveRules& live, AlertSink& sink, Pick pick)
      : c_(c), live_(live), sink_(sink), pick_(pick) {
    rebuild();
  }
  Detector* get() {
    if (live_.generation() != gen_) rebuild();
    return det_ ? &*det_ : nullptr;
  }

 private:
  void rebuild() {
    gen_ = live_.generation();
    auto rs = live_.get();
    det_.reset();
    if (rs && pick_(*rs)) det_.emplace(agent_ref(c_), pick_(*rs), sink_);
  }
  const AgentConfig& c_;
  LiveRules& live_;
  AlertSink& sink_;
  Pick pick_;
  uint64_t gen_ = 0;
  std::optional<Detector> det_;
};

auto pick_net = [](const Rulesets& r) { return r.network; };
auto pick_logs = [](const Rulesets& r) { return r.logs; };
using NetFollower = FollowingDetector<NetworkDetector, decltype(pick_net)>;
using LogFollower = FollowingDetector<LogDetector, decltype(pick_logs)>;

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

void capture_loop(const AgentConfig& c, net::LiveSource& src, LiveRules& live, AlertSink& sink, Counters& n,
                  std::atomic<bool>& stop) {
  net::Decoder decoder(decoder_options(c));
  net::FlowTable flows(flow_settings(c));
  NetFollower det(c, live, sink, pick_net);
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
      if (auto* d = det.get()) d->on_packet(p);
    }
  }
}

// Hands each alert spooled after `saved_seq` (the spool's last seq saved with a read
// position), parsed, to `f`; `what` names the input in the warnings ("log inputs",
// "journald:input0").
void for_each_alert_spooled_after(const Spool& spool, const std::string& saved_seq, const std::string& what,
                                  const std::function<void(const boost::json::object&)>& f) {
  uint64_t s = 0;
  if (saved_seq.empty() || std::from_chars(saved_seq.data(), saved_seq.data() + saved_seq.size(), s).ec != std::errc{})
    return;
  if (spool.last_seq() <= s) return;
  auto recs = spool.read(s + 1, 1'000'000, size_t{256} << 20);
  if (!recs) {
    spdlog::warn("{}: cannot read the spool after seq {} ({}); input read again after a crash may alert twice", what, s,
                 recs.error().message);
    return;
  }
  if (recs->empty() || recs->front().seq != s + 1)
    spdlog::warn("{}: alerts after seq {} already left the spool; input read again after a crash may alert twice", what, s);
  for (const auto& r : *recs) {
    boost::system::error_code ec;
    auto v = boost::json::parse(r.json, ec);
    if (!ec && v.is_object()) f(v.as_object());
  }
}

// Read offsets are saved after the alerts of the lines read are spooled, with the spool's
// last seq at that moment. A kill between the two makes the agent read those lines again
// on restart. The alerts they raised are in the spool after that seq and name their line
// (log.path, log.offset): returns, per file, the range of lines read again whose alerts
// are already spooled — from the saved offset (`saved`, path -> offset, from the tail state)
// to the last such line — so that they are not detected a second time. A line below the
// saved offset is never in it: after a rotation the path names a new file read from 0.
struct SpooledLines {
  uint64_t from = 0;  // the saved read offset of the path
  uint64_t to = 0;    // the offset of the last line whose alerts are spooled
};
std::map<std::string, SpooledLines> lines_already_spooled(const Spool& spool, const std::string& saved_seq,
                                                          const std::map<std::string, uint64_t>& saved) {
  std::map<std::string, SpooledLines> out;
  for_each_alert_spooled_after(spool, saved_seq, "log inputs", [&](const boost::json::object& v) {
    boost::system::error_code ec;
    const auto* lg = v.if_contains("log");
    const auto* path = lg && lg->is_object() ? lg->as_object().if_contains("path") : nullptr;
    const auto* off = lg && lg->is_object() ? lg->as_object().if_contains("offset") : nullptr;
    if (!path || !path->is_string() || !off || !off->is_number()) return;
    uint64_t o = off->to_number<uint64_t>(ec);
    if (ec) return;
    auto from = saved.find(std::string(path->as_string()));
    if (from == saved.end() || o < from->second) return;  // not a line read again
    auto& m = out.try_emplace(from->first, SpooledLines{from->second, o}).first->second;
    m.to = std::max(m.to, o);
  });
  return out;
}

void log_loop(const AgentConfig& c, LiveRules& live, Uplink& up, AlertSink& sink,
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
  LogFollower det(c, live, sink, pick_logs);
  std::map<std::string, uint64_t> saved;  // path -> read offset saved before this start
  if (auto st = logs::load_tail_state(topt.state_dir + "/tail.state"); st && *st)
    for (const auto& f : (*st)->files) saved[f.path] = std::max(saved[f.path], f.offset);
  auto already = lines_already_spooled(up.spool(), (*li)->restored_app_state(), saved);
  if (!already.empty()) spdlog::info("log inputs: skipping lines of {} file(s) whose alerts were spooled before a stop", already.size());
  while (!stop.load(std::memory_order_relaxed)) {
    size_t got = (*li)->poll([&](const halong::logs::LogEvent& ev) {
      n.lines.fetch_add(1, std::memory_order_relaxed);
      if (!already.empty()) {
        if (auto it = already.find(std::string(ev.path)); it != already.end()) {
          if (ev.offset >= it->second.from && ev.offset <= it->second.to) return;  // alerts already spooled
          if (ev.offset > it->second.to) already.erase(it);  // past them: read as usual again
        }
      }
      if (auto* d = det.get()) d->on_event(ev);
    });
    // The alerts of every line handled so far are in the spool: now the offsets may move.
    auto s = (*li)->sync(std::to_string(up.spool().last_seq()));
    if (!s) spdlog::warn("log inputs: cannot save read offsets: {}", s.error().message);
    if (got == 0) (*li)->wait(200);
  }
}

// The same window for a journald input: its cursor is saved after the alerts of the
// entries read are spooled, with the spool's last seq. A kill between the two makes the
// agent read those entries again from the saved cursor; their alerts are in the spool
// after that seq, each naming its input (log.path "journald:<input>") and its entry
// (field "__CURSOR"). Returns those cursors and the last of them (in spool order, which is
// the order the entries were read): entries with one of them are skipped, and the skipping
// ends at the last.
struct SpooledEntries {
  std::set<std::string> cursors;
  std::string last;
};
SpooledEntries entries_already_spooled(const Spool& spool, const std::string& saved_seq, const std::string& path) {
  SpooledEntries out;
  for_each_alert_spooled_after(spool, saved_seq, path, [&](const boost::json::object& v) {
    const auto* lg = v.if_contains("log");
    const auto* p = lg && lg->is_object() ? lg->as_object().if_contains("path") : nullptr;
    const auto* f = v.if_contains("fields");
    const auto* cur = f && f->is_object() ? f->as_object().if_contains("__CURSOR") : nullptr;
    if (!p || !p->is_string() || p->as_string() != path || !cur || !cur->is_string()) return;
    out.last = std::string(cur->as_string());
    out.cursors.insert(out.last);
  });
  return out;
}

void journal_loop(const AgentConfig& c, const JournalInput& in, size_t index,
                  LiveRules& live, Uplink& up, AlertSink& sink, Counters& n,
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
  LogFollower det(c, live, sink, pick_logs);
  const halong::logs::LogSource src = jc.source;
  // Alerts name the input and the entry: log.path, log.offset = the entry's time (µs),
  // field __CURSOR = the entry's journal cursor.
  const std::string path = "journald:" + jc.name;
  auto already = entries_already_spooled(up.spool(), (*jr)->restored_app_state(), path);
  if (!already.cursors.empty())
    spdlog::info("{}: skipping up to {} entries whose alerts were spooled before a stop", path, already.cursors.size());
  while (!stop.load(std::memory_order_relaxed)) {
    size_t got = (*jr)->poll([&](const logs::JournalLine& line) {
      n.lines.fetch_add(1, std::memory_order_relaxed);
      (*jr)->commit(line.cursor);
      if (!already.cursors.empty()) {
        const bool spooled = already.cursors.count(std::string(line.cursor)) != 0;
        if (line.cursor == already.last) already = {};  // past them: read as usual again
        if (spooled) return;  // alerts already spooled
      }
      (void)detect_line(**parser, line.text, path, line.realtime_us, src, det.get(), line.cursor);
    });
    auto s = (*jr)->sync(std::to_string(up.spool().last_seq()));
    if (!s) spdlog::warn("journald input {}: cannot save the cursor: {}", index, s.error().message);
    if (got == 0) (*jr)->wait(200);
  }
}

void syslog_loop(const AgentConfig& c, logs::SyslogListener& listener, LiveRules& live, AlertSink& sink, Counters& n,
                 std::atomic<bool>& stop) {
  auto parser = logs::make_parser(c.syslog.format);
  if (!parser) {
    spdlog::error("syslog listener: {}", parser.error().message);
    return;
  }
  LogFollower det(c, live, sink, pick_logs);
  const halong::logs::LogSource src{c.syslog.product, c.syslog.service, c.syslog.category};
  while (!stop.load(std::memory_order_relaxed)) {
    listener.poll(200, [&](const logs::SyslogMessage& m) {
      n.lines.fetch_add(1, std::memory_order_relaxed);
      (void)detect_line(**parser, m.text, m.peer, 0, src, det.get());
    });
  }
}

// The config with its rules replaced by the files of a pushed ruleset directory.
AgentConfig with_ruleset_dir(const AgentConfig& c, const std::filesystem::path& dir) {
  AgentConfig rc = c;
  rc.network_rules.clear();
  rc.log_rules.clear();
  bool net = false, sigma = false;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    auto ext = it->path().extension().string();
    net |= ext == ".rules";
    sigma |= ext == ".yml" || ext == ".yaml";
  }
  if (net) rc.network_rules.push_back(dir.string());
  if (sigma) rc.log_rules.push_back(dir.string());
  return rc;
}

}  // namespace

Status run_agent(const AgentConfig& c, std::atomic<bool>& stop) {
  // A ruleset pushed by the collector (kept in data_dir/rulesets) replaces the config's rules.
  const auto pushed_dir = std::filesystem::path(c.data_dir) / "rulesets";
  std::string running_version;
  AgentConfig rc = c;
  {
    std::ifstream cur(pushed_dir / "current");
    if (cur && std::getline(cur, running_version) && !running_version.empty()) {
      rc = with_ruleset_dir(c, pushed_dir / running_version);
      spdlog::info("running ruleset {} pushed by the collector", running_version);
    }
  }
  auto loaded = load_rulesets(rc);
  if (!loaded) return loaded.error();
  spdlog::info("rules: {} loaded, {} skipped, {} errors (details: halong-agent rules check)", loaded->loaded,
               loaded->skipped, loaded->errors);
  LiveRules live(std::make_shared<const Rulesets>(std::move(*loaded)));
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
                          {"rules_loaded", live.get()->loaded},
                          {"rules_failed", live.get()->errors},
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
  // Rules from the centre: compile aside, swap in, report what runs (or why not).
  uplink.set_ruleset_handler([&](const wire::RulesetPush& push) {
    auto fail = [&](const std::string& why) {
      spdlog::warn("ruleset {} refused, keeping the running rules: {}", push.version, why);
      uplink.report_ruleset(wire::RulesetStatus{push.version, false, why});
    };
    if (push.version.empty() || push.version.find_first_of("/\\") != std::string::npos || push.version[0] == '.')
      return fail("bad version name");
    auto dir = pushed_dir / push.version;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return fail(dir.string() + ": " + ec.message());
    for (const auto& [name, content] : push.files) {
      if (!wire::is_ruleset_file_name(name)) return fail("bad file name '" + name + "'");
      std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
      out << content;
      if (!out) return fail((dir / name).string() + ": cannot write");
    }
    auto next = load_rulesets(with_ruleset_dir(c, dir));
    if (!next) return fail(next.error().message);
    if (next->errors) return fail(std::to_string(next->errors) + " rules do not parse");
    live.set(std::make_shared<const Rulesets>(std::move(*next)));
    {
      std::ofstream cur(pushed_dir / "current.tmp", std::ios::trunc);
      cur << push.version << "\n";
    }
    std::filesystem::rename(pushed_dir / "current.tmp", pushed_dir / "current", ec);
    spdlog::info("ruleset {} now running", push.version);
    uplink.report_ruleset(wire::RulesetStatus{push.version, true, ""});
  });
  if (!running_version.empty()) uplink.report_ruleset(wire::RulesetStatus{running_version, true, ""});
  auto st = uplink.start();
  if (!st) return st.error();

  std::vector<std::thread> threads;
  for (auto& s : sources)
    threads.emplace_back([&, src = s.get()] { capture_loop(c, *src, live, sink, n, stop); });
  if (!c.logs.empty()) threads.emplace_back([&] { log_loop(c, live, uplink, sink, n, stop); });
  for (size_t i = 0; i < c.journald.size(); ++i)
    threads.emplace_back([&, i] { journal_loop(c, c.journald[i], i, live, uplink, sink, n, stop); });
  if (listener) threads.emplace_back([&] { syslog_loop(c, *listener, live, sink, n, stop); });
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
