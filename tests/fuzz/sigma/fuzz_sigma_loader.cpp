// libFuzzer target: bytes -> load_sigma_from_string -> Matcher on a few events.
// Seeds: tests/fuzz/sigma/corpus (and any rules/logs/*.yml).
//   ./fuzz_sigma_loader -max_len=8192 -timeout=5 tests/fuzz/sigma/corpus rules/logs
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/detect/sigma/engine.hpp"

using namespace halong::detect::sigma;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  LoadReport rep;
  LoadOptions opts;
  opts.max_yaml_nodes = 20000;
  opts.correlation_max_groups = 8;
  auto rs = load_sigma_from_string(text, "fuzz.yml", rep, opts);
  (void)rep.to_text();
  if (!rs.ok()) return 0;
  Matcher m(*rs);
  halong::logs::LogSource srcs[] = {{"linux", "sshd", ""}, {"", "", "webserver"}, {"linux", "", "process_creation"}, {}};
  std::vector<Match> out;
  // every field any rule tests gets a slice of the input as its value
  std::vector<std::pair<std::string, std::string>> fields;
  for (auto& p : export_patterns(**rs))
    if (!p.field.empty() && fields.size() < 32) fields.emplace_back(p.field, text.substr(0, 64));
  fields.emplace_back("src_ip", "10.1.2.3");
  fields.emplace_back("User", "root");
  for (int i = 0; i < 4; ++i) {
    for (auto& s : srcs) {
      halong::logs::LogEvent ev;
      ev.raw = text;
      ev.source = &s;
      ev.fields = fields;
      ev.ts_us = i * 1000000;
      m.evaluate(ev, out);
      for (auto& x : out) (void)x.to_alert_info();
      out.clear();
    }
  }
  return 0;
}
