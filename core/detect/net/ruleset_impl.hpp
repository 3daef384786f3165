// Internal: the compiled ruleset (rules in evaluation order + rule groups).
#pragma once

#include <unordered_map>

#include "core/detect/hs.hpp"
#include "core/detect/net/rule.hpp"

namespace halong::detect::net {

constexpr uint32_t kNoGroup = 0xffffffffu;

// Point lookup "which rules' address set contains this address": elementary segments of
// all interval endpoints, each with the rules covering it. Used for IP-only rules (IP
// reputation lists) so a new flow costs a binary search, not a walk over every list.
struct IpIndex {
  std::vector<uint32_t> v4_starts;
  std::vector<std::vector<uint32_t>> v4_rules;
  std::vector<u128> v6_starts;
  std::vector<std::vector<uint32_t>> v6_rules;
  void query(const halong::net::IpAddr& a, std::vector<uint32_t>& out) const;
  bool empty() const { return v4_starts.empty() && v6_starts.empty(); }
};

// One rule group: a Hyperscan literal database of the fast patterns of its rules, the
// rules each pattern selects, and the rules without a fast pattern (checked always).
struct Group {
  hs::Database db;                                  // empty when no rule has a fast pattern
  std::vector<std::vector<uint32_t>> pattern_rules;  // pattern id -> rule indices (sorted)
  std::vector<uint32_t> always;                      // sorted rule indices
  // IP-only rules (first packet per flow direction): indexed by their more selective side,
  // or listed when neither side is selective (or the rule is bidirectional).
  IpIndex iponly_by_src, iponly_by_dst;
  std::vector<uint32_t> iponly;
  // Rules without a fast pattern whose pcre Hyperscan can prefilter (HS_FLAG_PREFILTER).
  hs::Database re_db;
  std::vector<uint32_t> re_rules;  // regex id -> rule index
};

// The groups of one protocol class: rules tied to a destination port, to a source port
// (e.g. `$HTTP_PORTS -> any` responses), or to neither.
struct ProtoGroups {
  uint32_t any = kNoGroup;
  std::unordered_map<uint16_t, uint32_t> by_dport, by_sport;
};

struct Ruleset::Impl {
  std::vector<std::unique_ptr<Rule>> rules;  // evaluation order; index = rule id
  std::vector<Group> groups;
  ProtoGroups tcp, udp, other;
  size_t flowbit_count = kReservedFlowbits;
  size_t max_vars = 0;
  std::string cache_key;
  RulesetStats stats;
};

}  // namespace halong::detect::net
