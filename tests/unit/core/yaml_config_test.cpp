#include <catch2/catch.hpp>

#include "core/yaml_config.hpp"

using namespace halong;

TEST_CASE("config errors name file, line and key path", "[core][config]") {
  auto doc = config::load_string("capture:\n  snaplen: lots\n  promisc: maybe\n  timeout: 5x\n", "agent.yaml");
  REQUIRE(doc.ok());
  config::Errors errs("agent.yaml");
  uint64_t snaplen = 65535, timeout = 0;
  bool promisc = false;
  auto cap = (*doc)["capture"];
  config::get_uint(cap, "snaplen", "capture", snaplen, errs, 64, 262144);
  config::get_bool(cap, "promisc", "capture", promisc, errs);
  config::get_duration_ms(cap, "timeout", "capture", timeout, errs);
  REQUIRE(errs.list().size() == 3);
  REQUIRE_THAT(errs.list()[0], Catch::StartsWith("agent.yaml:2: capture.snaplen"));
  REQUIRE_THAT(errs.list()[1], Catch::StartsWith("agent.yaml:3: capture.promisc"));
  REQUIRE_THAT(errs.list()[2], Catch::StartsWith("agent.yaml:4: capture.timeout"));
  REQUIRE(snaplen == 65535);  // a rejected value leaves the default, never a clamp
}

TEST_CASE("unknown keys are reported", "[core][config]") {
  auto doc = config::load_string("a: 1\nsnaplenn: 3\n", "x.yaml");
  REQUIRE(doc.ok());
  config::Errors errs("x.yaml");
  config::check_known_keys(*doc, "", {"a", "snaplen"}, errs);
  REQUIRE(errs.list().size() == 1);
  REQUIRE_THAT(errs.list()[0], Catch::Contains("x.yaml:2: snaplenn: unknown key"));
}

TEST_CASE("YAML syntax errors carry line and column", "[core][config]") {
  auto doc = config::load_string("a: [1, 2\nb: 3\n", "bad.yaml");
  REQUIRE_FALSE(doc.ok());
  REQUIRE_THAT(doc.error().message, Catch::StartsWith("bad.yaml:"));
}

TEST_CASE("durations and sizes parse with units", "[core][config]") {
  REQUIRE(*config::parse_duration_ms("250ms") == 250);
  REQUIRE(*config::parse_duration_ms("30s") == 30000);
  REQUIRE(*config::parse_duration_ms("2h") == 7'200'000);
  REQUIRE(*config::parse_duration_ms("10") == 10000);
  REQUIRE_FALSE(config::parse_duration_ms("ten").ok());
  REQUIRE(*config::parse_size("64MiB") == 64ull << 20);
  REQUIRE(*config::parse_size("100MB") == 100'000'000ull);
  REQUIRE_FALSE(config::parse_size("1TB").ok());
}

TEST_CASE("a NUL byte or a stray comma is refused, not looped on", "[core][config]") {
  auto nul = config::load_string(std::string("a: 1\nb: \0\n", 10), "nul.yaml");
  REQUIRE_FALSE(nul.ok());
  REQUIRE_THAT(nul.error().message, Catch::Contains("nul.yaml:2"));
  auto comma = config::load_string(",", "comma.yaml");
  REQUIRE_FALSE(comma.ok());
  REQUIRE_THAT(comma.error().message, Catch::StartsWith("comma.yaml"));
  auto two = config::load_string("a: 1\n---\nb: 2\n", "two.yaml");
  REQUIRE_FALSE(two.ok());
  REQUIRE(config::load_string("a: 1\n", "one.yaml").ok());
  REQUIRE(config::load_string("", "empty.yaml").ok());
}
