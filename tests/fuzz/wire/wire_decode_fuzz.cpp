// Any byte string: decode must return a value or an error, never crash; whatever decodes
// must encode and decode again to the same message kind.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view frame(reinterpret_cast<const char*>(data), size);
  auto m = halong::wire::decode(frame);
  if (m.ok()) {
    auto again = halong::wire::decode(halong::wire::encode(*m));
    if (!again.ok() || again->index() != m->index()) std::abort();
  }
  (void)halong::wire::parse_enrollment_token(frame);
  return 0;
}
