// Sigma engine benchmark (single thread): lines/s and MB/s of the log path with all the
// SigmaHQ linux + web rules that load, on real loghub lines, next to
//   - the raw Hyperscan scan of the same lines with the same patterns (one database of
//     every pattern of the ruleset, one hs_scan per line): the matching limit;
//   - ripgrep (`LC_ALL=C rg -j1 -c -f patterns lines`) with the same patterns.
// Prints a table; docs/benchmarks-sigma.md records a run.
//
//   bench_sigma [--corpus DIR] [--reps N] [--work DIR] [--rules PATH]...
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <hs/hs.h>

#include "agent/logs/parser.hpp"
#include "core/detect/hs.hpp"
#include "core/detect/sigma/engine.hpp"

namespace fs = std::filesystem;
using namespace halong;
using Clock = std::chrono::steady_clock;

namespace {

struct Input {
  std::string path, format;
  logs::LogSource source;
};

struct Line {
  std::string text;
  size_t input = 0;
};

long rss_kib() {
  std::ifstream in("/proc/self/status");
  for (std::string l; std::getline(in, l);)
    if (l.rfind("VmRSS:", 0) == 0) return std::atol(l.c_str() + 6);
  return 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double time_it(int reps, const std::function<void()>& f) {
  std::vector<double> t;
  f();  // warm-up
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return median(t);
}

// Hyperscan syntax -> ripgrep (Rust regex) with the same flags.
std::string to_rg(const detect::sigma::ExportedPattern& p) {
  std::string f = "(?";
  if (p.hs_flags & HS_FLAG_CASELESS) f += "i";
  if (p.hs_flags & HS_FLAG_DOTALL) f += "s";
  if (p.hs_flags & HS_FLAG_MULTILINE) f += "m";
  f += "-u)";
  // Rust's regex refuses escapes of non-meta punctuation ("\/"): write every escaped
  // punctuation character as \xNN, which both syntaxes read the same way.
  static const char* hex = "0123456789abcdef";
  for (size_t i = 0; i < p.expression.size(); ++i) {
    char c = p.expression[i];
    unsigned char nx = i + 1 < p.expression.size() ? static_cast<unsigned char>(p.expression[i + 1]) : 0;
    if (c == '\\' && nx && !std::isalnum(nx)) {
      f += "\\x";
      f += hex[nx >> 4];
      f += hex[nx & 15];
      ++i;
    } else {
      f += c;
    }
  }
  return f;
}

int on_hs(unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
  ++*static_cast<uint64_t*>(ctx);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string corpus = HALONG_CORPUS_DIR;
  std::string work = (fs::temp_directory_path() / "halong-bench-sigma").string();
  std::vector<std::string> rule_paths;
  int reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--corpus") corpus = argv[i + 1];
    else if (a == "--reps") reps = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--work") work = argv[i + 1];
    else if (a == "--rules") rule_paths.push_back(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (rule_paths.empty()) rule_paths = {corpus + "/sigma/rules/linux", corpus + "/sigma/rules/web"};

  const long rss0 = rss_kib();
  detect::sigma::LoadReport rep;
  auto t0 = Clock::now();
  auto rs = detect::sigma::load_sigma(rule_paths, rep);
  const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!rs.ok()) {
    std::fprintf(stderr, "load: %s\n", rs.error().message.c_str());
    return 1;
  }
  const long rss1 = rss_kib();
  auto inf = detect::sigma::info(**rs);

  std::vector<Input> inputs = {
      {corpus + "/loghub/OpenSSH/OpenSSH_2k.log", "sshd", {"linux", "sshd", ""}},
      {corpus + "/loghub/full/Linux/Linux.log", "syslog", {"linux", "syslog", ""}},
      {corpus + "/loghub/Apache/Apache_2k.log", "apache_error", {"", "apache", ""}},
  };
  std::vector<Line> lines;
  size_t bytes = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::ifstream in(inputs[i].path);
    if (!in) {
      std::fprintf(stderr, "missing %s\n", inputs[i].path.c_str());
      return 1;
    }
    for (std::string l; std::getline(in, l);) {
      bytes += l.size() + 1;
      lines.push_back({l, i});
    }
  }
  const double mb = double(bytes) / 1e6;
  const double n = double(lines.size());

  agent::logs::ParserOptions po;
  po.now_us = int64_t(1798675200) * 1000000;
  std::vector<std::unique_ptr<agent::logs::Parser>> parsers;
  for (auto& in : inputs) parsers.push_back(agent::logs::make_parser(in.format, po).value());

  detect::sigma::Matcher matcher(*rs);
  std::vector<detect::sigma::Match> out;
  uint64_t alerts = 0;

  // A. whole path, routed by the input's logsource: parse + match + condition
  logs::LogEvent ev;
  double t_parse_match = time_it(reps, [&] {
    for (auto& l : lines) {
      parsers[l.input]->parse(l.text, ev);
      ev.source = &inputs[l.input].source;
      out.clear();
      matcher.evaluate(ev, out);
      alerts += out.size();
    }
  });
  // B. parse only (to split A)
  double t_parse = time_it(reps, [&] {
    for (auto& l : lines) {
      parsers[l.input]->parse(l.text, ev);
      alerts += ev.fields.size() & 1;
    }
  });

  // C. every database on every line: one event per logsource group whose fields (all
  // fields any rule of the group tests) and raw line are the line: all patterns see the
  // whole line once, as in the raw scan, plus field lookups and conditions.
  // per logsource group: the fields its patterns test
  std::map<std::string, std::pair<logs::LogSource, std::vector<std::string>>> groups;
  for (auto& p : detect::sigma::export_patterns(**rs)) {
    auto& g = groups[p.logsource.product + "|" + p.logsource.service + "|" + p.logsource.category];
    g.first = p.logsource;
    if (!p.field.empty() && std::find(g.second.begin(), g.second.end(), p.field) == g.second.end())
      g.second.push_back(p.field);
  }
  std::vector<logs::LogEvent> all_ev;  // line-major: every group's event for line 0, then line 1...
  for (auto& l : lines) {
    for (auto& [k, g] : groups) {
      logs::LogEvent e;
      e.raw = l.text;
      e.source = &g.first;
      for (auto& f : g.second) e.fields.emplace_back(f, l.text);
      all_ev.push_back(std::move(e));
    }
  }
  double t_all = time_it(reps, [&] {
    for (auto& e : all_ev) {
      out.clear();
      matcher.evaluate(e, out);
      alerts += out.size();
    }
  });

  // D. raw Hyperscan: every pattern in one database, one scan per line
  std::vector<hs::Pattern> pats;
  auto exported = detect::sigma::export_patterns(**rs);
  for (size_t i = 0; i < exported.size(); ++i)
    pats.push_back({exported[i].expression, exported[i].hs_flags, static_cast<unsigned>(i)});
  auto db = hs::compile(pats);
  if (!db.ok()) {
    std::fprintf(stderr, "raw compile: %s\n", db.error().message.c_str());
    return 1;
  }
  hs::Scratch scratch;
  (void)scratch.allocate_for(*db);
  uint64_t raw_matches = 0;
  double t_raw = time_it(reps, [&] {
    for (auto& l : lines)
      hs_scan(db->get(), l.text.data(), static_cast<unsigned>(l.text.size()), 0, scratch.get(), on_hs, &raw_matches);
  });

  // E. ripgrep with the same patterns on the same lines
  fs::create_directories(work);
  const std::string lines_file = work + "/lines.log", pat_file = work + "/patterns.txt";
  {
    std::ofstream lf(lines_file), pf(pat_file);
    for (auto& l : lines) lf << l.text << "\n";
    for (auto& p : exported) pf << to_rg(p) << "\n";
  }
  const std::string cmd = "LC_ALL=C rg -j1 -c -f " + pat_file + " " + lines_file + " > " + work + "/rg.out 2>&1";
  double t_rg = -1;
  int rc = std::system(cmd.c_str());
  if (rc == 0 || WEXITSTATUS(rc) == 1) {
    std::vector<double> t;
    for (int i = 0; i < std::max(1, reps / 2); ++i) {
      auto a = Clock::now();
      if (std::system(cmd.c_str()) == -1) break;
      t.push_back(std::chrono::duration<double>(Clock::now() - a).count());
    }
    if (!t.empty()) t_rg = median(t);
  }
  std::string rg_out;
  {
    std::ifstream r(work + "/rg.out");
    std::getline(r, rg_out);
  }

  auto row = [&](const char* name, double t, double lines_per_pass) {
    std::printf("%-58s %8.4f s %12.0f lines/s %9.1f MB/s %7.1f%% of raw\n", name, t, lines_per_pass / t, mb / t,
                100.0 * t_raw / t);
  };
  std::printf("rules: %zu loaded, %zu skipped (%s)\n", rep.loaded, rep.skipped,
              [&] {
                std::string s;
                for (auto& r : rule_paths) s += r + " ";
                return s;
              }()
                  .c_str());
  std::printf("ruleset: %zu rules, %zu Hyperscan databases, %zu patterns, %zu bytes, %zu PCRE2, %zu other tests; load %.2f s\n",
              inf.rules, inf.databases, inf.hs_patterns, inf.hs_bytes, inf.pcre_tests, inf.other_tests, load_s);
  std::printf("RSS: %ld KiB before load, %ld KiB after (+%ld KiB)\n", rss0, rss1, rss1 - rss0);
  std::printf("lines: %zu (%.2f MB, mean %.0f bytes) from loghub OpenSSH_2k, full Linux, Apache_2k\n", lines.size(), mb,
              double(bytes) / n);
  std::printf("median of %d passes, single thread\n\n", reps);
  row("A. parse + match + condition (routed by input logsource)", t_parse_match, n);
  row("   of which parse only", t_parse, n);
  row("A'. match + condition only (A minus parse)", t_parse_match - t_parse, n);
  row("C. every database on every line (all fields = line)", t_all, n);
  row("D. raw Hyperscan: all patterns, one scan per line", t_raw, n);
  if (t_rg > 0) {
    row("E. ripgrep -j1 -c -f (same patterns, LC_ALL=C)", t_rg, n);
    std::printf("\nratios: A/rg %.1fx, C/rg %.1fx, D/rg %.1fx; rg count: %s\n", t_rg / t_parse_match, t_rg / t_all,
                t_rg / t_raw, rg_out.c_str());
  } else {
    std::printf("E. ripgrep: not run (rc=%d, output: %s)\n", rc, rg_out.c_str());
  }
  std::printf("(alerts %llu, raw matches %llu: printed so the work is not optimised away)\n",
              static_cast<unsigned long long>(alerts), static_cast<unsigned long long>(raw_matches));
  std::printf("commands: ripgrep: %s\n", cmd.c_str());
  return 0;
}
