// Network detection engine: Suricata/Snort rule language, Hyperscan prefilter, full
// verification of candidates in rule order (see NOTES.md and docs/rules-network.md).
//
// Use:
//   LoadReport report;
//   auto rs = load_rules({"/etc/halong/rules"}, opts, report);   // once per ruleset
//   Matcher m(*rs);                                                // one per thread
//   m.inspect(packet, matches);                                    // per packet
//
// A Ruleset is immutable and shared by all threads; reload = build a new one aside and
// swap the shared_ptr. A Matcher owns its Hyperscan scratch and its per-thread state
// (thresholds); it must not be shared between threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/alert.hpp"
#include "core/packet.hpp"
#include "core/result.hpp"

namespace halong::detect::net {

struct LoadOptions {
  // Rule variables without the '$'. Unset standard names get Suricata's stock defaults
  // (HOME_NET = [192.168.0.0/16,10.0.0.0/8,172.16.0.0/12], EXTERNAL_NET = !$HOME_NET,
  // the *_SERVERS = $HOME_NET, HTTP_PORTS = 80, ...; see default_address_vars()).
  std::map<std::string, std::string> address_vars;
  std::map<std::string, std::string> port_vars;
  // classification.config path (optional). Without it a built-in copy of Suricata's
  // stock classification.config is used; an unknown classtype is then an error either way.
  std::string classification_file;
  // threshold.config text (optional): `suppress gen_id G, sig_id S[, track by_src|by_dst,
  // ip ADDR]` and `threshold|event_filter gen_id G, sig_id S, type T, track X, count N,
  // seconds M` lines. Errors are reported as "<threshold_config_name>:line: message".
  std::string threshold_config;
  std::string threshold_config_name = "threshold.config";
  // Directory for compiled Hyperscan databases, keyed by (ruleset hash, Hyperscan
  // version, CPU features). Empty = no cache. Cache problems never fail a load.
  std::string cache_dir;
};

std::map<std::string, std::string> default_address_vars();
std::map<std::string, std::string> default_port_vars();

struct FileReport {
  std::string path;
  size_t loaded = 0;
  size_t skipped = 0;                           // rules skipped (unsupported keywords)
  std::map<std::string, size_t> skipped_by_keyword;  // a rule counts under each keyword it lacks
  std::vector<std::string> skip_details;        // "file:line: sid N skipped: unsupported keyword 'k'"
  std::vector<std::string> errors;              // "file:line: message"
};

struct LoadReport {
  std::vector<FileReport> files;
  std::vector<std::string> errors;              // errors not tied to a rule file (paths, config)
  // Build figures (filled by a successful load).
  size_t fast_patterns = 0;
  size_t groups = 0;
  size_t database_bytes = 0;
  double compile_ms = 0;
  bool cache_hit = false;

  size_t loaded() const;
  size_t skipped() const;
  size_t error_count() const;
  std::map<std::string, size_t> skipped_by_keyword() const;
  // `rules check` output: per file loaded / skipped by keyword / errors, then totals.
  std::string to_text() const;
  // Same plus one line per skipped rule (file:line, sid, keyword).
  std::string to_text_verbose() const;
};

// The metadata of one loaded rule, as alerts and reports need it.
struct RuleMeta {
  std::string action = "alert";   // alert | drop | reject | pass (drop/reject alert in IDS mode)
  uint32_t gid = 1;
  uint64_t sid = 0;
  uint32_t rev = 0;
  std::string msg;
  std::string classtype;          // short name, e.g. "trojan-activity"
  std::string category;           // classtype description from classification.config
  int priority = 3;               // rule `priority` or the classtype's default
  std::vector<std::string> metadata;    // raw `metadata` entries ("key value")
  std::vector<std::string> references;  // "type,value"
  std::string file;
  size_t line = 0;
  bool noalert = false;           // matches (flowbits etc.) but never alerts
};

struct RulesetStats {
  size_t rules = 0;
  size_t groups = 0;
  size_t fast_patterns = 0;
  size_t no_content_rules = 0;   // checked on every packet of their group
  size_t ip_only_rules = 0;      // checked on the first packet of each flow direction
  size_t pcre_prefiltered = 0;   // rules without a fast pattern whose pcre Hyperscan prefilters
  size_t database_bytes = 0;
  double compile_ms = 0;
  bool cache_hit = false;
};

class Ruleset;

// Loads every *.rules file in `paths` (files, or directories scanned for *.rules, sorted).
// Rules with unsupported keywords are skipped and counted; rules that do not parse are
// errors in the report; neither fails the load. The load fails only when nothing can be
// read (missing path) or the Hyperscan build fails.
Result<std::shared_ptr<const Ruleset>> load_rules(const std::vector<std::string>& paths, const LoadOptions& opts,
                                                  LoadReport& report);
// Same for rules given as text; `name` stands for the file name in messages.
Result<std::shared_ptr<const Ruleset>> load_rules_from_string(const std::string& text, const std::string& name,
                                                              const LoadOptions& opts, LoadReport& report);

class Ruleset {
 public:
  struct Impl;
  explicit Ruleset(std::unique_ptr<Impl> impl);
  ~Ruleset();
  Ruleset(const Ruleset&) = delete;
  Ruleset& operator=(const Ruleset&) = delete;

  size_t size() const;
  const RuleMeta& meta(size_t i) const;     // i < size(), in evaluation order
  const RuleMeta* find_sid(uint64_t sid, uint32_t gid = 1) const;
  RulesetStats stats() const;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

struct Match {
  const RuleMeta* rule = nullptr;
  bool from_stream = false;   // matched in the reassembled stream, not the packet payload
};

struct MatcherOptions {
  size_t max_alerts_per_packet = 15;   // Suricata's packet-alert-max; 0 = default (15)
};

struct MatcherCounters {
  uint64_t packets = 0;
  uint64_t scans = 0;
  uint64_t candidates = 0;
  uint64_t matches = 0;
  uint64_t alerts = 0;
  uint64_t thresholded = 0;   // matches not alerted because of threshold/suppress
  uint64_t alerts_dropped = 0;  // over max_alerts_per_packet
  uint64_t scan_errors = 0;
};

class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const Ruleset> rs, MatcherOptions opts = {});
  ~Matcher();
  Matcher(Matcher&&) noexcept;
  Matcher& operator=(Matcher&&) noexcept;

  // Appends the alerts this packet raises to `out` (in rule order, capped at
  // max_alerts_per_packet). Updates flowbits in p.flow and this matcher's thresholds.
  void inspect(const halong::net::Packet& p, std::vector<Match>& out);

  const MatcherCounters& counters() const;
  const Ruleset& ruleset() const;

  struct State;

 private:
  std::unique_ptr<State> st_;
};

// Alert fields of a rule: sid, gid, rev, msg -> signature, classtype -> category and
// severity (priority), metadata ("key value" -> map), references, engine "suricata".
halong::AlertInfo to_alert_info(const RuleMeta& r);

}  // namespace halong::detect::net
