// Parsing the query string of GET /api/v1/alerts (and /stats, /incidents) into an AlertQuery.
// Every parameter is typed here; an unknown parameter or a bad value is invalid_argument
// naming the parameter. Never throws, whatever the input (fuzzed: tests/fuzz/query).
#pragma once

#include <string_view>

#include "collector/store/alert_store.hpp"

namespace halong::collector::api {

constexpr size_t kDefaultLimit = 50;
constexpr size_t kMaxLimit = 1000;

struct ParsedQuery {
  AlertQuery query;
  StatsRequest stats;  // field=, bucket= (only meaningful for /stats)
};

// `target` is the request target ("/api/v1/alerts?sid=1&limit=5") or just the query part.
// Parameters: limit, cursor, from, to (RFC 3339 or µs since the epoch), sid, agent, agency,
// engine, severity (1..255 or critical|high|medium|low: alerts at least that severe),
// category, src_ip, dest_ip (address or CIDR), port, status, assignee, incident,
// q (text in the signature); for stats also field and bucket (seconds).
Result<ParsedQuery> parse_alert_query(std::string_view target, bool allow_stats_params = false);

}  // namespace halong::collector::api
