// halong-agent: argument parsing lives in halong_agent_lib (agent/app/cli.cpp) so that
// tests can drive every command; this file only hands over.
#include "agent/app/cli.hpp"

int main(int argc, char** argv) { return halong::agent::run_cli(argc, argv); }
