// The real Sigma rules of ../shared/corpus/sigma: how many load, and why the others do not.
#include <filesystem>
#include <iostream>

#include "helpers.hpp"

using namespace sigma_test;
namespace fs = std::filesystem;

namespace {

const std::string kSigma = std::string(HALONG_CORPUS_DIR) + "/sigma";

void print_report(const std::string& what, const LoadReport& rep) {
  std::cout << "== " << what << ": " << rep.loaded << " loaded, " << rep.skipped << " skipped, "
            << rep.file_errors.size() << " file errors, " << rep.pcre_fallbacks << " regexes on PCRE2\n";
  for (auto& [k, n] : rep.skipped_by_reason()) std::cout << "   " << k << ": " << n << "\n";
  for (auto& e : rep.entries)
    if (!e.loaded) std::cout << "   skipped " << e.reason << "\n";
  for (auto& f : rep.file_errors) std::cout << "   file error " << f << "\n";
}

}  // namespace

TEST_CASE("at least 85% of the SigmaHQ linux and web rules load", "[sigma][corpus]") {
  if (!fs::exists(kSigma + "/rules/linux")) {
    WARN("corpus absent (" << kSigma << "): skipping");
    return;
  }
  LoadReport rep;
  auto rs = load_sigma({kSigma + "/rules/linux", kSigma + "/rules/web"}, rep);
  REQUIRE(rs.ok());
  print_report("rules/linux + rules/web", rep);
  const size_t total = rep.loaded + rep.skipped + rep.file_errors.size();
  REQUIRE(total >= 250);
  REQUIRE(rep.loaded * 100 >= total * 85);
  auto i = info(**rs);
  std::cout << "   " << i.rules << " rules, " << i.databases << " Hyperscan databases, " << i.hs_patterns
            << " patterns, " << i.hs_bytes << " bytes, " << i.pcre_tests << " PCRE2 tests, " << i.other_tests
            << " other tests\n";
  REQUIRE(i.hs_patterns > 500);
}

TEST_CASE("linux and web rules of the threat-hunting, emerging-threats and unsupported trees load or say why",
          "[sigma][corpus]") {
  if (!fs::exists(kSigma + "/rules-emerging-threats")) {
    WARN("corpus absent (" << kSigma << "): skipping");
    return;
  }
  LoadReport rep;
  auto rs = load_sigma({kSigma + "/rules-emerging-threats", kSigma + "/rules-threat-hunting/linux",
                        kSigma + "/unsupported/linux"},
                       rep);
  REQUIRE(rs.ok());
  print_report("emerging-threats + threat-hunting/linux + unsupported/linux", rep);
  for (auto& e : rep.entries) {
    if (!e.loaded) {
      REQUIRE_FALSE(e.reason_kind.empty());
      REQUIRE(e.reason.find(".yml:") != std::string::npos);
    }
  }
  REQUIRE(rep.loaded > 0);
}
