#include "collector/app/cli.hpp"

#include <CLI/CLI.hpp>

namespace halong::collector {
int run_cli(int argc, char** argv) {
  CLI::App app{"halong-collector: stores and serves the alerts of Halong agents"};
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
}  // namespace halong::collector
