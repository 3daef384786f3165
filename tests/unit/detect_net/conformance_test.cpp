// The conformance target: every suricata-verify case of the corpus, N passed / N failed.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "conformance.hpp"

TEST_CASE("suricata-verify conformance: alert counts per sid match Suricata's", "[detect][net][conformance]") {
  std::filesystem::path idx = std::filesystem::path(HALONG_CORPUS_DIR) / "suricata-verify" / "index.json";
  if (!std::filesystem::exists(idx)) {
    WARN("corpus not found at " << idx << ": skipping");
    return;
  }
  const char* filter = std::getenv("HALONG_SV_FILTER");
  auto results = halong::test::run_conformance(HALONG_CORPUS_DIR, filter ? filter : "");
  size_t passed = 0, failed = 0;
  for (const auto& r : results) {
    if (r.passed) {
      ++passed;
      std::cout << "PASS " << r.name << " [" << r.tier << "]\n";
    } else {
      ++failed;
      std::cout << "FAIL " << r.name << " [" << r.tier << "]: " << r.reason << "\n";
    }
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  if (filter) return;
  REQUIRE(results.size() == 41);
  // The share achieved today (docs/conformance.md lists each failure with its reason);
  // raise it when a failure is fixed, never lower it silently.
  CHECK(passed >= 40);
}
