// Load report, alert metadata and read-only views of a Ruleset.
#include <algorithm>
#include <map>

#include "core/detect/sigma/engine.hpp"
#include "core/detect/sigma/internal.hpp"

namespace halong::detect::sigma {

uint64_t derive_signature_id(std::string_view key) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return (uint64_t(1) << 48) | (h & ((uint64_t(1) << 48) - 1));
}

AlertInfo to_alert_info(const RuleMeta& r) {
  AlertInfo a;
  a.engine = "sigma";
  a.signature = r.title;
  a.rule_id = r.id;
  a.signature_id = r.signature_id;
  a.rev = 0;
  const std::string& lv = r.level;
  a.severity = lv == "critical" ? 1 : lv == "high" ? 2 : lv == "medium" ? 3 : lv == "low" ? 4 : lv == "informational" ? 5 : 3;
  a.tags = r.tags;
  a.references = r.references;
  if (!r.level.empty()) a.metadata["level"] = {r.level};
  if (!r.status.empty()) a.metadata["status"] = {r.status};
  if (!r.author.empty()) a.metadata["author"] = {r.author};
  if (!r.falsepositives.empty()) a.metadata["falsepositives"] = r.falsepositives;
  if (r.correlation) a.metadata["correlation"] = {r.correlation_type};
  const auto& ls = r.logsource;
  a.category = !ls.category.empty() ? ls.category : !ls.service.empty() ? ls.service : ls.product;
  return a;
}

std::vector<std::pair<std::string, size_t>> LoadReport::skipped_by_reason() const {
  std::map<std::string, size_t> m;
  for (const auto& e : entries)
    if (!e.loaded) ++m[e.reason_kind];
  std::vector<std::pair<std::string, size_t>> out(m.begin(), m.end());
  std::stable_sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.second > b.second; });
  return out;
}

std::string LoadReport::to_text() const {
  std::string s;
  for (const auto& e : entries) {
    if (e.loaded) {
      s += e.file + ":" + std::to_string(e.line) + ": loaded" + (e.correlation ? " correlation" : "") + ": " + e.title +
           "\n";
      for (const auto& n : e.notes) s += "    note: " + n + "\n";
    } else {
      s += e.reason + " [skipped" + (e.title.empty() ? std::string() : ": " + e.title) + "]\n";
    }
  }
  for (const auto& f : file_errors) s += f + " [file not loaded]\n";
  s += "sigma: " + std::to_string(files) + " files, " + std::to_string(loaded) + " rules loaded, " +
       std::to_string(skipped) + " skipped, " + std::to_string(file_errors.size()) + " file errors";
  if (pcre_fallbacks) s += ", " + std::to_string(pcre_fallbacks) + " regexes on PCRE2";
  s += "\n";
  auto by = skipped_by_reason();
  if (!by.empty()) {
    s += "skipped by reason:";
    for (auto& [k, n] : by) s += " " + k + "=" + std::to_string(n);
    s += "\n";
  }
  return s;
}

RulesetInfo info(const Ruleset& rs) {
  RulesetInfo i;
  for (const auto& r : rs.rules) i.rules += r.dead ? 0 : 1;
  for (const auto& c : rs.corrs) i.correlations += c.dead ? 0 : 1;
  for (const auto& g : rs.groups) {
    i.databases += g.dbs.size();
    i.hs_patterns += g.tests.size();
    for (const auto& d : g.dbs) i.hs_bytes += d.db.size_bytes();
  }
  i.pcre_tests = rs.pcres.size();
  i.other_tests = rs.other_tests;
  return i;
}

const std::vector<RuleMeta>& rules(const Ruleset& rs) { return rs.metas; }

std::vector<ExportedPattern> export_patterns(const Ruleset& rs) {
  std::vector<ExportedPattern> out;
  for (const auto& g : rs.groups)
    for (const auto& t : g.tests) out.push_back({{g.product, g.service, g.category}, t.field, t.expression, t.flags});
  return out;
}

}  // namespace halong::detect::sigma
