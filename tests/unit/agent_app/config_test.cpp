#include <catch2/catch.hpp>

#include "agent/app/config.hpp"

using namespace halong::agent;

TEST_CASE("agent config parses every section into typed values", "[agent][config]") {
  const char* yaml = R"(
agent:
  id: portal01
  agency: so-tttt
  data_dir: state
collector:
  address: 127.0.0.1:7443
  token: abc
  batch_size: 100
  flush_interval: 50ms
vars:
  address-groups:
    HOME_NET: "[10.20.0.0/16]"
    EXTERNAL_NET: "!$HOME_NET"
  port-groups:
    HTTP_PORTS: [80, 8080]
rules:
  network: [rules/network]
  logs: rules/logs
capture:
  interfaces: [eth0]
  snaplen: 1514
  buffer_size: 64MiB
stream:
  midstream: true
  reassembly: {depth: 2MiB}
logs:
  - paths: [/var/log/auth.log]
    format: auth
    service: auth
spool:
  max_size: 1GiB
  fsync: always
)";
  auto c = load_agent_config_string(yaml, "agent.yaml", {}, "/etc/halong");
  INFO((c.ok() ? std::string() : c.error().message));
  REQUIRE(c.ok());
  REQUIRE(c->id == "portal01");
  REQUIRE(c->agency == "so-tttt");
  REQUIRE(c->data_dir == "/etc/halong/state");
  REQUIRE(c->collector.flush_interval_ms == 50);
  REQUIRE(c->address_vars.at("HOME_NET") == "[10.20.0.0/16]");
  REQUIRE(c->port_vars.at("HTTP_PORTS") == "[80,8080]");
  REQUIRE(c->network_rules == std::vector<std::string>{"/etc/halong/rules/network"});
  REQUIRE(c->log_rules == std::vector<std::string>{"/etc/halong/rules/logs"});
  REQUIRE(c->capture.snaplen == 1514);
  REQUIRE(c->capture.buffer_size == 64ull << 20);
  REQUIRE(c->stream.midstream);
  REQUIRE(c->stream.reassembly_depth == 2ull << 20);
  REQUIRE(c->logs.size() == 1);
  REQUIRE(c->logs[0].format == "auth");
  REQUIRE(c->spool.max_bytes == 1ull << 30);
  REQUIRE(c->spool.fsync == "always");
}

TEST_CASE("agent config reports every error with file:line and key", "[agent][config]") {
  const char* yaml = "agent:\n  log_level: loud\ncollector:\n  address: nohost\ncapture:\n  snaplen: 10\nspool:\n  fsync: sometimes\nlogs:\n  - format: auth\nbogus: 1\n";
  auto c = load_agent_config_string(yaml, "agent.yaml");
  REQUIRE_FALSE(c.ok());
  const auto& m = c.error().message;
  REQUIRE_THAT(m, Catch::Contains("agent.yaml:2: agent.log_level"));
  REQUIRE_THAT(m, Catch::Contains("agent.yaml:4: collector.address"));
  REQUIRE_THAT(m, Catch::Contains("agent.yaml:6: capture.snaplen"));
  REQUIRE_THAT(m, Catch::Contains("agent.yaml:8: spool.fsync"));
  REQUIRE_THAT(m, Catch::Contains("logs[0].paths"));
  REQUIRE_THAT(m, Catch::Contains("agent.yaml:11: bogus: unknown key"));
}

TEST_CASE("config overrides (--set) apply before checking, Suricata style", "[agent][config]") {
  auto c = load_agent_config_string("stream:\n  midstream: false\n", "a.yaml",
                                    {"stream.midstream=true", "vars.address-groups.HOME_NET=[192.168.0.0/16,!192.168.1.1]"});
  REQUIRE(c.ok());
  REQUIRE(c->stream.midstream);
  REQUIRE(c->address_vars.at("HOME_NET") == "[192.168.0.0/16,!192.168.1.1]");
  auto bad = load_agent_config_string("", "a.yaml", {"stream.midstream=perhaps"});
  REQUIRE_FALSE(bad.ok());
  REQUIRE_THAT(bad.error().message, Catch::Contains("stream.midstream"));
  auto noeq = load_agent_config_string("", "a.yaml", {"stream.midstream"});
  REQUIRE_FALSE(noeq.ok());
  REQUIRE_THAT(noeq.error().message, Catch::Contains("KEY=VALUE"));
}
