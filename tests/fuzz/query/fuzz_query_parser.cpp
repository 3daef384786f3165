// libFuzzer target: parse_alert_query must return a value or an error for any input, never
// crash, hang or throw; a parsed query must satisfy its own invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "collector/api/query_parser.hpp"
#include "collector/store/store_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (bool stats : {false, true}) {
    auto r = halong::collector::api::parse_alert_query(in, stats);
    if (r.ok()) {
      const auto& q = r->query;
      if (q.limit == 0 || q.limit > halong::collector::api::kMaxLimit) std::abort();
      if (q.from_us >= q.to_us) std::abort();
      if (q.src_net && (q.src_net->prefix < 0 || q.src_net->prefix > 128)) std::abort();
      if (!q.cursor.empty()) (void)halong::collector::keys::decode_cursor(q.cursor);
    } else if (r.error().message.empty()) {
      std::abort();
    }
  }
  (void)halong::collector::parse_cidr(in);
  (void)halong::collector::split_alert_id(in);
  return 0;
}
