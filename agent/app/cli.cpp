#include "agent/app/cli.hpp"

#include <CLI/CLI.hpp>

namespace halong::agent {
int run_cli(int argc, char** argv) {
  CLI::App app{"halong-agent: network and log detection for one host"};
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
}  // namespace halong::agent
