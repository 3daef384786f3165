// Test helpers: build LogEvents and load rules from text.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "core/detect/sigma/engine.hpp"

namespace sigma_test {

using namespace halong::detect::sigma;

struct Ev {
  halong::logs::LogSource src;
  std::string raw;
  std::vector<std::pair<std::string, std::string>> fields;
  int64_t ts_us = 0;

  halong::logs::LogEvent event() const {
    halong::logs::LogEvent e;
    e.raw = raw;
    e.source = &src;
    e.fields = fields;
    e.ts_us = ts_us;
    return e;
  }
};

inline std::shared_ptr<const Ruleset> load_ok(const std::string& yaml, LoadReport* out_report = nullptr) {
  LoadReport rep;
  auto rs = load_sigma_from_string(yaml, "test.yml", rep);
  INFO(rep.to_text());
  REQUIRE(rs.ok());
  REQUIRE(rep.skipped == 0);
  REQUIRE(rep.file_errors.empty());
  if (out_report) *out_report = rep;
  return *rs;
}

// Titles of the rules that match `ev`.
inline std::vector<std::string> titles(Matcher& m, const Ev& ev) {
  std::vector<Match> out;
  m.evaluate(ev.event(), out);
  std::vector<std::string> t;
  for (auto& x : out) t.push_back(x.rule->title);
  return t;
}

inline bool fires(const std::shared_ptr<const Ruleset>& rs, const Ev& ev) {
  Matcher m(rs);
  return !titles(m, ev).empty();
}

// One rule over logsource linux/test with the given detection block (indented by 4).
inline std::string rule(const std::string& detection, const std::string& extra = "") {
  return "title: T\nid: 11111111-2222-3333-4444-555555555555\nlogsource:\n    product: linux\n    service: test\n" +
         extra + "detection:\n" + detection;
}

inline Ev ev(std::vector<std::pair<std::string, std::string>> fields, std::string raw = "line") {
  Ev e;
  e.src = {"linux", "test", ""};
  e.fields = std::move(fields);
  e.raw = std::move(raw);
  return e;
}

}  // namespace sigma_test
