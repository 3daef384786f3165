#include <catch2/catch.hpp>

#include "collector/app/rulesets.hpp"

using namespace halong;
using namespace halong::collector;

TEST_CASE("a ruleset file that is not UTF-8 is refused whole, naming file:line:column", "[collector][rules][utf8]") {
  // Rulesets reach the agents inside JSON, which is UTF-8: a Latin-1 byte would have to be
  // changed on the way, changing what the rule matches. Refused instead, where it can be mended.
  const std::string good_rule = "alert tcp any any -> any any (msg:\"ok\"; content:\"abc\"; sid:1;)\n";
  RuleFiles files = {{"good.rules", good_rule},
                     {"latin1.rules", good_rule + "alert tcp any any -> any any (msg:\"caf\xE9\"; content:\"x\"; sid:2;)\n"}};
  auto r = validate_ruleset(files);
  INFO(r.text);
  REQUIRE(r.errors == 1);
  REQUIRE_THAT(r.text, Catch::Contains("latin1.rules:2:39: byte 0xE9 is not valid UTF-8"));
  REQUIRE(r.loaded == 1);  // the good file is still checked and reported

  // The same rule written as UTF-8 (or with |e9| in a content) is accepted.
  files[1].second = good_rule + "alert tcp any any -> any any (msg:\"caf\xC3\xA9\"; content:\"x|e9|\"; sid:2;)\n";
  auto ok = validate_ruleset(files);
  INFO(ok.text);
  REQUIRE(ok.errors == 0);
  REQUIRE(ok.loaded == 3);

  auto sigma = validate_ruleset({{"s.yml", "title: t\nlogsource: {product: linux}\ndetection:\n  k: {msg: \"\xFF\"}\n  condition: k\n"}});
  REQUIRE(sigma.errors == 1);
  REQUIRE_THAT(sigma.text, Catch::Contains("s.yml:4:"));
}
