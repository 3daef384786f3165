#pragma once
// UTF-8 checking for the text Halong puts into JSON. JSON is UTF-8 (RFC 8259), the collector
// refuses a frame that is not (WebSocket text frames and Boost.JSON both check), and log
// lines are whatever bytes a file holds (Latin-1, Windows-1258...). So every JSON text an
// agent or the collector writes replaces each byte that does not belong to a well-formed
// UTF-8 sequence with U+FFFD, the replacement character: one bad byte in a log line must not
// make a batch that the collector refuses on every resend.
#include <cstddef>
#include <string>
#include <string_view>

namespace halong {

// Length of the well-formed UTF-8 sequence starting at p (1..4; at least one byte is
// available), or 0 if the byte at p does not start one (overlong forms, surrogates and
// code points above U+10FFFF are not well formed).
size_t utf8_sequence_length(const unsigned char* p, size_t available);

// Offset of the first byte of s that is not part of a well-formed sequence, or npos.
size_t find_invalid_utf8(std::string_view s);
inline bool is_valid_utf8(std::string_view s) { return find_invalid_utf8(s) == std::string_view::npos; }

// Appends s with every byte outside a well-formed sequence replaced by U+FFFD (EF BF BD).
void append_valid_utf8(std::string& out, std::string_view s);
inline std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  append_valid_utf8(out, s);
  return out;
}

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

}  // namespace halong
