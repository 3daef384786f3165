// Internal: the parsed form of a rule (header sets, match lists) and the parser.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/detect/net/engine.hpp"

struct pcre2_real_code_8;
struct pcre2_real_match_data_8;

namespace halong::detect::net {

using u128 = unsigned __int128;

// A set of addresses: sorted, merged, inclusive intervals per family.
struct AddrSet {
  std::vector<std::pair<uint32_t, uint32_t>> v4;
  std::vector<std::pair<u128, u128>> v6;
  bool contains(const halong::net::IpAddr& a) const;
  bool is_any() const;
  void normalize();
  static AddrSet any();
  AddrSet complement() const;
  void add(const AddrSet& o);
  AddrSet minus(const AddrSet& o) const;
};

struct PortSet {
  std::vector<std::pair<uint32_t, uint32_t>> r;  // inclusive, sorted, merged
  bool contains(uint16_t p) const;
  bool is_any() const;
  size_t count() const;
  void normalize();
  static PortSet any();
  PortSet complement() const;
};

// Resolves variables and parses address / port expressions (lists, negation, ranges).
class VarResolver {
 public:
  VarResolver(std::map<std::string, std::string> addr, std::map<std::string, std::string> port);
  Result<AddrSet> address(std::string_view expr) const;
  Result<PortSet> port(std::string_view expr) const;
  // The address expression with variables substituted (for "does it negate?").
  std::string expand(std::string_view expr, int depth = 0) const;

 private:
  Result<AddrSet> address_rec(std::string_view expr, int depth) const;
  Result<PortSet> port_rec(std::string_view expr, int depth) const;
  std::map<std::string, std::string> addr_, port_;
};

enum class Proto : uint8_t { ip, tcp, udp, icmp, tcp_pkt, tcp_stream, icmpv6, sctp };

// Numeric comparison used by dsize, itype, icode, ttl, ip_proto, bsize.
struct NumCmp {
  enum Op : uint8_t { eq, ne, lt, gt, le, ge, range } op = eq;  // range: lo < x < hi
  int64_t a = 0, b = 0;
  bool test(int64_t x) const;
  int64_t max_value() const;  // upper bound for x (INT64_MAX when unbounded)
};

// A value that is a literal or a byte_extract variable.
struct VarNum {
  int32_t value = 0;
  int8_t var = -1;  // byte_extract index, or -1
};

struct ContentSm {
  std::string bytes;
  std::string lower;  // bytes in lower case (nocase search), filled by the parser
  bool nocase = false, negated = false, rawbytes = false;
  bool has_offset = false, has_depth = false, has_distance = false, has_within = false;
  VarNum offset, depth, distance, within;
  bool startswith = false, endswith = false;
  bool fast_pattern = false, fp_only = false;
  int fp_chop_off = -1, fp_chop_len = 0;
  bool relative() const { return has_distance || has_within; }
};

struct PcreSm {
  std::string source;      // the pattern between the slashes
  std::string flags_text;
  bool negated = false, relative = false;
  uint32_t options = 0;    // PCRE2 compile options
  std::shared_ptr<pcre2_real_code_8> code;
};

enum class Endian : uint8_t { big, little };

struct ByteOpts {
  uint32_t nbytes = 0;
  int32_t offset = 0;
  int8_t offset_var = -1;
  bool relative = false, string = false, dce = false;
  Endian endian = Endian::big;
  int base = 10;
  uint64_t bitmask = 0;
  bool has_bitmask = false;
};

struct ByteTestSm {
  ByteOpts o;
  char op = '=';           // < > = & ^ plus 'l' (<=) 'g' (>=)
  bool negated = false;
  uint64_t value = 0;
  int8_t value_var = -1;
};

struct ByteJumpSm {
  ByteOpts o;
  uint32_t multiplier = 1;
  int32_t post_offset = 0;
  bool align = false, from_beginning = false, from_end = false;
};

struct ByteExtractSm {
  ByteOpts o;
  uint32_t multiplier = 1;
  uint32_t align = 0;
  int8_t index = 0;
};

struct IsDataAtSm {
  VarNum at;
  bool relative = false, negated = false;
};

struct BsizeSm {
  NumCmp cmp;
};

struct Sm {
  enum Kind : uint8_t { content, pcre, byte_test, byte_jump, byte_extract, isdataat, bsize } kind;
  size_t idx;  // into the rule's vector of that kind
};

// Inspection buffers. Today: the packet payload / raw stream. App-layer buffers
// (http.uri, dns.query, tls.sni...) become more entries here, each with its own list and
// its own prefilter databases: the verification code is buffer-agnostic.
enum class BufferId : uint8_t { payload = 0 };

struct BufferList {
  BufferId buffer = BufferId::payload;
  std::vector<Sm> sms;
};

enum class FlowbitCmd : uint8_t { set, unset, toggle, isset, isnotset };
struct FlowbitSm {
  FlowbitCmd cmd;
  std::vector<uint32_t> ids;  // isset/isnotset: ids ORed ('|') or ANDed ('&')
  bool any_of = false;
};

enum class Track : uint8_t { by_src, by_dst, by_rule, by_both };
struct ThresholdSpec {
  enum Type : uint8_t { limit, threshold, both, detection_filter } type = limit;
  Track track = Track::by_src;
  uint32_t count = 1;
  uint32_t seconds = 60;
};

struct SuppressSpec {
  bool has_ip = false;
  Track track = Track::by_src;
  AddrSet ip;
};

struct Rule {
  RuleMeta meta;
  Proto proto = Proto::ip;
  AddrSet src, dst;
  PortSet sport, dport;
  bool bidirectional = false;
  bool src_any = true, dst_any = true, sport_any = true, dport_any = true;

  // flow keyword
  bool flow_established = false, flow_not_established = false, flow_stateless = false;
  bool flow_to_server = false, flow_to_client = false, flow_only_stream = false, flow_no_stream = false;
  bool has_flow = false;

  std::optional<NumCmp> dsize, itype, icode, ttl, ip_proto;
  struct TcpFlags {
    char modifier = '=';  // = exact, + all of, * any of, ! not all of
    uint8_t test = 0, ignore = 0;
  };
  std::optional<TcpFlags> tcp_flags;  // flags / tcp.flags
  std::vector<FlowbitSm> flowbits;
  std::optional<ThresholdSpec> threshold;  // threshold / detection_filter / threshold.config
  std::vector<SuppressSpec> suppress;

  std::vector<BufferList> buffers;  // today at most one: payload
  std::vector<ContentSm> contents;
  std::vector<PcreSm> pcres;
  std::vector<ByteTestSm> byte_tests;
  std::vector<ByteJumpSm> byte_jumps;
  std::vector<ByteExtractSm> byte_extracts;
  std::vector<IsDataAtSm> isdataats;
  std::vector<BsizeSm> bsizes;
  int n_vars = 0;

  bool ip_only = false;          // no payload / packet keywords: once per flow direction
  int fast_content = -1;         // index into contents of the prefilter pattern, -1 = none
  int prefilter_pcre = -1;       // without a fast pattern: index into pcres of a positive pcre
  bool sets_flowbits = false, reads_flowbits = false;
  int priority_rank = 0;
  size_t load_index = 0;         // position in the input (stable ordering)

  bool has_payload() const { return !buffers.empty() && !buffers[0].sms.empty(); }
};

// Flowbit name -> id table shared by all rules of a load. Ids 0..kReservedFlowbits-1 are
// the engine's own per-flow markers: 0/1 = IP-only rules done to server / to client,
// 2 = a TCP flow was already established on an earlier packet.
constexpr uint32_t kReservedFlowbits = 3;
constexpr uint32_t kFlowbitEstablishedSeen = 2;
struct ParseContext {
  const VarResolver* vars = nullptr;
  const std::map<std::string, std::pair<std::string, int>>* classes = nullptr;  // name -> (desc, prio)
  std::map<std::string, uint32_t>* flowbit_ids = nullptr;
};

// Outcome of parsing one rule: a Rule, or the unsupported keywords, or an error message.
struct ParseOutcome {
  std::unique_ptr<Rule> rule;
  std::vector<std::string> unsupported;  // non-empty = skipped
  std::string error;                     // non-empty = rejected (message without file:line)
};

ParseOutcome parse_rule(std::string_view text, const ParseContext& ctx);

// Parses classification.config text: "config classification: name,description,priority".
Result<std::map<std::string, std::pair<std::string, int>>> parse_classification(const std::string& text,
                                                                                const std::string& name);
const std::string& builtin_classification_config();

// Parses a number expression for dsize/itype/...: "N", "<N", ">N", "<=N", ">=N", "!N",
// "!=N", "A<>B", "A-B".
Result<NumCmp> parse_numcmp(std::string_view s);

}  // namespace halong::detect::net
