// Small string helpers shared by the parsers (internal to agent/logs).
#pragma once

#include <cstdint>
#include <string_view>

namespace halong::agent::logs::detail {

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

inline bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

inline bool consume(std::string_view& s, std::string_view p) {
  if (!starts_with(s, p)) return false;
  s.remove_prefix(p.size());
  return true;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Next space-separated token (skips leading spaces); empty when none.
inline std::string_view token(std::string_view& s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  size_t n = s.find(' ');
  std::string_view t = s.substr(0, n);
  s.remove_prefix(n == std::string_view::npos ? s.size() : n);
  return t;
}

// Parses exactly n digits (n > 0) from the front.
inline bool take_digits(std::string_view& s, size_t n, int& out) {
  if (s.size() < n) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!is_digit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  s.remove_prefix(n);
  return true;
}

// Unsigned decimal of 1..max_digits digits.
inline bool take_uint(std::string_view& s, size_t max_digits, uint64_t& out) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < s.size() && i < max_digits && is_digit(s[i])) v = v * 10 + uint64_t(s[i++] - '0');
  if (i == 0) return false;
  out = v;
  s.remove_prefix(i);
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
inline int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

inline void civil_from_days(int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yy + (m <= 2));
}

// "Jan".."Dec" -> 1..12, else 0.
inline int month_from_abbrev(std::string_view s) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() < 3) return 0;
  for (int i = 0; i < 12; ++i)
    if (s.substr(0, 3) == kMonths[i]) return i + 1;
  return 0;
}

inline int64_t to_us(int64_t days, int h, int mi, int sec) {
  return ((days * 86400) + h * 3600 + mi * 60 + sec) * 1000000LL;
}

}  // namespace halong::agent::logs::detail
