#include "agent/app/cli.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include <spdlog/spdlog.h>

#include "core/logging.hpp"

#include "agent/app/config.hpp"
#include "agent/app/detect.hpp"
#include "agent/app/replay.hpp"
#include "agent/app/run.hpp"
#include "agent/app/ship.hpp"
#include "agent/uplink/enroll.hpp"
#include "core/yaml_config.hpp"

namespace halong::agent {

namespace {

// Prints alerts as EVE-style JSON lines (one alert per line) on stdout.
class JsonLinesSink final : public AlertSink {
 public:
  void emit(Alert&& a) override {
    auto s = to_json_string(a);
    s.push_back('\n');
    std::fwrite(s.data(), 1, s.size(), stdout);
  }
};

int fail(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "halong-agent: %s\n", msg.c_str());
  return code;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"halong-agent: network and log detection for one host (docs/operations.md)"};
  app.require_subcommand(1);
  std::string config_path;
  std::vector<std::string> sets;
  std::string log_level;

  auto add_common = [&](CLI::App* sc) {
    sc->add_option("-c,--config", config_path, "agent configuration file (YAML)");
    sc->add_option("--set", sets, "override a configuration key, e.g. --set stream.midstream=true")
        ->allow_extra_args(false);
    sc->add_option("--log-level", log_level, "trace, debug, info, warn, error (default: config or info)");
  };

  // ---- run ----
  auto* runc = app.add_subcommand("run", "run the agent: capture, read logs, detect, ship alerts (until SIGINT/SIGTERM)");
  add_common(runc);

  // ---- enroll ----
  auto* en = app.add_subcommand("enroll", "enroll this host with the collector (one-time token from the SOC)");
  add_common(en);
  std::string en_collector, en_token;
  en->add_option("--collector", en_collector, "HOST:PORT of the collector's agent gateway")->required();
  en->add_option("--token", en_token, "the enrollment token (halong-collector token create)")->required();

  // ---- check-config ----
  auto* cc = app.add_subcommand("check-config", "check the configuration and the rules it names, then exit");
  add_common(cc);

  // ---- rules check ----
  auto* rules = app.add_subcommand("rules", "rule tools");
  rules->require_subcommand(1);
  auto* rcheck = rules->add_subcommand("check", "load rule files (Suricata *.rules, Sigma *.yml) and report per rule");
  std::vector<std::string> check_paths;
  bool check_verbose = false;
  rcheck->add_option("paths", check_paths, "rule files or directories")->required();
  rcheck->add_flag("-v,--verbose", check_verbose, "list every skipped rule");
  add_common(rcheck);

  // ---- replay ----
  auto* rp = app.add_subcommand("replay", "run pcap and log files through detection; print or send the alerts");
  add_common(rp);
  std::vector<std::string> pcaps, log_files, rule_paths;
  std::string log_format = "syslog";
  bool logs_from_cfg = false, send = false, quiet = false;
  rp->add_option("--pcap", pcaps, "pcap or pcapng file to replay (repeatable)");
  rp->add_option("--log", log_files, "log file to replay (repeatable)");
  rp->add_option("--format", log_format, "format of the --log files (syslog, auth, sshd, sudo, auditd, apache, nginx, json, raw)");
  rp->add_flag("--logs-from-config", logs_from_cfg, "also replay the log files the config's log inputs name");
  rp->add_option("--rules", rule_paths, "rule files or directories (replace the config's rules)");
  rp->add_flag("--send", send, "send the alerts to the configured collector instead of printing them");
  rp->add_flag("-q,--quiet", quiet, "print only the summary");
  std::string send_timeout = "60s";
  rp->add_option("--send-timeout", send_timeout, "how long --send waits for the collector's acks (e.g. 30s, 5m)");

  CLI11_PARSE(app, argc, argv);

  auto cfg = load_agent_config(config_path, sets);
  if (!cfg) return fail(cfg.error().message, 2);
  setup_logging("halong-agent", log_level.empty() ? cfg->log_level : log_level);

  if (en->parsed()) {
    auto colon = en_collector.rfind(':');
    if (colon == std::string::npos) return fail("--collector must be HOST:PORT", 2);
    EnrollOptions eo;
    eo.host = en_collector.substr(0, colon);
    try {
      eo.port = static_cast<uint16_t>(std::stoi(en_collector.substr(colon + 1)));
    } catch (const std::exception&) {
      return fail("--collector must be HOST:PORT", 2);
    }
    eo.token = en_token;
    eo.dir = std::filesystem::path(cfg->data_dir) / "identity";
    eo.hostname = cfg->hostname;
    auto r = enroll(eo);
    if (!r) return fail("enroll: " + r.error().message, 1);
    std::printf("enrolled as agent %s (agency %s); identity in %s. Set collector.address: %s in the config, then start the agent.\n",
                r->agent_id.c_str(), r->agency.c_str(), eo.dir.c_str(), en_collector.c_str());
    return 0;
  }

  if (runc->parsed()) {
    static std::atomic<bool> stop{false};
    struct sigaction sa {};
    sa.sa_handler = [](int) { stop.store(true); };
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    auto st = run_agent(*cfg, stop);
    if (!st) return fail(st.error().message, 1);
    return 0;
  }

  if (cc->parsed()) {
    auto rs = load_rulesets(*cfg);
    if (!rs) return fail(rs.error().message, 2);
    std::fputs(rs->report.c_str(), stdout);
    std::printf("config %s: OK (%zu rules loaded, %zu skipped, %zu errors)\n", cfg->source_file.c_str(), rs->loaded,
                rs->skipped, rs->errors);
    return rs->errors ? 1 : 0;
  }

  if (rcheck->parsed()) {
    auto r = check_rules(check_paths, *cfg, check_verbose);
    std::fputs(r.text.c_str(), stdout);
    return r.errors ? 1 : 0;
  }

  if (rp->parsed()) {
    if (!rule_paths.empty()) {
      cfg->network_rules.clear();
      cfg->log_rules.clear();
      for (const auto& p : rule_paths) {
        // A file goes to its engine; a directory to both (each loads what it knows).
        auto ext = std::filesystem::path(p).extension().string();
        if (ext == ".yml" || ext == ".yaml") cfg->log_rules.push_back(p);
        else if (std::filesystem::is_directory(p)) {
          cfg->network_rules.push_back(p);
          cfg->log_rules.push_back(p);
        } else cfg->network_rules.push_back(p);
      }
    }
    if (pcaps.empty() && log_files.empty() && !logs_from_cfg)
      return fail("replay: nothing to replay: give --pcap FILE, --log FILE or --logs-from-config", 2);
    auto rs = load_rulesets(*cfg);
    if (!rs) return fail(rs.error().message, 2);
    if (rs->errors) spdlog::warn("{} rules did not parse and were skipped (run `halong-agent rules check`)", rs->errors);
    std::vector<ReplayLog> logs;
    if (logs_from_cfg) logs = logs_from_config(*cfg);
    for (const auto& f : log_files) logs.push_back({f, log_format, halong::logs::LogSource{"linux", "", ""}});

    JsonLinesSink print;
    VectorSink keep;
    AlertSink& sink = (send || quiet) ? static_cast<AlertSink&>(keep) : static_cast<AlertSink&>(print);
    auto st = replay(*cfg, *rs, pcaps, logs, sink);
    if (!st) return fail(st.error().message, 1);
    std::fprintf(stderr, "replay: %llu packets, %llu log lines, %llu network alerts, %llu log alerts\n",
                 static_cast<unsigned long long>(st->packets), static_cast<unsigned long long>(st->lines),
                 static_cast<unsigned long long>(st->network_alerts), static_cast<unsigned long long>(st->log_alerts));
    if (send) {
      auto to = config::parse_duration_ms(send_timeout);
      if (!to) return fail("--send-timeout: " + to.error().message, 2);
      auto r = ship_alerts(*cfg, std::move(keep.alerts), std::chrono::milliseconds(*to));
      if (!r) return fail(r.error().message, 1);
      std::fprintf(stderr, "replay: %llu alerts delivered to %s and acknowledged\n",
                   static_cast<unsigned long long>(*r), cfg->collector.address.c_str());
    }
    return 0;
  }
  return 0;
}

}  // namespace halong::agent
