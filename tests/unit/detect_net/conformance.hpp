// suricata-verify conformance runner: replays each case's pcap through the agent's
// network pipeline (decode, flows, streams) and this engine, and compares the alert
// counts per sid with the case's expectations (index.json, see the corpus README).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace halong::test {

struct CaseResult {
  std::string name;
  std::string tier;
  bool passed = false;
  std::string reason;                 // why it failed (or the setup problem)
  std::map<std::string, long> got;    // sid (or "*") -> alerts seen
  std::map<std::string, long> want;
};

// Runs every case under `corpus_dir`/suricata-verify (or the ones whose name contains
// `filter`). Returns the results in index order.
std::vector<CaseResult> run_conformance(const std::string& corpus_dir, const std::string& filter = "");

}  // namespace halong::test
