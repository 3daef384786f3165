// The monthly compliance report (GET /api/v1/reports/monthly): per agency, what was
// monitored (its agents and their state), what was detected (counts by severity, engine and
// signature), how fast it was handled (time from an alert to the first analyst action on it
// and to its resolution, from the audit trail), and the state of the audit chain that proves
// the record was not altered (verified when the report is made; head record and hash).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <boost/json.hpp>

#include "collector/api/auth.hpp"
#include "collector/store/alert_store.hpp"
#include "core/result.hpp"

namespace halong::collector {
class AuditLog;
}

namespace halong::collector::api {

struct ReportRequest {
  int year = 0;
  int month = 0;                       // 1..12, UTC
  std::optional<std::string> agency;   // one agency, else every agency the caller sees
};

// "2026-11" -> {2026, 11}; invalid_argument naming the text otherwise.
Result<std::pair<int, int>> parse_month(std::string_view text);
// [first µs of the month, first µs of the next month), UTC.
std::pair<int64_t, int64_t> month_range(int year, int month);

// `agents` is what /api/v1/agents lists (objects with id, agency, state...); may be empty.
Result<boost::json::object> monthly_report(AlertStore& store, AuditLog* audit, const Principal& who,
                                           const ReportRequest& req, const boost::json::array& agents, int64_t now_us);

}  // namespace halong::collector::api
