#include "collector/app/cli.hpp"

#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "collector/app/config.hpp"
#include "collector/app/server.hpp"

namespace halong::collector {

namespace {

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("halong-collector");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ [%n] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

int fail(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "halong-collector: %s\n", msg.c_str());
  return code;
}

int serve(const CollectorConfig& c) {
  // Block the stop signals in every thread; this one waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto srv = CollectorServer::start(c);
  if (!srv) return fail(srv.error().message);
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("signal {}: stopping", sig);
  (*srv)->stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"halong-collector: stores and serves the alerts of Halong agents (docs/operations.md)"};
  app.require_subcommand(1);
  std::string config_path;
  std::vector<std::string> sets;
  auto add_common = [&](CLI::App* sc) {
    sc->add_option("-c,--config", config_path, "collector configuration file (YAML)");
    sc->add_option("--set", sets, "override a configuration key, e.g. --set api.listen=127.0.0.1:9000");
  };
  auto* sv = app.add_subcommand("serve", "run the collector until SIGINT/SIGTERM");
  add_common(sv);
  auto* cc = app.add_subcommand("check-config", "check the configuration and exit");
  add_common(cc);

  CLI11_PARSE(app, argc, argv);
  auto cfg = load_collector_config(config_path, sets);
  if (!cfg) return fail(cfg.error().message, 2);
  setup_logging(cfg->log_level);
  if (cc->parsed()) {
    std::printf("config %s: OK\n", cfg->source_file.c_str());
    return 0;
  }
  if (sv->parsed()) return serve(*cfg);
  return 0;
}

}  // namespace halong::collector
