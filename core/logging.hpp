// Logging set-up shared by the two programs: spdlog to standard error (journald picks it
// up under systemd), one line per event, tagged with the program, quiet at info.
#pragma once

#include <string>

namespace halong {
void setup_logging(const std::string& program, const std::string& level);
}  // namespace halong
