// halong-collector: argument parsing lives in halong_collector_lib
// (collector/app/cli.cpp); this file only hands over.
#include "collector/app/cli.hpp"

int main(int argc, char** argv) { return halong::collector::run_cli(argc, argv); }
