// `halong-agent run`: the long-running agent. Live capture on the configured interfaces,
// tailing of the configured logs, detection, the spool and the uplink, until stopped.
#pragma once

#include <atomic>

#include "agent/app/config.hpp"
#include "core/result.hpp"

namespace halong::agent {

// Runs until `stop` becomes true (the CLI sets it on SIGINT/SIGTERM). Errors at start
// (rules, interfaces, spool, collector settings) are returned before anything runs.
Status run_agent(const AgentConfig& c, std::atomic<bool>& stop);

}  // namespace halong::agent
