// Helpers shared by the store implementations and the API: JSON forms of triage and
// incidents, the key encoding of the RocksDB layout, the opaque cursor.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/fwd.hpp>

#include "collector/store/alert_store.hpp"

namespace halong::collector {

boost::json::object triage_to_json(const Triage& t);
Result<Triage> triage_from_json(std::string_view text);
boost::json::object incident_to_json(const Incident& i);
Result<Incident> incident_from_json(std::string_view text);

// Splits "<agent>:<seq>" (the agent id may itself contain ':'; the seq is after the last).
Result<std::pair<std::string, uint64_t>> split_alert_id(std::string_view id);

namespace keys {
void put_u16(std::string& out, uint16_t v);
void put_u32(std::string& out, uint32_t v);
void put_u64(std::string& out, uint64_t v);
uint32_t get_u32(const char* p);
uint64_t get_u64(const char* p);
// Time as an order-preserving unsigned (sign bit flipped), big-endian.
void put_time(std::string& out, int64_t us);
int64_t get_time(const char* p);

constexpr size_t kAlertKeyLen = 20;  // time(8) | agent(4) | seq(8)
std::string alert_key(int64_t time_us, uint32_t agent, uint64_t seq);
// The same key written to out[0..kAlertKeyLen) (the store's write path: no allocation).
void alert_key_into(char* out, int64_t time_us, uint32_t agent, uint64_t seq);
struct AlertKey {
  int64_t time_us = 0;
  uint32_t agent = 0;
  uint64_t seq = 0;
};
AlertKey parse_alert_key(std::string_view k);  // k.size() must be kAlertKeyLen

// Opaque cursor: "c1" + hex of the last alert key returned.
std::string encode_cursor(std::string_view alert_key);
Result<std::string> decode_cursor(std::string_view cursor);
}  // namespace keys

}  // namespace halong::collector
