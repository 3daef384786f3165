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

namespace {
// A bounded number key `section.key`: its default, a good value read back, and an
// out-of-range value refused naming file:line and the key. `prefix` goes before the
// section (other keys), so the line of the bad value is `line`.
void check_bounded_key(const std::string& prefix, const std::string& section, const std::string& key,
                       uint64_t CollectorConfig::*field, uint64_t def, uint64_t good, uint64_t bad, int line) {
  auto d = load_collector_config_string("", "c.yaml");
  REQUIRE(d.ok());
  REQUIRE((*d).*field == def);
  auto c = load_collector_config_string(prefix + section + ":\n  " + key + ": " + std::to_string(good) + "\n", "c.yaml");
  REQUIRE(c.ok());
  REQUIRE((*c).*field == good);
  auto b = load_collector_config_string(prefix + section + ":\n  " + key + ": " + std::to_string(bad) + "\n", "c.yaml");
  REQUIRE_FALSE(b.ok());
  REQUIRE_THAT(b.error().message, Catch::Contains("c.yaml:" + std::to_string(line) + ": " + section + "." + key));
}
}  // namespace

TEST_CASE("collector config: the store's memtable memory is configurable and checked", "[collector][config]") {
  check_bounded_key("log_level: info\n", "store", "memtable_mb", &CollectorConfig::store_memtable_mb, 256, 64, 4, 3);
  auto unknown = load_collector_config_string("store:\n  memtable: 64\n", "c.yaml");
  REQUIRE_FALSE(unknown.ok());
  REQUIRE_THAT(unknown.error().message, Catch::Contains("store.memtable: unknown key"));
}

TEST_CASE("collector config: the store's disk reserve is configurable and checked", "[collector][config]") {
  // Line 2: right under `gateway:`.
  check_bounded_key("", "gateway", "min_free_mb", &CollectorConfig::min_free_mb, 256, 1024, 1, 2);
}
