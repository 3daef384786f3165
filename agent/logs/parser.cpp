#include "agent/logs/parser.hpp"

#include <array>
#include <string>

#include "agent/logs/parsers_internal.hpp"

namespace halong::agent::logs {

namespace {
constexpr std::array<std::string_view, 10> kFormats = {"syslog", "auth",         "sshd", "sudo", "auditd",
                                                       "apache", "apache_error", "nginx", "json", "raw"};
}

std::span<const std::string_view> known_formats() { return kFormats; }

Result<std::unique_ptr<Parser>> make_parser(std::string_view format, const ParserOptions& opts) {
  if (format == "syslog" || format == "auth" || format == "sshd" || format == "sudo")
    return make_syslog_parser(format, opts);
  if (format == "apache" || format == "apache_error" || format == "nginx") return make_access_parser(format, opts);
  if (format == "auditd") return make_auditd_parser(opts);
  if (format == "json") return make_json_parser(opts);
  if (format == "raw") return make_raw_parser();
  std::string known;
  for (auto f : kFormats) {
    if (!known.empty()) known += ", ";
    known += f;
  }
  return make_error(ErrorCode::invalid_argument,
                    "unknown log format '" + std::string(format) + "' (known formats: " + known + ")");
}

}  // namespace halong::agent::logs
