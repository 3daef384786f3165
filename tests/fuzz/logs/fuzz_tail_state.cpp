// libFuzzer: bytes as <state_dir>/tail.state -> load_tail_state: an error or a state, never a crash.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "agent/logs/tail_state.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/halong-fuzz-tail-state-" + std::to_string(::getpid());
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto st = halong::agent::logs::load_tail_state(path);
  if (st.ok() && *st) {
    // what loads must save and load back the same
    auto saved = halong::agent::logs::save_tail_state(path, **st, false);
    if (!saved.ok()) __builtin_trap();
    auto again = halong::agent::logs::load_tail_state(path);
    if (!again.ok() || !*again || (*again)->files.size() != (**st).files.size() ||
        (*again)->app_state != (**st).app_state)
      __builtin_trap();
  }
  return 0;
}
