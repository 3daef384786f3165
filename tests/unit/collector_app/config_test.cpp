#include <catch2/catch.hpp>

#include "collector/app/config.hpp"

using namespace halong::collector;

TEST_CASE("collector config parses listen addresses and data dir", "[collector][config]") {
  auto c = load_collector_config_string("data_dir: var\napi:\n  listen: 127.0.0.1:0\ngateway:\n  listen: 0.0.0.0:7443\n",
                                        "collector.yaml", {}, "/srv");
  REQUIRE(c.ok());
  REQUIRE(c->data_dir == "/srv/var");
  REQUIRE(c->api_listen == "127.0.0.1:0");
  auto hp = split_host_port("[::1]:8080");
  REQUIRE(hp.ok());
  REQUIRE(hp->first == "::1");
  REQUIRE(hp->second == 8080);
  REQUIRE_FALSE(split_host_port("host:99999").ok());
}

TEST_CASE("collector refuses plain HTTP on a non-loopback address", "[collector][config]") {
  auto c = load_collector_config_string("api:\n  listen: 0.0.0.0:8080\n", "collector.yaml");
  REQUIRE_FALSE(c.ok());
  REQUIRE_THAT(c.error().message, Catch::Contains("collector.yaml:2: api.listen"));
  REQUIRE_THAT(c.error().message, Catch::Contains("loopback"));
  auto ok = load_collector_config_string("api:\n  listen: 0.0.0.0:8443\n  tls: true\n", "collector.yaml");
  REQUIRE(ok.ok());
}

TEST_CASE("collector config overrides and unknown keys", "[collector][config]") {
  auto c = load_collector_config_string("", "c.yaml", {"api.listen=127.0.0.1:9999", "data_dir=/tmp/x"});
  REQUIRE(c.ok());
  REQUIRE(c->api_listen == "127.0.0.1:9999");
  REQUIRE(c->data_dir == "/tmp/x");
  auto u = load_collector_config_string("api:\n  lisen: 1\n", "c.yaml");
  REQUIRE_FALSE(u.ok());
  REQUIRE_THAT(u.error().message, Catch::Contains("c.yaml:2: api.lisen: unknown key"));
}

TEST_CASE("collector config: the store's memtable memory is configurable and checked", "[collector][config]") {
  auto d = load_collector_config_string("", "c.yaml");
  REQUIRE(d.ok());
  REQUIRE(d->store_memtable_mb == 256);
  auto c = load_collector_config_string("store:\n  memtable_mb: 64\n", "c.yaml");
  REQUIRE(c.ok());
  REQUIRE(c->store_memtable_mb == 64);
  auto bad = load_collector_config_string("log_level: info\nstore:\n  memtable_mb: 4\n", "c.yaml");
  REQUIRE_FALSE(bad.ok());
  REQUIRE_THAT(bad.error().message, Catch::Contains("c.yaml:3: store.memtable_mb"));
  auto unknown = load_collector_config_string("store:\n  memtable: 64\n", "c.yaml");
  REQUIRE_FALSE(unknown.ok());
  REQUIRE_THAT(unknown.error().message, Catch::Contains("store.memtable: unknown key"));
}

TEST_CASE("collector config: the store's disk reserve is configurable and checked", "[collector][config]") {
  auto d = load_collector_config_string("", "c.yaml");
  REQUIRE(d.ok());
  REQUIRE(d->min_free_mb == 256);
  auto c = load_collector_config_string("gateway:\n  listen: 0.0.0.0:7443\n  min_free_mb: 1024\n", "c.yaml");
  REQUIRE(c.ok());
  REQUIRE(c->min_free_mb == 1024);
  auto bad = load_collector_config_string("gateway:\n  listen: 0.0.0.0:7443\n  min_free_mb: 1\n", "c.yaml");
  REQUIRE_FALSE(bad.ok());
  REQUIRE_THAT(bad.error().message, Catch::Contains("c.yaml:3: gateway.min_free_mb"));
}
