// libFuzzer: bytes as a TCP syslog stream, fed in chunks whose sizes come from the input;
// messages never exceed max_message and framing must be the same for any chunking.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/logs/syslog_listener.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t step = 1 + data[0] % 17;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  auto run = [&](size_t chunk) {
    halong::agent::logs::SyslogFramer f(64);
    std::vector<std::string> out;
    auto on = [&](std::string_view t, bool) {
      if (t.size() > 64) __builtin_trap();
      out.emplace_back(t);
    };
    bool ok = true;
    for (size_t i = 0; i < in.size() && ok; i += chunk) ok = f.feed(in.substr(i, chunk), false, on);
    if (ok) f.feed({}, true, on);
    return std::make_pair(ok, out);
  };
  auto a = run(in.size() == 0 ? 1 : in.size());
  auto b = run(step);
  if (a.first && b.first && a.second != b.second) __builtin_trap();
  return 0;
}
