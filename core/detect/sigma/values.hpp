// Sigma value handling (internal): wildcard strings as token lists, modifiers that
// transform them, and conversion to Hyperscan regex syntax.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "core/detect/sigma/internal.hpp"

namespace halong::detect::sigma::detail {

struct Tok {
  enum K : uint8_t { lit, star, qmark, dash } k;
  char c;
};
using SStr = std::vector<Tok>;

// Sigma escapes: \* \? \\ are literal; any other backslash is literal; * and ? are wildcards.
SStr parse_sigma_string(std::string_view s);
SStr from_plain(std::string_view s);
bool has_wildcards(const SStr& s);
bool only_stars(const SStr& s);
std::string plain(const SStr& s);

void add_contains(SStr& s);
void add_startswith(SStr& s);
void add_endswith(SStr& s);
void windash(SStr& s);  // '-' and '/' match any of - / en-dash em-dash horizontal-bar
SStr utf16(const SStr& s, bool little_endian, bool bom);

std::string base64(std::string_view in);
std::vector<std::string> base64offset(std::string_view v);

// \A...\z regex (anchors dropped where the string starts/ends with *); literals as \xNN.
std::string to_hs_regex(const SStr& s, bool& anchored_start, bool& anchored_end);

bool parse_number(std::string_view s, double& out);
bool parse_ip(std::string_view s, bool& v6, std::array<uint8_t, 16>& addr);
bool parse_cidr(std::string_view s, IpNet& net);
bool in_net(const IpNet& net, bool v6, const std::array<uint8_t, 16>& addr);

}  // namespace halong::detect::sigma::detail
