#include "conformance.hpp"

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/flow/net_pipeline.hpp"
#include "core/detect/net/engine.hpp"

namespace halong::test {

namespace fs = std::filesystem;
using namespace halong::detect::net;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string sid_key(const boost::json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_uint64()) return std::to_string(v.as_uint64());
  return "?";
}

std::string json_scalar(const boost::json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_uint64()) return std::to_string(v.as_uint64());
  if (v.is_bool()) return v.as_bool() ? "true" : "false";
  return boost::json::serialize(v);
}

// Splits "-k none --set a=b" style args into --set KEY=VALUE items.
std::vector<std::string> set_args(const boost::json::array& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    std::istringstream ss(std::string(a.as_string()));
    std::string tok;
    bool want = false;
    while (ss >> tok) {
      if (want) {
        out.push_back(tok);
        want = false;
      } else if (tok == "--set") {
        want = true;
      }
    }
  }
  return out;
}

}  // namespace

std::vector<CaseResult> run_conformance(const std::string& corpus_dir, const std::string& filter) {
  std::vector<CaseResult> results;
  fs::path dir = fs::path(corpus_dir) / "suricata-verify";
  auto index = boost::json::parse(slurp(dir / "index.json")).as_array();
  for (const auto& cv : index) {
    const auto& c = cv.as_object();
    CaseResult res;
    res.name = std::string(c.at("name").as_string());
    res.tier = std::string(c.at("tier").as_string());
    if (!filter.empty() && res.name.find(filter) == std::string::npos) continue;
    fs::path cdir = dir / res.name;
    for (const auto& e : c.at("expected").as_array()) {
      const auto& eo = e.as_object();
      res.want[sid_key(eo.at("sid"))] = static_cast<long>(eo.at("count").to_number<int64_t>());
    }

    // Engine settings from the case's args and suricata.yaml.
    halong::agent::net::NetSettings ns;
    LoadOptions lo;
    MatcherOptions mo;
    std::string setup_error;
    if (c.contains("args") && c.at("args").is_array()) {
      for (const auto& kv : set_args(c.at("args").as_array())) {
        auto st = halong::agent::net::apply_net_setting(ns, kv);
        if (!st) setup_error += "--set " + kv + ": " + st.error().message + "; ";
      }
    }
    if (c.contains("suricata_yaml_significant") && c.at("suricata_yaml_significant").is_object()) {
      const auto& y = c.at("suricata_yaml_significant").as_object();
      if (y.contains("packet-alert-max")) mo.max_alerts_per_packet = static_cast<size_t>(y.at("packet-alert-max").to_number<int64_t>());
      if (y.contains("vars") && y.at("vars").is_object()) {
        const auto& v = y.at("vars").as_object();
        if (v.contains("address-groups"))
          for (const auto& [k, val] : v.at("address-groups").as_object()) lo.address_vars[std::string(k)] = json_scalar(val);
        if (v.contains("port-groups"))
          for (const auto& [k, val] : v.at("port-groups").as_object()) lo.port_vars[std::string(k)] = json_scalar(val);
      }
    }
    LoadReport rep;
    auto rs = load_rules({(cdir / std::string(c.at("rules_file").as_string())).string()}, lo, rep);
    if (!rs) {
      res.reason = "rules did not load: " + rs.error().message;
      results.push_back(res);
      continue;
    }
    Matcher m(*rs, mo);
    std::vector<Match> out;
    auto replay = halong::agent::net::replay_pcap((cdir / std::string(c.at("pcap").as_string())).string(), ns,
                                                  [&](halong::net::Packet& p) { m.inspect(p, out); });
    if (!replay) {
      res.reason = "replay failed: " + replay.error().message;
      results.push_back(res);
      continue;
    }
    for (const auto& x : out) {
      ++res.got[std::to_string(x.rule->sid)];
      ++res.got["*"];
    }
    std::string diff;
    for (const auto& [sid, n] : res.want) {
      long g = res.got.count(sid) ? res.got.at(sid) : 0;
      if (g != n) diff += "sid " + sid + ": expected " + std::to_string(n) + ", got " + std::to_string(g) + "; ";
    }
    res.passed = diff.empty();
    if (!res.passed) {
      res.reason = diff + setup_error;
      if (rep.error_count()) res.reason += "rule errors: " + rep.to_text();
    }
    results.push_back(res);
  }
  return results;
}

}  // namespace halong::test
