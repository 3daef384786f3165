// JournalReader over real journal files written by systemd-journal-remote from the
// journal export format (Debian package systemd-journal-remote; skipped when absent).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/logs/journald.hpp"
#include "agent/logs/parser.hpp"
#include "helpers.hpp"

using namespace halong::agent::logs;

namespace {

const char* kRemote = "/lib/systemd/systemd-journal-remote";

bool can_run() {
  if (!journal_available()) {
    WARN("SKIPPED: libsystemd.so.0 cannot be loaded");
    return false;
  }
  if (!std::filesystem::exists(kRemote)) {
    WARN("SKIPPED: " << kRemote << " is absent (Debian package systemd-journal-remote) to write test journals");
    return false;
  }
  return true;
}

struct Entry {
  std::string ident, msg;
};

// Writes entries (1 s apart from base_s) into dir/<file>.journal.
void write_journal(const std::string& dir, const std::string& file, int64_t base_s, const std::vector<Entry>& es) {
  std::string exp;
  for (size_t i = 0; i < es.size(); ++i) {
    exp += "__REALTIME_TIMESTAMP=" + std::to_string((base_s + int64_t(i)) * 1000000) + "\n";
    exp += "__MONOTONIC_TIMESTAMP=" + std::to_string(base_s + int64_t(i)) + "\n";
    exp += "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=bastion\n_PID=4242\n";
    exp += "SYSLOG_IDENTIFIER=" + es[i].ident + "\nMESSAGE=" + es[i].msg + "\n\n";
  }
  halong::test::overwrite(dir + "/" + file + ".export", exp);
  std::string cmd = std::string(kRemote) + " -o " + dir + "/" + file + ".journal - < " + dir + "/" + file +
                    ".export > /dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
}

std::vector<Entry> failures(int from, int n) {
  std::vector<Entry> out;
  for (int i = from; i < from + n; ++i)
    out.push_back({"sshd", "Failed password for root from 203.0.113." + std::to_string(i) + " port 22 ssh2"});
  return out;
}

}  // namespace

TEST_CASE("journald entries become syslog lines the sshd parser reads", "[agent][logs][journald]") {
  if (!can_run()) return;
  halong::test::TempDir d;
  std::filesystem::create_directories(d / "j");
  write_journal(d / "j", "a", 1795435200, failures(1, 3));
  JournalConfig c;
  c.directory = d / "j";
  c.from_start = true;
  c.fsync = false;
  auto r = JournalReader::open(c, d / "state");
  REQUIRE(r.ok());
  std::vector<std::string> lines;
  (*r)->poll([&](const JournalLine& l) { lines.emplace_back(l.text); });
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "2026-11-23T12:00:00.000000+0000 bastion sshd[4242]: Failed password for root from 203.0.113.1 port 22 ssh2");
  auto p = make_parser("sshd").value();
  halong::logs::LogEvent ev;
  REQUIRE(p->parse(lines[2], ev));
  CHECK(*ev.field("src_ip") == "203.0.113.3");
  CHECK(*ev.field("host") == "bastion");
  CHECK(ev.ts_us == (1795435200LL + 2) * 1000000);
}

TEST_CASE("journald reader resumes after the last synced cursor: nothing skipped or repeated",
          "[agent][logs][journald]") {
  if (!can_run()) return;
  halong::test::TempDir d;
  std::filesystem::create_directories(d / "j");
  write_journal(d / "j", "a", 1795435200, failures(1, 5));
  JournalConfig c;
  c.directory = d / "j";
  c.from_start = true;
  c.fsync = false;
  std::vector<std::string> got;
  {
    auto r = JournalReader::open(c, d / "state");
    REQUIRE(r.ok());
    int k = 0;
    (*r)->poll([&](const JournalLine& l) {
      if (++k <= 3) (*r)->commit(l.cursor);  // entries 4 and 5 handed over, not handled
    });
    REQUIRE((*r)->sync("seq=3").ok());
  }
  write_journal(d / "j", "b", 1795435300, failures(6, 2));  // written while we were down
  auto r = JournalReader::open(c, d / "state");
  REQUIRE(r.ok());
  CHECK((*r)->restored_app_state() == "seq=3");
  (*r)->poll([&](const JournalLine& l) { got.emplace_back(l.text.substr(l.text.rfind("203.0.113."))); });
  CHECK(got == std::vector<std::string>{"203.0.113.4 port 22 ssh2", "203.0.113.5 port 22 ssh2",
                                        "203.0.113.6 port 22 ssh2", "203.0.113.7 port 22 ssh2"});
}

TEST_CASE("journald reader without a cursor and from_start=false reads only new entries; matches filter",
          "[agent][logs][journald]") {
  if (!can_run()) return;
  halong::test::TempDir d;
  std::filesystem::create_directories(d / "j");
  write_journal(d / "j", "a", 1795435200, failures(1, 2));
  JournalConfig c;
  c.directory = d / "j";
  c.fsync = false;
  c.matches = {"SYSLOG_IDENTIFIER=sudo"};
  auto r = JournalReader::open(c, d / "state");
  REQUIRE(r.ok());
  std::vector<std::string> got;
  CHECK((*r)->poll([&](const JournalLine& l) { got.emplace_back(l.text); }) == 0);
  write_journal(d / "j", "b", 1795435300,
                {{"sudo", "alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/id"}, {"sshd", "not matched"}});
  (*r)->wait(200);
  (*r)->poll([&](const JournalLine& l) { got.emplace_back(l.text); });
  REQUIRE(got.size() == 1);
  CHECK_THAT(got[0], Catch::Contains("sudo[4242]: alice : TTY=pts/0"));
  c.matches = {"no-equals-sign"};
  auto bad = JournalReader::open(c, d / "state2");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("no-equals-sign"));
}
