#include "collector/app/cli.hpp"

#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "core/logging.hpp"

#include "collector/app/config.hpp"
#include "collector/app/audit_inbox.hpp"
#include "collector/app/rulesets.hpp"
#include "collector/app/server.hpp"
#include "collector/api/users.hpp"
#include "collector/store/audit_log.hpp"
#include "collector/store/rocks_store.hpp"
#include <boost/json.hpp>
#include <filesystem>
#include <iostream>
#include "collector/gateway/certs.hpp"
#include "collector/gateway/registry.hpp"
#include "core/alert.hpp"
#include "core/yaml_config.hpp"

namespace halong::collector {

namespace {

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Records a change made from the command line in the audit trail (through the inbox the
// running collector drains); a change that cannot be recorded is reported, not hidden.
void audit_cli(const std::string& data_dir, const std::string& action, const std::string& target,
               boost::json::value before, boost::json::value after) {
  if (auto s = queue_audit(data_dir, now_us(), cli_actor(), action, target, std::move(before), std::move(after)); !s)
    std::fprintf(stderr, "warning: the change was made but not recorded in the audit trail: %s\n", s.error().message.c_str());
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

  // ---- tokens ----
  auto* tok = app.add_subcommand("token", "enrollment tokens");
  tok->require_subcommand(1);
  auto* tcreate = tok->add_subcommand("create", "create a one-time enrollment token for an agency and print it");
  add_common(tcreate);
  std::string agency, ttl = "24h";
  uint32_t uses = 1;
  tcreate->add_option("--agency", agency, "the agency the enrolled agents belong to")->required();
  tcreate->add_option("--ttl", ttl, "how long the token can be used (e.g. 24h, 7d)");
  tcreate->add_option("--uses", uses, "how many agents may enroll with it");
  auto* tlist = tok->add_subcommand("list", "list enrollment tokens");
  add_common(tlist);
  auto* trevoke = tok->add_subcommand("revoke", "revoke an enrollment token");
  add_common(trevoke);
  std::string token_id;
  trevoke->add_option("id", token_id, "token id (from token list)")->required();

  // ---- agents ----
  auto* ag = app.add_subcommand("agent", "enrolled agents");
  ag->require_subcommand(1);
  auto* alist = ag->add_subcommand("list", "list enrolled agents");
  add_common(alist);
  auto* arevoke = ag->add_subcommand("revoke", "revoke an agent: it is disconnected and refused from now on");
  add_common(arevoke);
  std::string agent_id;
  arevoke->add_option("id", agent_id, "agent id (from agent list)")->required();

  // ---- rules ----
  auto* rl = app.add_subcommand("rules", "rulesets pushed to every agent");
  rl->require_subcommand(1);
  auto* rpush = rl->add_subcommand("push", "validate a ruleset (Suricata *.rules and Sigma *.yml), store it versioned, push it to the agents");
  add_common(rpush);
  std::vector<std::string> push_paths;
  rpush->add_option("paths", push_paths, "rule files or directories")->required();

  // ---- audit ----
  auto* au = app.add_subcommand("audit", "the hash-chained audit trail");
  au->require_subcommand(1);
  auto* averify = au->add_subcommand("verify", "walk the audit chain and report the first broken link");
  add_common(averify);

  // ---- users ----
  auto* us = app.add_subcommand("user", "people who use the API and the web page");
  us->require_subcommand(1);
  auto* uadd = us->add_subcommand("add", "add a user (the password is read from standard input)");
  add_common(uadd);
  std::string uname, urole = "analyst";
  std::vector<std::string> uagencies;
  uadd->add_option("name", uname, "user name")->required();
  uadd->add_option("--role", urole, "admin, analyst or auditor");
  uadd->add_option("--agency", uagencies, "agency the user may see (repeatable; none = all agencies)");

  CLI11_PARSE(app, argc, argv);
  auto cfg = load_collector_config(config_path, sets);
  if (!cfg) return fail(cfg.error().message, 2);
  setup_logging("halong-collector", cfg->log_level);
  if (cc->parsed()) {
    std::printf("config %s: OK\n", cfg->source_file.c_str());
    return 0;
  }
  if (sv->parsed()) return serve(*cfg);
  if (rpush->parsed()) {
    auto files = read_rule_files(push_paths);
    if (!files) return fail(files.error().message, 2);
    auto rep = validate_ruleset(*files);
    std::fputs(rep.text.c_str(), stdout);
    if (rep.errors) {
      std::printf("ruleset refused: %zu errors (nothing stored; agents keep their rules)\n", rep.errors);
      return 1;
    }
    auto v = store_ruleset(cfg->data_dir, *files);
    if (!v) return fail(v.error().message);
    boost::json::array names;
    for (const auto& f : *files) names.emplace_back(f.first);
    audit_cli(cfg->data_dir, "ruleset.push", *v, nullptr,
              boost::json::object{{"version", *v}, {"loaded", rep.loaded}, {"skipped", rep.skipped}, {"files", names}});
    std::printf("ruleset %s stored (%zu rules loaded, %zu skipped); the running collector pushes it to every agent\n",
                v->c_str(), rep.loaded, rep.skipped);
    return 0;
  }
  if (averify->parsed()) {
    auto v = verify_audit_log((std::filesystem::path(cfg->data_dir) / "store").string());
    if (!v) return fail(v.error().message);
    if (v->ok) {
      std::printf("audit trail intact: %llu records verified\n", static_cast<unsigned long long>(v->records));
      return 0;
    }
    std::printf("audit trail BROKEN at record %llu: %s (%llu records checked)\n",
                static_cast<unsigned long long>(v->broken_seq), v->reason.c_str(),
                static_cast<unsigned long long>(v->records));
    return 1;
  }
  if (uadd->parsed()) {
    auto role = api::parse_role(urole);
    if (!role) return fail("--role must be admin, analyst or auditor", 2);
    std::string password;
    std::getline(std::cin, password);
    auto store = RocksStore::open((std::filesystem::path(cfg->data_dir) / "store").string());
    if (!store) return fail(store.error().message + " (stop the collector first: the store is opened for writing)");
    auto now = [] {
      return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
    api::UserDirectory users(**store, now);
    std::optional<std::vector<std::string>> ag;
    if (!uagencies.empty()) ag = uagencies;
    auto u = users.add_user(uname, password, *role, ag);
    if (!u) return fail(u.error().message);
    AuditLog audit(**store);
    boost::json::object after{{"user", uname}, {"role", urole}};
    (void)audit.append(now(), "cli", "user.add", uname, nullptr, after);
    std::printf("user %s added (%s)\n", uname.c_str(), urole.c_str());
    return 0;
  }
  if (tcreate->parsed() || tlist->parsed() || trevoke->parsed() || alist->parsed() || arevoke->parsed()) {
    auto reg = Registry::open(cfg->data_dir);
    if (!reg) return fail(reg.error().message);
    if (tcreate->parsed()) {
      auto cert = ensure_server_certificate(cfg->data_dir);
      if (!cert) return fail(cert.error().message);
      auto d = config::parse_duration_ms(ttl);
      if (!d) return fail("--ttl: " + d.error().message, 2);
      auto t = (*reg)->create_token(agency, std::chrono::seconds(*d / 1000), uses, cert->fingerprint_sha256);
      if (!t) return fail(t.error().message);
      std::string tid;
      if (auto ts = (*reg)->tokens(); ts && !ts->empty())
        tid = std::max_element(ts->begin(), ts->end(), [](const auto& a, const auto& b) {
                return a.created_us < b.created_us;
              })->id;
      audit_cli(cfg->data_dir, "enroll_token.create", tid, nullptr,
                boost::json::object{{"agency", agency}, {"ttl", ttl}, {"uses", uses}});
      std::printf("%s\n", t->c_str());
      std::fprintf(stderr, "token for agency '%s', valid %s, %u use(s). On the host: halong-agent enroll --collector HOST:PORT --token <token>\n",
                   agency.c_str(), ttl.c_str(), uses);
      return 0;
    }
    if (tlist->parsed()) {
      auto ts = (*reg)->tokens();
      if (!ts) return fail(ts.error().message);
      std::printf("%-14s %-20s %-6s %-8s %s\n", "ID", "AGENCY", "USES", "REVOKED", "EXPIRES");
      for (const auto& t : *ts)
        std::printf("%-14s %-20s %u/%-4u %-8s %s\n", t.id.c_str(), t.agency.c_str(), t.uses, t.uses_allowed,
                    t.revoked ? "yes" : "no", format_timestamp(t.expires_us).c_str());
      return 0;
    }
    if (trevoke->parsed()) {
      auto r = (*reg)->revoke_token(token_id);
      if (!r) return fail(r.error().message);
      audit_cli(cfg->data_dir, "enroll_token.revoke", token_id, nullptr, nullptr);
      std::printf("token %s revoked\n", token_id.c_str());
      return 0;
    }
    if (alist->parsed()) {
      auto as = (*reg)->agents();
      if (!as) return fail(as.error().message);
      std::printf("%-20s %-20s %-30s %-8s %s\n", "ID", "AGENCY", "HOSTNAME", "REVOKED", "ENROLLED");
      for (const auto& a : *as)
        std::printf("%-20s %-20s %-30s %-8s %s\n", a.id.c_str(), a.agency.c_str(), a.hostname.c_str(),
                    a.revoked ? "yes" : "no", format_timestamp(a.enrolled_us).c_str());
      return 0;
    }
    if (arevoke->parsed()) {
      auto r = (*reg)->revoke_agent(agent_id);
      if (!r) return fail(r.error().message);
      audit_cli(cfg->data_dir, "agent.revoke", agent_id, boost::json::object{{"revoked", false}},
                boost::json::object{{"revoked", true}});
      std::printf("agent %s revoked; a running collector disconnects it within a second\n", agent_id.c_str());
      return 0;
    }
  }
  return 0;
}

}  // namespace halong::collector
