// suricata-verify corpus access for agent_net tests (read in place via HALONG_CORPUS_DIR).
#pragma once

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace corpus {

struct Case {
  std::string name;
  std::filesystem::path pcap;
  uint64_t packets = 0;
  std::string encapsulation;                       // capinfos "File encapsulation"
  std::vector<std::pair<std::string, uint64_t>> stacks;  // tshark protocol stacks
  std::vector<std::string> args;
  uint64_t tcp_syn = 0, tcp_synack = 0, tcp_streams = 0;
};

inline std::filesystem::path sv_dir() { return std::filesystem::path(HALONG_CORPUS_DIR) / "suricata-verify"; }

inline bool available() { return std::filesystem::exists(sv_dir() / "index.json"); }

inline std::vector<Case> cases() {
  std::vector<Case> out;
  std::ifstream f(sv_dir() / "index.json");
  std::stringstream ss;
  ss << f.rdbuf();
  boost::json::value v = boost::json::parse(ss.str());
  for (const auto& c : v.as_array()) {
    const auto& o = c.as_object();
    Case k;
    k.name = std::string(o.at("name").as_string());
    k.pcap = sv_dir() / k.name / std::string(o.at("pcap").as_string());
    const auto& pi = o.at("pcap_info").as_object();
    k.packets = pi.at("packets").to_number<uint64_t>();
    k.encapsulation = std::string(pi.at("capinfos").as_object().at("File encapsulation").as_string());
    for (const auto& s : pi.at("top_protocol_stacks").as_array())
      k.stacks.emplace_back(std::string(s.as_array()[0].as_string()), s.as_array()[1].to_number<uint64_t>());
    k.tcp_syn = pi.at("tcp_syn").to_number<uint64_t>();
    k.tcp_synack = pi.at("tcp_synack").to_number<uint64_t>();
    k.tcp_streams = pi.at("tcp_streams").to_number<uint64_t>();
    if (o.contains("args"))
      for (const auto& a : o.at("args").as_array()) k.args.emplace_back(a.as_string());
    out.push_back(std::move(k));
  }
  return out;
}

inline const Case* find(const std::vector<Case>& all, const std::string& name) {
  for (const auto& c : all)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace corpus

#define REQUIRE_CORPUS_OR_SKIP()                                                            \
  do {                                                                                      \
    if (!corpus::available()) {                                                             \
      WARN("SKIPPED: suricata-verify corpus not found at " << corpus::sv_dir().string());   \
      return;                                                                               \
    }                                                                                       \
  } while (0)
