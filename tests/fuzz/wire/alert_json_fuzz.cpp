// Any bytes in any alert field: the JSON the agent spools and the store keeps must be UTF-8
// that Boost.JSON parses (the collector refuses anything else), and must say what to_json
// says, with each byte outside a well-formed UTF-8 sequence as U+FFFD.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "core/alert.hpp"
#include "core/utf8.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> part;  // the input split at NUL bytes, one piece per field
  for (size_t at = 0;;) {
    size_t nul = in.find('\0', at);
    part.emplace_back(in.substr(at, nul == std::string_view::npos ? std::string_view::npos : nul - at));
    if (nul == std::string_view::npos) break;
    at = nul + 1;
  }
  auto get = [&](size_t i) { return i < part.size() ? part[i] : std::string(); };
  halong::Alert a;
  a.id = get(0);
  a.source = get(1);
  a.src_ip = get(2);
  a.alert.signature = get(3);
  a.alert.category = get(4);
  a.payload_printable = get(5);
  if (part.size() > 6) a.log = halong::LogContext{get(6), size, get(7), get(8)};
  if (part.size() > 9) a.fields[get(9)] = get(10);
  if (part.size() > 11) a.alert.metadata[get(11)] = {get(12)};
  a.timestamp_us = static_cast<int64_t>(size) * 1'000'003 - 5'000'000'000'000'000;
  const std::string out = halong::to_json_string(a);
  if (!halong::is_valid_utf8(out)) std::abort();
  if (out != halong::valid_utf8(boost::json::serialize(halong::to_json(a)))) std::abort();
  boost::system::error_code ec;
  (void)boost::json::parse(out, ec);
  if (ec) std::abort();
  if (halong::valid_utf8(in) != halong::valid_utf8(halong::valid_utf8(in))) std::abort();
  return 0;
}
