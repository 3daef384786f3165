// Sigma log detection engine: loads Sigma rules (detection + correlation), compiles every
// string test into Hyperscan (one database per rule logsource and field), and evaluates
// each rule's condition on the set of tests an event matched.
//
// Use:
//   LoadReport report;
//   auto rs = load_sigma({"rules/logs"}, report);      // report lists loaded/skipped rules
//   Matcher m(*rs);                                      // one per thread
//   std::vector<Match> out;
//   m.evaluate(event, out);                              // appends matches (and correlations)
//   for (auto& x : out) alert.alert = x.to_alert_info();
//
// See core/detect/sigma/NOTES.md for the design and docs/sigma.md for rule writing.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/alert.hpp"
#include "core/log_event.hpp"
#include "core/result.hpp"

namespace halong::detect::sigma {

// What an alert needs to know about the rule that fired.
struct RuleMeta {
  std::string id;           // Sigma id (UUID); may be empty in hand-written rules
  std::string name;         // Sigma `name` (used by correlations), may be empty
  std::string title;
  std::string description;
  std::string status;       // stable | test | experimental | deprecated | unsupported
  std::string level;        // informational | low | medium | high | critical
  std::string author;
  std::vector<std::string> tags;
  std::vector<std::string> falsepositives;
  std::vector<std::string> references;
  logs::LogSource logsource;  // for correlations: the logsource of the first base rule
  std::string file;
  int line = 0;             // 1-based line of the rule's document in `file`
  uint64_t signature_id = 0;  // stable number derived from id (or title when id is empty)
  bool correlation = false;
  std::string correlation_type;  // event_count | value_count | temporal | temporal_ordered
};

// engine "sigma", signature = title, rule_id = id, signature_id = derived number,
// severity from level (critical 1, high 2, medium 3, low 4, informational 5; absent 3),
// tags, metadata {level, status, author, falsepositives}, category from logsource
// (category, else service, else product).
AlertInfo to_alert_info(const RuleMeta& rule);

// The stable number used as signature_id: 2^48 + the low 48 bits of FNV-1a-64(key).
// Never collides with Suricata sids (< 2^32) and stays exact in JSON/JavaScript numbers.
uint64_t derive_signature_id(std::string_view key);

// Per rule document: loaded, or skipped with the reason and file:line.
struct LoadEntry {
  std::string file;
  int line = 0;
  std::string title;
  std::string id;
  bool loaded = false;
  bool correlation = false;
  std::string reason_kind;           // short key for grouping skips, e.g. "modifier:expand"
  std::string reason;                // full message
  std::vector<std::string> notes;    // e.g. "regex via PCRE2 (Hyperscan: ...)"
};

struct LoadReport {
  std::vector<LoadEntry> entries;
  std::vector<std::string> file_errors;  // files that could not be read/parsed at all ("file:line: why")
  size_t files = 0;
  size_t loaded = 0;
  size_t skipped = 0;
  size_t pcre_fallbacks = 0;        // regex tests run by PCRE2 because Hyperscan refused them

  // Skipped rules counted by reason_kind, largest first.
  std::vector<std::pair<std::string, size_t>> skipped_by_reason() const;
  // Human-readable: one line per rule ("file:line: loaded|skipped: title [: reason]"),
  // then totals. This is what `halong-agent rules check` prints for Sigma files.
  std::string to_text() const;
  bool all_loaded() const { return skipped == 0 && file_errors.empty(); }
};

// Loading limits (defence against hostile files).
struct LoadOptions {
  size_t max_file_bytes = 1u << 20;     // a rule file larger than this is refused
  size_t max_yaml_nodes = 100000;       // node visits per document (alias bombs)
  size_t max_yaml_depth = 64;           // nesting depth per document
  size_t max_yaml_documents = 1000;     // documents per file
  size_t correlation_max_groups = 10000;  // per correlation rule and Matcher; LRU eviction, counted
  size_t correlation_max_values = 4096;   // per group (timestamps / distinct values kept)
};

class Ruleset;  // immutable, shared by all Matchers (defined in internal.hpp)

// Loads files and directories (recursively: *.yml, *.yaml, sorted by path). A path that
// does not exist is an Error; rules that cannot be honoured are skipped in `report`
// (never half-applied). Never throws.
Result<std::shared_ptr<const Ruleset>> load_sigma(const std::vector<std::string>& paths, LoadReport& report,
                                                  const LoadOptions& opts = {});
// Same from text (one file's content; multi-document YAML allowed). `name` is used as the
// file name in the report.
Result<std::shared_ptr<const Ruleset>> load_sigma_from_string(const std::string& text, const std::string& name,
                                                              LoadReport& report, const LoadOptions& opts = {});

// Read-only view of a loaded ruleset.
struct RulesetInfo {
  size_t rules = 0;          // detection rules loaded
  size_t correlations = 0;   // correlation rules loaded
  size_t databases = 0;      // Hyperscan databases (logsource x field)
  size_t hs_patterns = 0;    // Hyperscan patterns over all databases
  size_t pcre_tests = 0;     // tests run by PCRE2
  size_t other_tests = 0;    // numeric, cidr, exists, null, empty, fieldref
  size_t hs_bytes = 0;       // Hyperscan database bytes
};
RulesetInfo info(const Ruleset& rs);
const std::vector<RuleMeta>& rules(const Ruleset& rs);  // detection rules then correlations

// Every Hyperscan pattern of the ruleset (for benchmarks: the raw-scan limit and ripgrep).
struct ExportedPattern {
  logs::LogSource logsource;  // of the rules using it ("" = not set)
  std::string field;       // "" = the raw line (keywords)
  std::string expression;  // Hyperscan syntax (\A, \z, \xNN)
  unsigned hs_flags = 0;   // HS_FLAG_*
};
std::vector<ExportedPattern> export_patterns(const Ruleset& rs);

// One detection or correlation hit.
struct Match {
  const RuleMeta* rule = nullptr;  // owned by the Ruleset (the Matcher keeps it alive)
  int64_t ts_us = 0;               // time of the event that completed the match
  bool correlation = false;
  uint64_t count = 0;              // correlation: events / distinct values / rules counted
  std::vector<std::pair<std::string, std::string>> group;  // correlation: group-by field -> value

  AlertInfo to_alert_info() const { return sigma::to_alert_info(*rule); }
};

struct MatcherStats {
  uint64_t events = 0;
  uint64_t scans = 0;               // hs_scan calls
  uint64_t scan_errors = 0;         // hs_scan failures (event then evaluated without those tests)
  uint64_t pcre_errors = 0;         // PCRE2 limits hit (the test counts as not matched)
  uint64_t rule_matches = 0;        // detection rules matched (including correlation-only ones)
  uint64_t correlation_matches = 0;
  uint64_t correlation_groups_evicted = 0;  // group state dropped because a bound was hit
  uint64_t correlation_values_evicted = 0;  // timestamps/values dropped because a bound was hit
};

// Evaluates events against a Ruleset. One per thread: it owns Hyperscan scratch, PCRE2
// match data and the correlation state (so correlations see the events of this Matcher,
// in the order given; time comes only from LogEvent::ts_us).
class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const Ruleset> rs);
  ~Matcher();
  Matcher(Matcher&&) noexcept;
  Matcher& operator=(Matcher&&) noexcept;
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;

  // Appends to `out` one Match per detection rule whose condition holds for `ev` (except
  // rules only referenced by correlations, unless they say `generate: true`) and one per
  // correlation rule that fires. No allocation-heavy work, no logging, no exceptions.
  void evaluate(const logs::LogEvent& ev, std::vector<Match>& out);

  const MatcherStats& stats() const;
  const Ruleset& ruleset() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace halong::detect::sigma
