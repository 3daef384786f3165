// Constructors of the concrete parsers (internal to agent/logs; use make_parser()).
#pragma once

#include <memory>
#include <string_view>

#include "agent/logs/parser.hpp"

namespace halong::agent::logs {

std::unique_ptr<Parser> make_syslog_parser(std::string_view name, const ParserOptions& opts);
std::unique_ptr<Parser> make_access_parser(std::string_view name, const ParserOptions& opts);
std::unique_ptr<Parser> make_auditd_parser(const ParserOptions& opts);
std::unique_ptr<Parser> make_json_parser(const ParserOptions& opts);
std::unique_ptr<Parser> make_raw_parser();

}  // namespace halong::agent::logs
