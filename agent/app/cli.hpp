#pragma once
namespace halong::agent {
// Parses argv and runs the chosen subcommand; returns the process exit code.
int run_cli(int argc, char** argv);
}  // namespace halong::agent
