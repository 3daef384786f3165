#include "agent/app/config.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/yaml_config.hpp"

namespace halong::agent {

namespace fs = std::filesystem;
using config::Errors;

namespace {

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (fs::path(base_dir) / p).lexically_normal().string();
}

// Applies "a.b.c=value" to the YAML tree. The value is parsed as YAML (so lists and
// booleans work: vars.address-groups.HOME_NET=[10.0.0.0/8]), except that a value that
// does not parse as YAML is taken as a plain string.
Status apply_override(YAML::Node& root, const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0)
    return make_error(ErrorCode::invalid_argument, "--set '" + kv + "': expected KEY=VALUE (for example stream.midstream=true)");
  std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string p; std::getline(ss, p, '.');) {
    if (p.empty()) return make_error(ErrorCode::invalid_argument, "--set '" + kv + "': empty key segment");
    parts.push_back(p);
  }
  YAML::Node val;
  // Address groups such as [10.0.0.0/8,!1.2.3.4] and "!$HOME_NET" are Suricata syntax,
  // not YAML: keep them as strings.
  if (parts.size() >= 2 && parts[0] == "vars") {
    val = YAML::Node(value);
  } else {
    try {
      val = YAML::Load(value);
    } catch (const YAML::Exception&) {
      val = YAML::Node(value);
    }
  }
  if (!root || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  // yaml-cpp nodes are handles: walk down with fresh handles, creating maps as needed.
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node cur = chain.back();
    if (!cur.IsMap() && !cur.IsNull())
      return make_error(ErrorCode::invalid_argument, "--set '" + kv + "': '" + parts[i] + "' is not a map");
    YAML::Node next = cur[parts[i]];
    if (!next || next.IsNull()) {
      cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next = cur[parts[i]];
    }
    chain.push_back(next);
  }
  chain.back()[parts.back()] = val;
  return {};
}

void parse_groups(const YAML::Node& n, const std::string& path, std::map<std::string, std::string>& out,
                  Errors& errs) {
  if (!n) return;
  if (!n.IsMap()) return errs.add(n, path, "must be a map of NAME: value");
  for (const auto& kv : n) {
    const auto name = kv.first.Scalar();
    if (kv.second.IsScalar()) {
      out[name] = kv.second.Scalar();
    } else if (kv.second.IsSequence()) {
      std::string v = "[";
      for (const auto& e : kv.second) v += (v.size() > 1 ? "," : "") + e.Scalar();
      out[name] = v + "]";
    } else {
      errs.add(kv.second, path + "." + name, "must be a string such as \"[10.0.0.0/8,192.168.0.0/16]\"");
    }
  }
}

AgentConfig parse(const YAML::Node& root, const std::string& name, const std::string& base_dir, Errors& errs) {
  AgentConfig c;
  c.source_file = name;
  c.id = c.hostname = host_name();
  if (!root || root.IsNull()) return c;
  if (!root.IsMap()) {
    errs.add(root, "(top level)", "must be a map");
    return c;
  }
  config::check_known_keys(root, "",
                           {"agent", "collector", "vars", "rules", "capture", "stream", "decoder", "logs", "journald", "syslog", "spool"},
                           errs);
  if (auto a = root["agent"]) {
    config::check_known_keys(a, "agent", {"id", "hostname", "agency", "data_dir", "log_level"}, errs);
    config::get_string(a, "id", "agent", c.id, errs);
    config::get_string(a, "hostname", "agent", c.hostname, errs);
    config::get_string(a, "agency", "agent", c.agency, errs);
    config::get_string(a, "data_dir", "agent", c.data_dir, errs);
    config::get_string(a, "log_level", "agent", c.log_level, errs);
    static const std::vector<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (std::find(levels.begin(), levels.end(), c.log_level) == levels.end())
      errs.add(a["log_level"], "agent.log_level", "must be one of trace, debug, info, warn, error, critical, off");
    c.data_dir = resolve(base_dir, c.data_dir);
  }
  if (auto n = root["collector"]) {
    config::check_known_keys(n, "collector",
                             {"address", "token", "ca_file", "fingerprint", "batch_size", "flush_interval"}, errs);
    config::get_string(n, "address", "collector", c.collector.address, errs);
    config::get_string(n, "token", "collector", c.collector.token, errs);
    config::get_string(n, "ca_file", "collector", c.collector.ca_file, errs);
    config::get_string(n, "fingerprint", "collector", c.collector.fingerprint, errs);
    config::get_uint(n, "batch_size", "collector", c.collector.batch_size, errs, 1, 10'000);
    config::get_duration_ms(n, "flush_interval", "collector", c.collector.flush_interval_ms, errs);
    c.collector.ca_file = resolve(base_dir, c.collector.ca_file);
    if (!c.collector.address.empty() && c.collector.address.rfind(':') == std::string::npos)
      errs.add(n["address"], "collector.address", "must be HOST:PORT (got '" + c.collector.address + "')");
  }
  if (auto v = root["vars"]) {
    config::check_known_keys(v, "vars", {"address-groups", "port-groups"}, errs);
    parse_groups(v["address-groups"], "vars.address-groups", c.address_vars, errs);
    parse_groups(v["port-groups"], "vars.port-groups", c.port_vars, errs);
  }
  if (auto r = root["rules"]) {
    config::check_known_keys(r, "rules", {"network", "logs", "classification", "threshold"}, errs);
    config::get_string(r, "threshold", "rules", c.threshold_file, errs);
    c.threshold_file = resolve(base_dir, c.threshold_file);
    config::get_strings(r, "network", "rules", c.network_rules, errs);
    config::get_strings(r, "logs", "rules", c.log_rules, errs);
    config::get_string(r, "classification", "rules", c.classification_file, errs);
    for (auto& p : c.network_rules) p = resolve(base_dir, p);
    for (auto& p : c.log_rules) p = resolve(base_dir, p);
    c.classification_file = resolve(base_dir, c.classification_file);
  }
  if (auto n = root["capture"]) {
    config::check_known_keys(n, "capture", {"interfaces", "bpf", "snaplen", "buffer_size", "promisc"}, errs);
    config::get_strings(n, "interfaces", "capture", c.capture.interfaces, errs);
    config::get_string(n, "bpf", "capture", c.capture.bpf, errs);
    config::get_uint(n, "snaplen", "capture", c.capture.snaplen, errs, 64, 262144);
    config::get_size(n, "buffer_size", "capture", c.capture.buffer_size, errs);
    config::get_bool(n, "promisc", "capture", c.capture.promisc, errs);
  }
  if (auto n = root["stream"]) {
    config::check_known_keys(n, "stream", {"midstream", "async-oneside", "reassembly", "max_flows"}, errs);
    config::get_bool(n, "midstream", "stream", c.stream.midstream, errs);
    config::get_bool(n, "async-oneside", "stream", c.stream.async_oneside, errs);
    config::get_uint(n, "max_flows", "stream", c.stream.max_flows, errs, 1, 100'000'000);
    if (auto ra = n["reassembly"]) {
      config::check_known_keys(ra, "stream.reassembly", {"depth"}, errs);
      config::get_size(ra, "depth", "stream.reassembly", c.stream.reassembly_depth, errs);
    }
  }
  if (auto d = root["decoder"]) {
    config::check_known_keys(d, "decoder", {"vxlan"}, errs);
    if (auto vx = d["vxlan"]) {
      config::check_known_keys(vx, "decoder.vxlan", {"enabled"}, errs);
      config::get_bool(vx, "enabled", "decoder.vxlan", c.vxlan, errs);
    }
  }
  if (auto l = root["logs"]) {
    if (!l.IsSequence()) {
      errs.add(l, "logs", "must be a list of inputs (each with paths and format)");
    } else {
      size_t i = 0;
      for (const auto& in : l) {
        const std::string p = "logs[" + std::to_string(i++) + "]";
        config::check_known_keys(in, p, {"paths", "format", "product", "service", "category", "from_start"}, errs);
        LogInput li;
        config::get_strings(in, "paths", p, li.paths, errs);
        config::get_string(in, "format", p, li.format, errs);
        config::get_string(in, "product", p, li.product, errs);
        config::get_string(in, "service", p, li.service, errs);
        config::get_string(in, "category", p, li.category, errs);
        config::get_bool(in, "from_start", p, li.from_start, errs);
        if (li.paths.empty()) errs.add(in, p + ".paths", "at least one file path or glob is required");
        for (auto& path : li.paths) path = resolve(base_dir, path);
        c.logs.push_back(std::move(li));
      }
    }
  }
  if (auto j = root["journald"]) {
    if (!j.IsSequence()) {
      errs.add(j, "journald", "must be a list of journal inputs");
    } else {
      size_t i = 0;
      for (const auto& in : j) {
        const std::string p = "journald[" + std::to_string(i++) + "]";
        config::check_known_keys(in, p, {"matches", "directory", "format", "product", "service", "category", "from_start"}, errs);
        JournalInput ji;
        config::get_strings(in, "matches", p, ji.matches, errs);
        config::get_string(in, "directory", p, ji.directory, errs);
        config::get_string(in, "format", p, ji.format, errs);
        config::get_string(in, "product", p, ji.product, errs);
        config::get_string(in, "service", p, ji.service, errs);
        config::get_string(in, "category", p, ji.category, errs);
        config::get_bool(in, "from_start", p, ji.from_start, errs);
        c.journald.push_back(std::move(ji));
      }
    }
  }
  if (auto sl = root["syslog"]) {
    config::check_known_keys(sl, "syslog", {"enabled", "udp", "tcp", "format", "product", "service", "category"}, errs);
    config::get_bool(sl, "enabled", "syslog", c.syslog.enabled, errs);
    config::get_string(sl, "udp", "syslog", c.syslog.udp, errs);
    config::get_string(sl, "tcp", "syslog", c.syslog.tcp, errs);
    config::get_string(sl, "format", "syslog", c.syslog.format, errs);
    config::get_string(sl, "product", "syslog", c.syslog.product, errs);
    config::get_string(sl, "service", "syslog", c.syslog.service, errs);
    config::get_string(sl, "category", "syslog", c.syslog.category, errs);
    if (c.syslog.enabled && c.syslog.udp.empty() && c.syslog.tcp.empty())
      errs.add(sl, "syslog", "enabled, but neither udp nor tcp gives an address to listen on");
  }
  if (auto s = root["spool"]) {
    config::check_known_keys(s, "spool", {"max_size", "when_full", "fsync"}, errs);
    config::get_size(s, "max_size", "spool", c.spool.max_bytes, errs);
    config::get_string(s, "when_full", "spool", c.spool.when_full, errs);
    config::get_string(s, "fsync", "spool", c.spool.fsync, errs);
    if (c.spool.when_full != "drop_oldest" && c.spool.when_full != "drop_newest")
      errs.add(s["when_full"], "spool.when_full", "must be drop_oldest or drop_newest");
    if (c.spool.fsync != "always" && c.spool.fsync != "batch" && c.spool.fsync != "never")
      errs.add(s["fsync"], "spool.fsync", "must be always, batch or never");
  }
  return c;
}

Result<AgentConfig> finish(YAML::Node root, const std::string& name, const std::vector<std::string>& overrides,
                           const std::string& base_dir) {
  for (const auto& o : overrides) {
    auto st = apply_override(root, o);
    if (!st) return st.error();
  }
  Errors errs(name);
  auto c = parse(root, name, base_dir, errs);
  if (!errs.empty()) return make_error(ErrorCode::invalid_argument, errs.joined());
  return c;
}

}  // namespace

Result<AgentConfig> load_agent_config(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty()) return finish(YAML::Node(YAML::NodeType::Map), "(defaults)", overrides, ".");
  auto doc = config::load_file(path);
  if (!doc) return doc.error();
  auto base = fs::path(path).parent_path().string();
  return finish(*doc, path, overrides, base.empty() ? "." : base);
}

Result<AgentConfig> load_agent_config_string(const std::string& yaml, const std::string& name,
                                             const std::vector<std::string>& overrides, const std::string& base_dir) {
  auto doc = config::load_string(yaml, name);
  if (!doc) return doc.error();
  return finish(*doc, name, overrides, base_dir);
}

}  // namespace halong::agent
