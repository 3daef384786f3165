// Real rule material from the corpus: Suricata's own parse-error cases and ET Open.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/detect/net/engine.hpp"

using namespace halong::detect::net;
namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("every rule of suricata-verify's parse-error cases is rejected with a reason", "[detect][net][corpus]") {
  fs::path dir = fs::path(HALONG_CORPUS_DIR) / "suricata-verify" / "_rule-parse-errors";
  if (!fs::exists(dir / "index.json")) {
    WARN("corpus not found at " << dir << ": skipping");
    return;
  }
  auto idx = boost::json::parse(slurp(dir / "index.json")).as_array();
  size_t cases = 0, rules_rejected = 0, rules_loaded = 0;
  for (const auto& c : idx) {
    const auto& o = c.as_object();
    std::string name(o.at("name").as_string());
    std::string file(o.at("rules_file").as_string());
    LoadReport rep;
    auto rs = load_rules({(dir / name / file).string()}, {}, rep);
    REQUIRE(rs.ok());
    ++cases;
    INFO(name << "\n" << rep.to_text_verbose());
    CHECK(rep.skipped() == 0);
    size_t errors = rep.error_count();
    for (const auto& f : rep.files)
      for (const auto& e : f.errors) CHECK(e.find(".rules:") != std::string::npos);
    if (name == "test-unreachable-distance-1") {
      // upstream: "2 rules successfully loaded, 3 rules failed"
      CHECK(errors == 3);
      CHECK(rep.loaded() == 2);
    } else {
      CHECK(errors >= 1);
      CHECK(rep.loaded() == 0);
    }
    rules_rejected += errors;
    rules_loaded += rep.loaded();
  }
  CHECK(cases == 27);
  WARN("parse-error corpus: " << cases << " cases, " << rules_rejected << " rules rejected, " << rules_loaded
                              << " loaded (the 2 valid rules of test-unreachable-distance-1)");
}

TEST_CASE("the full ET Open ruleset loads, reporting loaded and skipped by keyword", "[detect][net][corpus][etopen]") {
  fs::path dir = fs::path(HALONG_CORPUS_DIR) / "et-open" / "rules";
  if (!fs::exists(dir / "classification.config")) {
    WARN("corpus not found at " << dir << ": skipping");
    return;
  }
  LoadOptions o;
  o.classification_file = (dir / "classification.config").string();
  LoadReport rep;
  auto rs = load_rules({dir.string()}, o, rep);
  REQUIRE(rs.ok());
  CHECK(rep.files.size() >= 50);
  CHECK(rep.loaded() + rep.skipped() + rep.error_count() >= 24000);
  CHECK(rep.loaded() >= 3000);
  auto kw = rep.skipped_by_keyword();
  CHECK(kw["proto:http"] > 10000);
  CHECK(kw["proto:dns"] > 1000);
  CHECK(rep.fast_patterns > 1000);
  Matcher m(*rs);  // scratch for every group allocates
  WARN("ET Open: " << rep.loaded() << " loaded, " << rep.skipped() << " skipped, " << rep.error_count() << " errors, "
                   << rep.groups << " groups, " << rep.fast_patterns << " fast patterns, " << rep.database_bytes
                   << " database bytes, compiled in " << rep.compile_ms << " ms");

  // Every rule of the simple subset (basic keywords only) loads.
  fs::path subset = fs::path(HALONG_CORPUS_DIR) / "et-open" / "derived" / "et-open-simple-subset.rules";
  LoadReport srep;
  auto srs = load_rules({subset.string()}, o, srep);
  REQUIRE(srs.ok());
  INFO(srep.to_text_verbose());
  CHECK(srep.skipped() == 0);
  CHECK(srep.error_count() == 0);
  CHECK(srep.loaded() == 983);
}
