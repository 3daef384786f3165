// Rulesets owned by the collector: validated whole, stored versioned under
// <data_dir>/rulesets/<version>/, the current one named in <data_dir>/rulesets/current,
// and pushed by the gateway to every agent (docs/operations.md, "Rules from the centre").
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "core/wire.hpp"

namespace halong::collector {

using RuleFiles = std::vector<std::pair<std::string, std::string>>;  // (file name, content)

// Reads rule files: *.rules (Suricata) and *.yml / *.yaml (Sigma), directories recursively.
Result<RuleFiles> read_rule_files(const std::vector<std::string>& paths);

struct RulesetReport {
  std::string text;  // per file: loaded, skipped by keyword/reason, errors with file:line
  size_t loaded = 0, skipped = 0, errors = 0;
};
// Loads every file with its engine (standard rule variables). A ruleset with any error is
// refused whole; rules skipped for unsupported keywords are reported, not errors.
RulesetReport validate_ruleset(const RuleFiles& files);

// Stores a validated ruleset and makes it current; returns its version.
Result<std::string> store_ruleset(const std::string& data_dir, const RuleFiles& files);

// The current stored ruleset, if any.
Result<std::optional<wire::RulesetPush>> current_ruleset(const std::string& data_dir);

// Stored versions, newest first, with their file names; `current` marks the one agents run.
struct StoredRuleset {
  std::string version;
  std::vector<std::string> files;
  bool current = false;
};
Result<std::vector<StoredRuleset>> list_rulesets(const std::string& data_dir);

}  // namespace halong::collector
