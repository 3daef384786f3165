// Sending a finished set of alerts (replay --send) through the agent's spool and uplink,
// waiting for the collector's acknowledgement of every one.
#pragma once

#include <chrono>
#include <vector>

#include "agent/app/config.hpp"
#include "agent/uplink/uplink.hpp"
#include "core/alert.hpp"

namespace halong::agent {

// Uplink options from the agent config (collector address, token, trust, spool).
Result<UplinkOptions> uplink_options(const AgentConfig& c);

// Spools the alerts, ships them and waits until all are acknowledged or `timeout`
// passes. Returns how many were delivered. Errors name the collector and the cause
// (refused token, not reachable after retries).
Result<uint64_t> ship_alerts(const AgentConfig& c, std::vector<Alert> alerts, std::chrono::milliseconds timeout);

}  // namespace halong::agent
