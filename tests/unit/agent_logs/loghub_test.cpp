// Parsers against the real loghub logs, checked with loghub's own structured CSVs (an
// independent parse of the same lines) and its event templates.
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "agent/logs/file_reader.hpp"
#include "agent/logs/parser.hpp"
#include "helpers.hpp"

using halong::agent::logs::make_parser;
using halong::agent::logs::ParserOptions;
using halong::logs::LogEvent;

namespace {

const std::string kLoghub = std::string(HALONG_CORPUS_DIR) + "/loghub";

bool have(const std::string& path) {
  if (std::filesystem::exists(path)) return true;
  WARN("SKIPPED: corpus file " << path << " is absent (see ../shared/corpus/README.md)");
  return false;
}

std::string F(const LogEvent& ev, const char* name) {
  const std::string* v = ev.field(name);
  return v ? *v : std::string("<absent>");
}

std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// loghub's CSV trims the content and the template parameters
std::string trim(std::string s) {
  s = rtrim(std::move(s));
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

// The parameters of an EventTemplate ("Failed password for <*> from <*> port <*> ssh2") in
// a message: the literal pieces between the <*> are matched left to right (each <*> ends
// at the first occurrence of the next piece; the last piece must end the message).
std::vector<std::string> params(const std::string& tmpl, const std::string& content) {
  std::vector<std::string> pieces;
  size_t from = 0;
  for (size_t at; (at = tmpl.find("<*>", from)) != std::string::npos; from = at + 3) pieces.push_back(tmpl.substr(from, at - from));
  pieces.push_back(tmpl.substr(from));
  std::vector<std::string> out;
  if (content.compare(0, pieces[0].size(), pieces[0]) != 0) return {};
  size_t pos = pieces[0].size();
  for (size_t i = 1; i < pieces.size(); ++i) {
    const std::string& p = pieces[i];
    size_t at;
    if (i + 1 == pieces.size()) {  // anchored at the end
      if (content.size() < pos + p.size() || content.compare(content.size() - p.size(), p.size(), p) != 0) return {};
      at = content.size() - p.size();
    } else {
      at = content.find(p, pos);
      if (at == std::string::npos) return {};
    }
    out.push_back(rtrim(content.substr(pos, at - pos)));
    pos = at + p.size();
  }
  return out;
}

// "key=value" in a PAM message: the value up to the next space ("" when empty).
std::optional<std::string> kv(const std::string& content, const std::string& key) {
  size_t at = 0;
  while ((at = content.find(key + "=", at)) != std::string::npos) {
    if (at == 0 || content[at - 1] == ' ') {
      size_t v = at + key.size() + 1;
      return content.substr(v, content.find(' ', v) == std::string::npos ? std::string::npos : content.find(' ', v) - v);
    }
    ++at;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("loghub OpenSSH: syslog header of every line matches loghub's structured CSV", "[agent][logs][corpus]") {
  const std::string log = kLoghub + "/OpenSSH/OpenSSH_2k.log";
  const std::string csv = kLoghub + "/OpenSSH/OpenSSH_2k.log_structured.csv";
  if (!have(log) || !have(csv)) return;
  auto lines = halong::test::read_lines(log);
  auto rows = halong::test::read_csv(csv);
  REQUIRE(rows.size() == lines.size() + 1);  // header row
  // LineId,Date,Day,Time,Component,Pid,Content,EventId,EventTemplate
  auto p = make_parser("sshd").value();
  LogEvent ev;
  size_t checked = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& r = rows[i + 1];
    REQUIRE(r.size() == 9);
    INFO("line " << i + 1 << ": " << lines[i]);
    REQUIRE(p->parse(lines[i], ev));
    CHECK(F(ev, "host") == r[4]);
    CHECK(F(ev, "pid") == r[5]);
    CHECK(F(ev, "program") == "sshd");
    CHECK(F(ev, "message") == rtrim(r[6]));
    ++checked;
  }
  CHECK(checked == 2000);
}

TEST_CASE("loghub OpenSSH: sshd fields equal the parameters of loghub's event templates", "[agent][logs][corpus]") {
  const std::string log = kLoghub + "/OpenSSH/OpenSSH_2k.log";
  const std::string csv = kLoghub + "/OpenSSH/OpenSSH_2k.log_structured.csv";
  if (!have(log) || !have(csv)) return;
  auto lines = halong::test::read_lines(log);
  auto rows = halong::test::read_csv(csv);
  REQUIRE(rows.size() == lines.size() + 1);
  auto p = make_parser("sshd").value();
  LogEvent ev;
  std::map<std::string, int> per_event;
  int failures_by_template = 0, failures_by_parser = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& r = rows[i + 1];
    const std::string& id = r[7];
    const std::string& tmpl = r[8];
    INFO("line " << i + 1 << " (" << id << "): " << lines[i]);
    REQUIRE(p->parse(lines[i], ev));
    auto ps = params(tmpl, rtrim(r[6]));
    REQUIRE(!ps.empty() == (tmpl.find("<*>") != std::string::npos));
    ++per_event[id];
    if (id == "E9" || id == "E10" || id == "E8") {  // Failed <method> for [invalid user ]<u> from <ip> port <p>
      ++failures_by_template;
      CHECK(F(ev, "event") == "auth_failure");
      CHECK(F(ev, "outcome") == "failure");
      CHECK(F(ev, "user") == ps[0]);
      CHECK(F(ev, "src_ip") == ps[1]);
      CHECK(F(ev, "src_port") == ps[2]);
      CHECK(F(ev, "method") == (id == "E8" ? "none" : "password"));
      CHECK(F(ev, "invalid_user") == (id == "E9" ? "<absent>" : "true"));
    } else if (id == "E1") {
      CHECK(F(ev, "event") == "auth_success");
      CHECK(F(ev, "user") == ps[0]);
      CHECK(F(ev, "src_ip") == ps[1]);
      CHECK(F(ev, "src_port") == ps[2]);
    } else if (id == "E13") {
      CHECK(F(ev, "event") == "invalid_user");
      CHECK(F(ev, "user") == ps[0]);
      CHECK(F(ev, "src_ip") == ps[1]);
    } else if (id == "E12") {
      CHECK(F(ev, "event") == "invalid_user_request");
      CHECK(F(ev, "user") == ps[0]);
    } else if (id == "E19" || id == "E20") {
      CHECK(F(ev, "pam_message") == "authentication failure");
      CHECK(F(ev, "pam_uid") == ps[0]);
      CHECK(F(ev, "pam_euid") == ps[1]);
      CHECK(F(ev, "pam_rhost") == ps[2]);
      CHECK(F(ev, "src_ip") == ps[2]);
      if (id == "E20") CHECK(F(ev, "pam_user") == ps[3]);
    } else if (id == "E14") {  // message repeated <n> times: [ Failed password for root from <ip> port <p>]
      ++failures_by_template;
      CHECK(F(ev, "repeated") == ps[0]);
      CHECK(F(ev, "event") == "auth_failure");
      CHECK(F(ev, "user") == "root");
      CHECK(F(ev, "src_ip") == ps[1]);
    } else if (id == "E24" || id == "E25" || id == "E26" || id == "E6" || id == "E7") {
      CHECK(F(ev, "event") == "disconnect_received");
      CHECK(F(ev, "src_ip") == ps[0]);
    } else if (id == "E27") {
      CHECK(F(ev, "event") == "reverse_mapping_failed");
      CHECK(F(ev, "src_host") == ps[0]);
      CHECK(F(ev, "src_ip") == ps[1]);
    } else if (id == "E2") {
      CHECK(F(ev, "event") == "connection_closed");
      CHECK(F(ev, "src_ip") == ps[0]);
    } else if (id == "E3") {
      CHECK(F(ev, "event") == "no_identification");
      CHECK(F(ev, "src_ip") == ps[0]);
    } else if (id == "E15" || id == "E16" || id == "E17") {
      CHECK(F(ev, "event") == "pam_more_failures");
      CHECK(F(ev, "count") == ps[0]);
      CHECK(F(ev, "src_ip") == ps[3]);
    } else if (id == "E23" || id == "E22") {
      CHECK(F(ev, "user") == ps[0]);
    } else if (id == "E4" || id == "E5") {
      CHECK(F(ev, "event") == "too_many_failures");
      CHECK(F(ev, "user") == (id == "E4" ? "admin" : "root"));
    }
    if (F(ev, "event") == "auth_failure") ++failures_by_parser;
  }
  CHECK(failures_by_parser == failures_by_template);
  CHECK(per_event["E9"] == 383);  // the corpus' derived/event_counts.json
}

TEST_CASE("loghub Linux: syslog header of every line matches loghub's structured CSV", "[agent][logs][corpus]") {
  const std::string log = kLoghub + "/Linux/Linux_2k.log";
  const std::string csv = kLoghub + "/Linux/Linux_2k.log_structured.csv";
  if (!have(log) || !have(csv)) return;
  auto lines = halong::test::read_lines(log);
  auto rows = halong::test::read_csv(csv);
  REQUIRE(rows.size() == lines.size() + 1);
  // LineId,Month,Date,Time,Level,Component,PID,Content,EventId,EventTemplate (Level is the host)
  auto p = make_parser("syslog").value();
  LogEvent ev;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& r = rows[i + 1];
    REQUIRE(r.size() == 10);
    INFO("line " << i + 1 << ": " << lines[i]);
    REQUIRE(p->parse(lines[i], ev));
    CHECK(F(ev, "host") == r[4]);
    CHECK(F(ev, "program") == r[5]);
    CHECK(F(ev, "pid") == (r[6].empty() ? "<absent>" : r[6]));
    CHECK(trim(F(ev, "message")) == trim(r[7]));
    // time of day and day of month from the CSV
    int64_t sod = ((ev.ts_us / 1000000) % 86400 + 86400) % 86400;
    char hms[16];
    std::snprintf(hms, sizeof hms, "%02d:%02d:%02d", int(sod / 3600), int(sod / 60 % 60), int(sod % 60));
    CHECK(std::string(hms) == r[3]);
  }
}

TEST_CASE("loghub Linux: PAM authentication failures carry rhost and user as loghub's templates say",
          "[agent][logs][corpus]") {
  const std::string log = kLoghub + "/Linux/Linux_2k.log";
  const std::string csv = kLoghub + "/Linux/Linux_2k.log_structured.csv";
  if (!have(log) || !have(csv)) return;
  auto lines = halong::test::read_lines(log);
  auto rows = halong::test::read_csv(csv);
  auto p = make_parser("auth").value();
  LogEvent ev;
  int checked = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& r = rows[i + 1];
    const std::string& tmpl = r[9];
    if (tmpl.rfind("authentication failure; logname= uid=", 0) != 0) continue;
    INFO("line " << i + 1 << ": " << lines[i]);
    REQUIRE(p->parse(lines[i], ev));
    const std::string content = rtrim(r[7]);
    auto rhost = kv(content, "rhost");
    REQUIRE(rhost);
    CHECK(F(ev, "pam_message") == "authentication failure");
    CHECK(F(ev, "pam_service") == r[5].substr(0, r[5].find('(')));
    CHECK(F(ev, "pam_rhost") == *rhost);
    if (auto user = kv(content, "user"); user && !user->empty()) CHECK(F(ev, "pam_user") == *user);
    ++checked;
  }
  CHECK(checked > 300);
}

TEST_CASE("loghub Linux full log: every one of its lines has a syslog header", "[agent][logs][corpus]") {
  const std::string log = kLoghub + "/full/Linux/Linux.log";
  if (!have(log)) return;
  auto p = make_parser("syslog").value();
  LogEvent ev;
  uint64_t bad = 0;
  auto st = halong::agent::logs::read_log_file(log, 64 * 1024, [&](uint64_t, std::string_view l, bool) {
    if (!p->parse(l, ev) || !ev.field("host")) ++bad;
  });
  REQUIRE(st.ok());
  CHECK(st->lines > 25000);
  CHECK(bad == 0);
}

TEST_CASE("loghub Apache error log: time, level and message match loghub's structured CSV", "[agent][logs][corpus]") {
  const std::string log = kLoghub + "/Apache/Apache_2k.log";
  const std::string csv = kLoghub + "/Apache/Apache_2k.log_structured.csv";
  if (!have(log) || !have(csv)) return;
  auto lines = halong::test::read_lines(log);
  auto rows = halong::test::read_csv(csv);
  REQUIRE(rows.size() == lines.size() + 1);
  auto p = make_parser("apache").value();
  LogEvent ev;
  static const char* kMon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  static const char* kWday[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};  // 1970-01-01 was a Thursday
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& r = rows[i + 1];  // LineId,Time,Level,Content,EventId,EventTemplate
    INFO("line " << i + 1 << ": " << lines[i]);
    REQUIRE(p->parse(lines[i], ev));
    CHECK(F(ev, "level") == r[2]);
    CHECK(F(ev, "message") == rtrim(r[3]));
    // render ts_us the way the log writes it and compare with the CSV's Time column
    time_t secs = static_cast<time_t>(ev.ts_us / 1000000);
    struct tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s %s %02d %02d:%02d:%02d %04d", kWday[(secs / 86400) % 7], kMon[tm.tm_mon],
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year + 1900);
    CHECK(std::string(buf) == r[1]);
    if (r[3].rfind("[client ", 0) == 0) CHECK(F(ev, "c-ip") == r[3].substr(8, r[3].find(']') - 8));
  }
}
