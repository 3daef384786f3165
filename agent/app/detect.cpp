#include "agent/app/detect.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace halong::agent {

namespace fs = std::filesystem;

AgentRef agent_ref(const AgentConfig& c) { return AgentRef{c.id, c.hostname, c.agency}; }

net::DecoderOptions decoder_options(const AgentConfig& c) {
  net::DecoderOptions o;
  o.vxlan = c.vxlan;
  return o;
}

net::FlowSettings flow_settings(const AgentConfig& c) {
  net::FlowSettings f;
  f.midstream = c.stream.midstream;
  f.async_oneside = c.stream.async_oneside;
  f.max_flows = c.stream.max_flows;
  f.stream.depth = c.stream.reassembly_depth;
  return f;
}

bool detect_line(logs::Parser& parser, std::string_view text, std::string_view path, uint64_t offset,
                 const halong::logs::LogSource& src, LogDetector* det, std::string_view cursor) {
  // Reused per thread: the fields vector keeps its capacity from line to line.
  thread_local halong::logs::LogEvent ev;
  thread_local halong::logs::LogEvent derived;
  const bool parsed = parser.parse(text, ev);
  ev.path = path;
  ev.offset = offset;
  ev.source = &src;
  if (!cursor.empty()) ev.add("__CURSOR", cursor);
  if (det) det->on_event(ev);
  while (parser.next_derived(derived)) {
    derived.path = path;
    derived.offset = offset;
    if (!cursor.empty() && !derived.field("__CURSOR")) derived.add("__CURSOR", cursor);
    if (!derived.source) derived.source = &src;
    if (det) det->on_event(derived);
  }
  return parsed;
}

detect::net::LoadOptions network_load_options(const AgentConfig& c) {
  detect::net::LoadOptions o;
  o.address_vars = c.address_vars;
  o.port_vars = c.port_vars;
  o.classification_file = c.classification_file;
  // The compiled-database cache lives in the agent's data directory, when there is one
  // (a replay on a workstation must not create /var/lib/halong-agent).
  std::error_code ec;
  if (!c.data_dir.empty() && fs::is_directory(c.data_dir, ec))
    o.cache_dir = (fs::path(c.data_dir) / "hs-cache").string();
  if (!c.threshold_file.empty()) {
    std::ifstream in(c.threshold_file);
    std::stringstream ss;
    ss << in.rdbuf();
    o.threshold_config = ss.str();
    o.threshold_config_name = c.threshold_file;
  }
  return o;
}

namespace {

bool is_sigma_file(const fs::path& p) {
  auto e = p.extension().string();
  return e == ".yml" || e == ".yaml";
}
bool is_network_file(const fs::path& p) { return p.extension() == ".rules"; }

}  // namespace

Result<Rulesets> load_rulesets(const AgentConfig& c) {
  Rulesets out;
  std::ostringstream report;
  if (!c.network_rules.empty()) {
    detect::net::LoadReport rep;
    auto rs = detect::net::load_rules(c.network_rules, network_load_options(c), rep);
    report << rep.to_text();
    if (!rs) return make_error(rs.error().code, "network rules: " + rs.error().message);
    out.network = *rs;
    out.errors += rep.error_count();
    out.loaded += rep.loaded();
    out.skipped += rep.skipped();
  }
  if (!c.log_rules.empty()) {
    detect::sigma::LoadReport rep;
    auto rs = detect::sigma::load_sigma(c.log_rules, rep);
    report << rep.to_text();
    if (!rs) return make_error(rs.error().code, "log rules: " + rs.error().message);
    out.logs = *rs;
    out.errors += rep.file_errors.size();
    out.loaded += rep.loaded;
    out.skipped += rep.skipped;
  }
  out.report = report.str();
  return out;
}

CheckResult check_rules(const std::vector<std::string>& paths, const AgentConfig& c, bool verbose) {
  CheckResult r;
  std::ostringstream text;
  for (const auto& p : paths) {
    std::error_code ec;
    fs::path fp(p);
    if (!fs::exists(fp, ec)) {
      text << p << ": no such file or directory\n";
      ++r.errors;
      continue;
    }
    bool dir = fs::is_directory(fp, ec);
    bool has_net = false, has_sigma = false;
    if (dir) {
      for (auto it = fs::recursive_directory_iterator(fp, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        has_net |= is_network_file(it->path());
        has_sigma |= is_sigma_file(it->path());
      }
    } else {
      has_net = is_network_file(fp);
      has_sigma = is_sigma_file(fp);
      if (!has_net && !has_sigma) {
        // Unknown extension: Suricata rules are the common case for a lone file.
        has_net = true;
      }
    }
    if (has_net) {
      // A directory: every *.rules file below it (the engine itself reads one level).
      std::vector<std::string> files{p};
      if (dir) {
        files.clear();
        for (auto it = fs::recursive_directory_iterator(fp, ec); !ec && it != fs::recursive_directory_iterator();
             it.increment(ec))
          if (it->is_regular_file() && is_network_file(it->path())) files.push_back(it->path().string());
        std::sort(files.begin(), files.end());
      }
      detect::net::LoadReport rep;
      auto rs = detect::net::load_rules(files, network_load_options(c), rep);
      text << (verbose ? rep.to_text_verbose() : rep.to_text());
      if (!rs) {
        text << p << ": " << rs.error().message << "\n";
        ++r.errors;
      }
      r.loaded += rep.loaded();
      r.skipped += rep.skipped();
      r.errors += rep.error_count();
    }
    if (has_sigma) {
      detect::sigma::LoadReport rep;
      auto rs = detect::sigma::load_sigma({p}, rep);
      text << rep.to_text();
      if (!rs) {
        text << p << ": " << rs.error().message << "\n";
        ++r.errors;
      }
      r.loaded += rep.loaded;
      r.skipped += rep.skipped;
      r.errors += rep.file_errors.size();
    }
  }
  text << "total: " << r.loaded << " loaded, " << r.skipped << " skipped, " << r.errors << " errors\n";
  r.text = text.str();
  return r;
}

Alert make_network_alert(const AgentRef& agent, const detect::net::Match& m, const halong::net::Packet& p) {
  Alert a;
  a.timestamp_us = p.ts_us;
  a.agent = agent;
  a.source = "network";
  a.src_ip = p.src.to_string();
  a.dest_ip = p.dst.to_string();
  if (p.ip_proto == halong::net::ipproto::tcp || p.ip_proto == halong::net::ipproto::udp ||
      p.ip_proto == halong::net::ipproto::sctp) {
    a.src_port = p.src_port;
    a.dest_port = p.dst_port;
  }
  a.proto = p.ip_version ? halong::net::proto_name(p.ip_proto) : std::string();
  if (p.icmp_type >= 0) {
    a.icmp_type = p.icmp_type;
    a.icmp_code = p.icmp_code;
  }
  if (p.flow) a.flow_id = p.flow->flow_id;
  a.alert = detect::net::to_alert_info(*m.rule);
  if (m.from_stream && p.stream && p.stream_len) {
    a.payload_printable = printable_payload(p.stream, p.stream_len);
  } else if (p.payload && p.payload_len) {
    a.payload_printable = printable_payload(p.payload, p.payload_len);
  }
  return a;
}

Alert make_log_alert(const AgentRef& agent, const detect::sigma::Match& m, const halong::logs::LogEvent& ev) {
  Alert a;
  a.timestamp_us = m.ts_us ? m.ts_us : ev.ts_us;
  a.agent = agent;
  a.source = "log";
  constexpr size_t kLineCap = 4096;
  a.log = LogContext{std::string(ev.path), ev.offset, std::string(ev.raw.substr(0, kLineCap)), std::string(ev.format)};
  for (const auto& [k, v] : ev.fields) a.fields.emplace(k, v);
  for (const auto& [k, v] : m.group) a.fields.emplace("group." + k, v);
  if (m.correlation) a.fields.emplace("correlation.count", std::to_string(m.count));
  // Addresses the parser found become the alert's network context, so analysts can
  // filter log and network alerts by the same source address.
  for (const char* k : {"src_ip", "c-ip", "SourceIp", "source.ip"})
    if (const auto* v = ev.field(k)) {
      a.src_ip = *v;
      break;
    }
  for (const char* k : {"dst_ip", "s-ip", "DestinationIp", "destination.ip"})
    if (const auto* v = ev.field(k)) {
      a.dest_ip = *v;
      break;
    }
  if (a.src_ip.empty())
    for (const auto& [k, v] : m.group)
      if (k == "src_ip" || k == "c-ip" || k == "SourceIp") a.src_ip = v;
  a.alert = m.to_alert_info();
  return a;
}

NetworkDetector::NetworkDetector(AgentRef agent, std::shared_ptr<const detect::net::Ruleset> rs, AlertSink& sink)
    : agent_(std::move(agent)), matcher_(std::move(rs)), sink_(sink) {}

void NetworkDetector::on_packet(const halong::net::Packet& p) {
  matches_.clear();
  matcher_.inspect(p, matches_);
  for (const auto& m : matches_) sink_.emit(make_network_alert(agent_, m, p));
}

LogDetector::LogDetector(AgentRef agent, std::shared_ptr<const detect::sigma::Ruleset> rs, AlertSink& sink)
    : agent_(std::move(agent)), matcher_(std::move(rs)), sink_(sink) {}

void LogDetector::on_event(const halong::logs::LogEvent& ev) {
  matches_.clear();
  matcher_.evaluate(ev, matches_);
  for (const auto& m : matches_) sink_.emit(make_log_alert(agent_, m, ev));
}

}  // namespace halong::agent
