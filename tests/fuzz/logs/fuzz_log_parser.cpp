// libFuzzer: bytes -> lines -> the HALONG_FUZZ_FORMAT parser (+ derived events, flush).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/logs/parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto p = halong::agent::logs::make_parser(HALONG_FUZZ_FORMAT);
  if (!p) __builtin_trap();
  halong::logs::LogEvent ev;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    (*p)->parse(line, ev);
    for (const auto& [k, v] : ev.fields)
      if (k.empty() && v.size() > size) __builtin_trap();  // a field can never outgrow the input
    while ((*p)->next_derived(ev)) {
    }
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  }
  (*p)->flush();
  while ((*p)->next_derived(ev)) {
  }
  return 0;
}
