#include <chrono>
#include <filesystem>
#include <fstream>

#include "helpers.hpp"

using namespace sigma_test;
namespace fs = std::filesystem;

namespace {

LoadReport load_text(const std::string& text, std::shared_ptr<const Ruleset>* out = nullptr) {
  LoadReport rep;
  auto rs = load_sigma_from_string(text, "r.yml", rep);
  REQUIRE(rs.ok());
  if (out) *out = *rs;
  return rep;
}

}  // namespace

TEST_CASE("a rule that cannot be honoured is skipped with reason and file:line, others still load", "[sigma][loader]") {
  std::shared_ptr<const Ruleset> rs;
  auto rep = load_text(R"(title: good
logsource:
    product: linux
detection:
    k:
        - 'good-needle'
    condition: k
---
title: placeholder
logsource:
    product: linux
detection:
    sel:
        User|expand: '%Admins%'
    other:
        - 'placeholder-needle'
    condition: sel or other
---
title: aggregation
logsource:
    product: linux
detection:
    sel:
        A: x
    condition: sel | count() by B > 3
---
title: undefined
logsource:
    product: linux
detection:
    sel:
        A: x
    condition: sel and filter
---
title: unknown modifier
logsource:
    product: linux
detection:
    sel:
        A|frobnicate: x
    condition: sel
)",
                       &rs);
  REQUIRE(rep.loaded == 1);
  REQUIRE(rep.skipped == 4);
  REQUIRE(rep.entries[1].reason_kind == "modifier:expand");
  REQUIRE_THAT(rep.entries[1].reason, Catch::StartsWith("r.yml:14:"));
  REQUIRE(rep.entries[2].reason_kind == "condition:aggregation");
  REQUIRE_THAT(rep.entries[2].reason, Catch::StartsWith("r.yml:25:"));
  REQUIRE(rep.entries[3].reason_kind == "condition:undefined-identifier");
  REQUIRE(rep.entries[4].reason_kind == "modifier:frobnicate");
  REQUIRE_THAT(rep.entries[4].reason, Catch::StartsWith("r.yml:40:"));
  auto text = rep.to_text();
  REQUIRE_THAT(text, Catch::Contains("r.yml:1: loaded: good"));
  REQUIRE_THAT(text, Catch::Contains("1 rules loaded, 4 skipped"));
  // never half-applied: the skipped rule's other branch does not fire
  Matcher m(rs);
  Ev e = ev({}, "placeholder-needle good-needle");
  e.src = {"linux", "", ""};
  REQUIRE(titles(m, e) == std::vector<std::string>{"good"});
}

TEST_CASE("malformed YAML is a file error with its line, never a crash", "[sigma][loader]") {
  auto rep = load_text("title: x\ndetection: [unclosed\n  : :\n");
  REQUIRE(rep.file_errors.size() == 1);
  REQUIRE_THAT(rep.file_errors[0], Catch::StartsWith("r.yml:"));
  REQUIRE(rep.loaded == 0);
  rep = load_text("- just\n- a list\n");
  REQUIRE(rep.file_errors.size() == 1);
  rep = load_text("title: no detection\nlogsource:\n    product: linux\n");
  REQUIRE(rep.skipped == 1);
  REQUIRE(rep.entries[0].reason_kind == "rule:detection");
  rep = load_text(std::string("title: bin\0\xff\xfe garbage", 21));
  REQUIRE(rep.loaded == 0);
}

TEST_CASE("a YAML alias bomb is refused quickly with a clear error", "[sigma][loader][bomb]") {
  std::string bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  const char* names = "abcdefghij";
  for (int i = 1; i < 10; ++i) {
    bomb += std::string(1, names[i]) + ": &" + names[i] + " [";
    for (int k = 0; k < 9; ++k) bomb += std::string(k ? "," : "") + "*" + names[i - 1];
    bomb += "]\n";
  }
  bomb += "title: bomb\ndetection:\n    k: *j\n    condition: k\n";
  auto t0 = std::chrono::steady_clock::now();
  auto rep = load_text(bomb);
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(rep.loaded == 0);
  REQUIRE(rep.file_errors.size() == 1);
  REQUIRE_THAT(rep.file_errors[0], Catch::Contains("too large or too deeply nested"));
  REQUIRE(secs < 5.0);
}

TEST_CASE("inputs that make yaml-cpp loop forever are refused: control bytes, stray top-level commas",
          "[sigma][loader][bomb]") {
  for (std::string text : {std::string(","), std::string("\"a\",\n"), std::string("[a]\n,\n"),
                           std::string("title: x\0\0\0\ndetection: k\n", 25)}) {
    auto rep = load_text(text);
    REQUIRE(rep.loaded == 0);
    REQUIRE(rep.file_errors.size() == 1);
  }
}

TEST_CASE("deeply nested YAML is refused", "[sigma][loader][bomb]") {
  std::string deep = "title: deep\ndetection:\n    k: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  auto rep = load_text(deep);
  REQUIRE(rep.loaded == 0);
  REQUIRE(rep.file_errors.size() == 1);
}

TEST_CASE("oversized rule files are refused", "[sigma][loader]") {
  LoadReport rep;
  LoadOptions o;
  o.max_file_bytes = 100;
  auto rs = load_sigma_from_string(std::string(200, '#'), "big.yml", rep, o);
  REQUIRE(rs.ok());
  REQUIRE(rep.file_errors.size() == 1);
  REQUIRE_THAT(rep.file_errors[0], Catch::Contains("over the limit"));
}

TEST_CASE("load_sigma walks directories recursively and reports a missing path", "[sigma][loader]") {
  auto dir = fs::temp_directory_path() / ("halong_sigma_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "sub");
  std::ofstream(dir / "a.yml") << rule("    k:\n        - 'x'\n    condition: k\n");
  std::ofstream(dir / "sub" / "b.yaml") << rule("    k:\n        - 'y'\n    condition: k\n");
  std::ofstream(dir / "sub" / "notes.txt") << "not a rule";
  LoadReport rep;
  auto rs = load_sigma({dir.string()}, rep);
  REQUIRE(rs.ok());
  REQUIRE(rep.files == 2);
  REQUIRE(rep.loaded == 2);
  REQUIRE(info(**rs).rules == 2);
  LoadReport rep2;
  auto bad = load_sigma({(dir / "nope").string()}, rep2);
  REQUIRE_FALSE(bad.ok());
  REQUIRE(bad.error().code == halong::ErrorCode::not_found);
  fs::remove_all(dir);
}

TEST_CASE("identical string tests are compiled once per logsource", "[sigma][loader]") {
  auto rs = load_ok(R"(title: a
logsource:
    product: linux
detection:
    k:
        - 'same'
    condition: k
---
title: b
logsource:
    product: linux
detection:
    k:
        - 'same'
    condition: k
)");
  REQUIRE(info(*rs).hs_patterns == 1);
  Matcher m(rs);
  Ev e = ev({}, "the same");
  e.src = {"linux", "", ""};
  REQUIRE(titles(m, e).size() == 2);
}

TEST_CASE("the shipped rules under rules/logs all load", "[sigma][rules]") {
  LoadReport rep;
  auto rs = load_sigma({std::string(HALONG_SOURCE_DIR) + "/rules/logs"}, rep);
  INFO(rep.to_text());
  REQUIRE(rs.ok());
  REQUIRE(rep.files >= 4);
  REQUIRE(rep.all_loaded());
  REQUIRE(info(**rs).correlations >= 4);
}

TEST_CASE("a Sigma filter adds 'and not' its condition to the rules it names", "[sigma][filter]") {
  LoadReport rep;
  auto rs = load_sigma_from_string(R"(title: shell spawned
id: 6f3e2987-db24-4c78-a860-b4f4095a7095
logsource:
    product: linux
    category: process_creation
detection:
    sel:
        Image|endswith: '/sh'
    condition: sel
---
title: other
name: other_rule
logsource:
    product: linux
    category: process_creation
detection:
    sel:
        Image|endswith: '/bash'
    condition: sel
---
title: Filter admin accounts
logsource:
    product: linux
    category: process_creation
filter:
    rules:
        - 6f3e2987-db24-4c78-a860-b4f4095a7095
        - missing-rule
    selection:
        User|startswith: 'adm_'
    condition: selection
---
title: Broken filter
logsource:
    product: linux
filter:
    rules:
        - other_rule
    selection:
        User|frobnicate: 'x'
    condition: selection
)",
                                   "f.yml", rep);
  REQUIRE(rs.ok());
  INFO(rep.to_text());
  REQUIRE(rep.loaded == 3);
  REQUIRE(rep.skipped == 1);
  REQUIRE(rep.entries[3].reason_kind == "modifier:frobnicate");
  REQUIRE_THAT(rep.to_text(), Catch::Contains("filter applied to 6f3e2987"));
  REQUIRE_THAT(rep.to_text(), Catch::Contains("filter rules not loaded: missing-rule"));
  Matcher m(*rs);
  auto pc = [](std::string image, std::string user) {
    Ev e = ev({{"Image", image}, {"User", user}});
    e.src = {"linux", "auditd", "process_creation"};
    return e;
  };
  REQUIRE(titles(m, pc("/bin/sh", "alice")) == std::vector<std::string>{"shell spawned"});
  REQUIRE(titles(m, pc("/bin/sh", "adm_bob")).empty());
  // the broken filter is not applied at all
  REQUIRE(titles(m, pc("/bin/bash", "x")) == std::vector<std::string>{"other"});
}

TEST_CASE("a test Hyperscan refuses skips only the rules using it", "[sigma][loader]") {
  LoadReport rep;
  const std::string huge = "a" + std::string(20000, '?') + "b";
  auto rs = load_sigma_from_string(rule("    k:\n        F: '" + huge + "'\n    condition: k\n") + R"(---
title: good
logsource:
    product: linux
    service: test
detection:
    k:
        F: 'fine'
    condition: k
---
title: corr on the bad rule
correlation:
    type: event_count
    rules: 11111111-2222-3333-4444-555555555555
    group-by: F
    timespan: 1m
    condition:
        gte: 2
)",
                                   "h.yml", rep);
  REQUIRE(rs.ok());
  INFO(rep.to_text());
  REQUIRE(rep.loaded == 1);
  REQUIRE(rep.skipped == 2);
  REQUIRE(rep.entries[0].reason_kind == "hyperscan:refused");
  REQUIRE(rep.entries[2].reason_kind == "correlation:missing-rule");
  REQUIRE(info(**rs).rules == 1);
  REQUIRE(info(**rs).correlations == 0);
  REQUIRE(fires(*rs, ev({{"F", "fine"}})));
}
