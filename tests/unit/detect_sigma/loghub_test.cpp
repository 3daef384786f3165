// Shipped rules on real logs (loghub), through the real parsers, against counts this test
// derives on its own from the raw file with plain regexes and its own sliding window.
// (POSIX <regex.h>, not std::regex: g++ 12 warns falsely inside <regex> under sanitizers.)
#include <regex.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "agent/logs/parser.hpp"
#include "helpers.hpp"

using namespace sigma_test;
namespace fs = std::filesystem;

namespace {

const std::string kLoghub = std::string(HALONG_CORPUS_DIR) + "/loghub";

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// "Dec 10 06:55:46" -> seconds (month, day, time; the file spans a few weeks of one year)
int64_t syslog_seconds(const std::string& line) {
  static const std::string months = "JanFebMarAprMayJunJulAugSepOctNovDec";
  int64_t mon = static_cast<int64_t>(months.find(line.substr(0, 3)) / 3);
  int64_t day = std::stoll(line.substr(4, 2));
  int64_t h = std::stoll(line.substr(7, 2)), m = std::stoll(line.substr(10, 2)), s = std::stoll(line.substr(13, 2));
  return ((mon * 31 + day) * 24 + h) * 3600 + m * 60 + s;
}

// Alerts per group with the documented semantics: an alert when `threshold` events of the
// group fall within `span` seconds (inclusive), after which the group's window restarts.
std::map<std::string, int> expected_event_count(const std::vector<std::pair<std::string, int64_t>>& hits, size_t threshold,
                                                int64_t span) {
  std::map<std::string, std::deque<int64_t>> win;
  std::map<std::string, int> alerts;
  for (auto& [key, t] : hits) {
    auto& d = win[key];
    d.push_back(t);
    while (d.front() < t - span) d.pop_front();
    if (d.size() >= threshold) {
      ++alerts[key];
      d.clear();
    }
  }
  return alerts;
}

std::map<std::string, int> expected_value_count(const std::vector<std::tuple<std::string, std::string, int64_t>>& hits,
                                                size_t threshold, int64_t span) {
  std::map<std::string, std::map<std::string, int64_t>> seen;  // key -> value -> last time
  std::map<std::string, int> alerts;
  for (auto& [key, value, t] : hits) {
    auto& m = seen[key];
    m[value] = t;
    size_t live = 0;
    for (auto& [v, lt] : m)
      if (lt >= t - span) ++live;
    if (live >= threshold) {
      ++alerts[key];
      m.clear();
    }
  }
  return alerts;
}

}  // namespace

TEST_CASE("shipped SSH rules on loghub OpenSSH: alerts per source equal the counts derived with plain regexes",
          "[sigma][loghub][rules]") {
  const std::string path = kLoghub + "/OpenSSH/OpenSSH_2k.log";
  if (!fs::exists(path)) {
    WARN("corpus absent (" << path << "): skipping");
    return;
  }
  LoadReport rep;
  auto rs = load_sigma({std::string(HALONG_SOURCE_DIR) + "/rules/logs"}, rep);
  REQUIRE(rs.ok());
  REQUIRE(rep.all_loaded());

  halong::agent::logs::ParserOptions po;
  po.now_us = int64_t(1798675200) * 1000000;  // 2027-01-01: the December lines are in 2026
  auto parser = halong::agent::logs::make_parser("sshd", po);
  REQUIRE(parser.ok());
  halong::logs::LogSource src{"linux", "sshd", ""};
  Matcher m(*rs);
  std::map<std::string, std::map<std::string, int>> got;  // title -> src_ip -> alerts
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 2000);
  std::vector<Match> out;
  for (const auto& line : lines) {
    halong::logs::LogEvent ev;
    (*parser)->parse(line, ev);
    ev.source = &src;
    out.clear();
    m.evaluate(ev, out);
    for (auto& x : out) {
      REQUIRE(x.correlation);
      got[x.rule->title][x.group.at(0).second]++;
    }
  }

  // independent derivation: POSIX extended regexes over the raw lines
  struct Re {
    regex_t re{};
    explicit Re(const char* p) { REQUIRE(regcomp(&re, p, REG_EXTENDED) == 0); }
    ~Re() { regfree(&re); }
    bool match(const std::string& s, std::vector<std::string>& groups) {
      regmatch_t m[8];
      if (regexec(&re, s.c_str(), 8, m, 0) != 0) return false;
      groups.clear();
      for (auto& g : m) groups.push_back(g.rm_so < 0 ? std::string() : s.substr(size_t(g.rm_so), size_t(g.rm_eo - g.rm_so)));
      return true;
    }
  };
  Re failed(
      "^[A-Z][a-z]{2} +[0-9]+ [0-9:]{8} [^ ]+ sshd\\[[0-9]+\\]: (message repeated [0-9]+ times: \\[ )?"
      "Failed [^ ]+ for (invalid user )?(.*) from ([0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+) port [0-9]+");
  Re invalid(
      "^[A-Z][a-z]{2} +[0-9]+ [0-9:]{8} [^ ]+ sshd\\[[0-9]+\\]: Invalid user (.*) from "
      "([0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+)[[:space:]]*$");
  std::vector<std::pair<std::string, int64_t>> failed_hits;
  std::vector<std::tuple<std::string, std::string, int64_t>> user_hits;
  std::vector<std::string> mm;
  for (const auto& line : lines) {
    if (failed.match(line, mm)) {
      failed_hits.push_back({mm[4], syslog_seconds(line)});
      user_hits.push_back({mm[4], mm[3], syslog_seconds(line)});
    } else if (invalid.match(line, mm)) {
      user_hits.push_back({mm[2], mm[1], syslog_seconds(line)});
    }
  }
  REQUIRE(failed_hits.size() > 500);
  auto want_brute = expected_event_count(failed_hits, 10, 300);
  auto want_spray = expected_value_count(user_hits, 5, 600);
  int total_brute = 0, total_spray = 0;
  for (auto& [k, n] : want_brute) total_brute += n;
  for (auto& [k, n] : want_spray) total_spray += n;
  std::cout << "loghub OpenSSH: " << failed_hits.size() << " failed logins, brute-force alerts " << total_brute
            << " over " << want_brute.size() << " sources, spraying alerts " << total_spray << " over "
            << want_spray.size() << " sources\n";
  REQUIRE(total_brute > 0);
  REQUIRE(total_spray > 0);
  CHECK(got["SSH brute force (many failed logins from one source)"] == want_brute);
  CHECK(got["SSH password spraying (many user names from one source)"] == want_spray);
  CHECK(got.size() == 2);
}

TEST_CASE("shipped sudo and web scanning rules fire through the real parsers", "[sigma][rules]") {
  LoadReport rep;
  auto rs = load_sigma({std::string(HALONG_SOURCE_DIR) + "/rules/logs"}, rep);
  REQUIRE(rs.ok());
  Matcher m(*rs);
  std::vector<Match> out;
  halong::agent::logs::ParserOptions po;
  po.now_us = int64_t(1798675200) * 1000000;

  auto sys = halong::agent::logs::make_parser("auth", po);
  REQUIRE(sys.ok());
  halong::logs::LogSource auth{"linux", "auth", ""};
  auto feed = [&](halong::agent::logs::Parser& p, const halong::logs::LogSource& s, const std::string& line) {
    halong::logs::LogEvent ev;
    p.parse(line, ev);
    ev.source = &s;
    m.evaluate(ev, out);
  };
  for (int i = 0; i < 3; ++i)
    feed(**sys, auth,
         "Nov 23 10:00:0" + std::to_string(i) +
             " host sudo: pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 "
             "ruser=alice rhost=  user=alice");
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].rule->title == "Repeated sudo authentication failures");
  REQUIRE(out[0].group.at(0).second == "alice");
  out.clear();
  feed(**sys, auth, "Nov 23 10:01:00 host sudo:      bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/sh");
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].rule->title == "User not in sudoers ran sudo");
  REQUIRE(out[0].to_alert_info().severity == 3);

  out.clear();
  auto web = halong::agent::logs::make_parser("nginx", po);
  REQUIRE(web.ok());
  halong::logs::LogSource ws{"linux", "nginx", "webserver"};
  for (int i = 0; i < 40; ++i) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "203.0.113.7 - - [23/Nov/2026:10:00:%02d +0000] \"GET /probe%d.php HTTP/1.1\" %d 153 \"-\" \"gobuster\"",
                  i, i, i % 4 == 3 ? 200 : 404);
    feed(**web, ws, buf);
  }
  // 30 of the 40 requests are 404s, all within one minute
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].rule->title == "Web scanning (burst of 404 responses to one client)");
  REQUIRE(out[0].group.at(0).second == "203.0.113.7");
  REQUIRE(out[0].count == 30);
}

TEST_CASE("SigmaHQ rules fire on realistic events through the real parsers", "[sigma][corpus]") {
  const std::string sigma = std::string(HALONG_CORPUS_DIR) + "/sigma/rules";
  if (!fs::exists(sigma)) {
    WARN("corpus absent (" << sigma << "): skipping");
    return;
  }
  LoadReport rep;
  auto rs = load_sigma({sigma + "/linux", sigma + "/web"}, rep);
  REQUIRE(rs.ok());
  Matcher m(*rs);
  halong::agent::logs::ParserOptions po;
  po.now_us = int64_t(1798675200) * 1000000;
  auto fired = [&](halong::agent::logs::Parser& p, const halong::logs::LogSource& s, const std::string& line) {
    std::vector<std::string> files;
    std::vector<Match> out;
    halong::logs::LogEvent ev;
    p.parse(line, ev);
    ev.source = &s;
    m.evaluate(ev, out);
    while (p.next_derived(ev)) m.evaluate(ev, out);
    for (auto& x : out) files.push_back(fs::path(x.rule->file).filename().string());
    return files;
  };
  auto has = [](const std::vector<std::string>& v, const std::string& f) {
    return std::find(v.begin(), v.end(), f) != v.end();
  };

  auto web = halong::agent::logs::make_parser("nginx", po);
  REQUIRE(web.ok());
  halong::logs::LogSource ws{"linux", "nginx", "webserver"};
  const std::string sqli =
      "198.51.100.4 - - [23/Nov/2026:10:00:00 +0000] \"GET /item.php?id=1%20UNION%20SELECT%20password%20FROM%20users "
      "HTTP/1.1\" 200 512 \"-\" \"Mozilla/5.0\"";
  REQUIRE(has(fired(**web, ws, sqli), "web_sql_injection_in_access_logs.yml"));
  std::string sqli404 = sqli;
  sqli404.replace(sqli404.find("\" 200 "), 6, "\" 404 ");
  REQUIRE_FALSE(has(fired(**web, ws, sqli404), "web_sql_injection_in_access_logs.yml"));  // filter_main_status
  const std::string benign =
      "198.51.100.4 - - [23/Nov/2026:10:00:01 +0000] \"GET /index.html HTTP/1.1\" 200 512 \"-\" \"Mozilla/5.0\"";
  REQUIRE(fired(**web, ws, benign).empty());

  auto sys = halong::agent::logs::make_parser("syslog", po);
  REQUIRE(sys.ok());
  halong::logs::LogSource lx{"linux", "syslog", ""};
  // lnx_buffer_overflows.yml keywords
  REQUIRE(has(fired(**sys, lx, "Nov 23 10:00:02 host kernel: *** stack smashing detected ***: terminated"),
              "lnx_buffer_overflows.yml"));
  REQUIRE(fired(**sys, lx, "Nov 23 10:00:03 host CRON[123]: (root) CMD (run-parts /etc/cron.hourly)").empty());

  // auditd execve records -> derived process_creation event -> proc_creation_lnx_base64_decode.yml
  auto audit = halong::agent::logs::make_parser("auditd", po);
  REQUIRE(audit.ok());
  halong::logs::LogSource au{"linux", "auditd", ""};
  std::vector<std::string> got;
  for (std::string line : {
           std::string("type=SYSCALL msg=audit(1795420800.123:4242): arch=c000003e syscall=59 success=yes exit=0 "
                       "a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid=1000 pid=1001 auid=1000 uid=1000 gid=1000 euid=1000 "
                       "suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=1 comm=\"base64\" "
                       "exe=\"/usr/bin/base64\" key=\"exec\""),
           std::string("type=EXECVE msg=audit(1795420800.123:4242): argc=2 a0=\"base64\" a1=\"-d\""),
           std::string("type=CWD msg=audit(1795420800.123:4242): cwd=\"/tmp\""),
           std::string("type=EOE msg=audit(1795420800.123:4242): ")}) {
    for (auto& f : fired(**audit, au, line)) got.push_back(f);
  }
  (*audit)->flush();
  {
    std::vector<Match> out;
    halong::logs::LogEvent ev;
    while ((*audit)->next_derived(ev)) m.evaluate(ev, out);
    for (auto& x : out) got.push_back(fs::path(x.rule->file).filename().string());
  }
  INFO("rules fired: " << got.size());
  REQUIRE(has(got, "proc_creation_lnx_base64_decode.yml"));
}
