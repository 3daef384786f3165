// Internal representation of a compiled Sigma ruleset (not part of the public API).
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/detect/hs.hpp"
#include "core/detect/sigma/engine.hpp"

namespace halong::detect::sigma::detail {

// ---- leaves: one test on one field ----
enum class LeafKind : uint8_t {
  hs,         // string test compiled into Hyperscan (hs_id)
  pcre,       // regex Hyperscan refused: run by PCRE2 on the field
  empty,      // field present and ""
  null,       // field absent
  exists,     // field present (any value); `negate` for exists: false
  numeric,    // lt/lte/gt/gte against a number
  cidr,       // field parses as an IP inside the network
  fieldref,   // field equals another field's value
  constant,   // always `negate ? false : true` (e.g. an empty keyword list)
};

struct IpNet {
  bool v6 = false;
  std::array<uint8_t, 16> addr{};
  int prefix = 0;
};

struct Leaf {
  LeafKind kind = LeafKind::constant;
  bool negate = false;     // `neq`, exists: false
  std::string field;       // "" = raw line
  uint32_t hs_id = 0;      // kind hs: index into Group::tests (per group)
  std::string expr;        // kind hs / pcre: the expression (kept for the report and export)
  unsigned hs_flags = 0;   // kind hs: HS_FLAG_*; kind pcre: PCRE2 options
  // numeric
  char op = 0;             // '<' lt, 'l' lte, '>' gt, 'g' gte
  double number = 0;
  // cidr
  IpNet net;
  // fieldref
  std::string ref_field;
  bool cased = false;
  // pcre
  uint32_t pcre_index = 0;  // into Ruleset::pcres
};

// ---- boolean expression over leaves (a DAG stored per rule) ----
enum class Op : uint8_t { leaf, and_, or_, not_, at_least, constant };
struct Node {
  Op op = Op::constant;
  bool value = false;            // constant
  uint32_t leaf = 0;             // Op::leaf: index into Rule::leaves
  uint32_t threshold = 0;        // Op::at_least
  std::vector<uint32_t> kids;
};

struct Rule {
  RuleMeta meta;
  std::vector<Leaf> leaves;
  std::vector<Node> nodes;
  uint32_t root = 0;
  uint32_t group = 0;             // logsource group
  bool always_evaluate = false;   // may match without any Hyperscan test matching
  size_t filter_leaf_start = 0;   // leaves from this index on were added by a Sigma filter (build time)
  size_t entry = 0;               // LoadReport entry
  bool dead = false;              // skipped at build (Hyperscan refused one of its tests): never evaluated
  bool standalone = true;         // emits its own Match (false when only a correlation input)
  std::vector<uint32_t> correlations;  // correlation indexes fed by this rule
};

// ---- correlation ----
enum class CorrType : uint8_t { event_count, value_count, temporal, temporal_ordered };
struct Correlation {
  RuleMeta meta;
  CorrType type = CorrType::event_count;
  // inputs in `rules:` order: (is a correlation, index into Ruleset::rules or ::corrs)
  std::vector<std::pair<bool, uint32_t>> inputs;
  std::vector<std::string> group_by;   // as written (alias names or field names)
  std::vector<std::vector<std::string>> group_fields;  // [input position][group_by index] -> event field
  std::vector<std::string> value_fields;  // value_count: condition.field (list = tuple)
  int64_t timespan_us = 0;
  uint64_t gte = 1;        // fires when count >= gte (gt N is stored as gte N+1)
  size_t n_inputs = 0;
  bool standalone = true;  // false when itself referenced by another correlation (unless generate)
  bool generate = false;   // `generate: true`: its inputs keep their own alerts
  bool dead = false;       // lost an input at build: never fed
  size_t entry = 0;        // LoadReport entry
  std::vector<uint32_t> correlations;  // dependents
};

// ---- per logsource: the Hyperscan databases of its fields ----
struct FieldDb {
  std::string field;          // "" = raw line
  hs::Database db;
  std::vector<uint32_t> ids;  // pattern ids (into Group::tests) compiled in this db
};

struct HsTest {
  std::string field;
  std::string expression;
  unsigned flags = 0;
  std::vector<uint32_t> rules;  // rules using this test
};

struct Group {
  std::string product, service, category;  // the rules' logsource keys ("" = not set)
  std::vector<HsTest> tests;
  std::vector<FieldDb> dbs;
  std::vector<uint32_t> rules;              // all rules of this group
  std::vector<uint32_t> always;             // rules evaluated on every event of the group
};

struct PcreDeleter {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};

struct PcreTest {
  std::unique_ptr<pcre2_code, PcreDeleter> code;
  std::string pattern;
};

}  // namespace halong::detect::sigma::detail

namespace halong::detect::sigma {

class Ruleset {
 public:
  std::vector<detail::Rule> rules;
  std::vector<detail::Correlation> corrs;
  std::vector<detail::Group> groups;
  std::vector<detail::PcreTest> pcres;
  std::vector<RuleMeta> metas;  // rules then correlations (for rules())
  hs::Scratch proto;            // prototype scratch fitting every database
  LoadOptions opts;
  size_t max_tests = 0;         // largest Group::tests
  size_t other_tests = 0;
};

}  // namespace halong::detect::sigma
