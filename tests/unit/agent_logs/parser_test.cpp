#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "agent/logs/parser.hpp"

using halong::agent::logs::make_parser;
using halong::agent::logs::ParserOptions;
using halong::agent::logs::Parser;
using halong::logs::LogEvent;

namespace {

// 2026-11-23T12:00:00Z
constexpr int64_t kNow = 1795435200LL * 1000000;

std::unique_ptr<Parser> parser(const char* fmt) {
  ParserOptions o;
  o.now_us = kNow;
  auto p = make_parser(fmt, o);
  REQUIRE(p.ok());
  return std::move(*p);
}

std::string F(const LogEvent& ev, const char* name) {
  const std::string* v = ev.field(name);
  return v ? *v : std::string("<absent>");
}

}  // namespace

TEST_CASE("make_parser rejects an unknown format and lists the known ones", "[agent][logs][parser]") {
  auto p = make_parser("windows-evtx");
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().code == halong::ErrorCode::invalid_argument);
  CHECK_THAT(p.error().message, Catch::Contains("windows-evtx") && Catch::Contains("sshd") &&
                                    Catch::Contains("auditd") && Catch::Contains("json"));
  for (auto f : halong::agent::logs::known_formats()) CHECK(make_parser(f).ok());
}

TEST_CASE("syslog header: RFC 3164 time, host, program, pid and message", "[agent][logs][parser]") {
  auto p = parser("syslog");
  LogEvent ev;
  REQUIRE(p->parse("Nov 23 11:59:58 web01 cron[812]: (root) CMD (run-parts /etc/cron.hourly)", ev));
  CHECK(F(ev, "host") == "web01");
  CHECK(F(ev, "program") == "cron");
  CHECK(F(ev, "pid") == "812");
  CHECK(F(ev, "message") == "(root) CMD (run-parts /etc/cron.hourly)");
  CHECK(ev.ts_us == kNow - 2'000'000);
  CHECK(ev.format == "syslog");
}

TEST_CASE("syslog header: a line without year more than a week ahead belongs to the previous year", "[agent][logs][parser]") {
  ParserOptions o;
  o.now_us = 1767225600LL * 1000000;  // 2026-01-01T00:00:00Z
  auto p = make_parser("syslog", o).value();
  LogEvent ev;
  REQUIRE(p->parse("Dec 31 23:59:59 h kernel: x", ev));
  CHECK(ev.ts_us == 1767225599LL * 1000000);
  REQUIRE(p->parse("Jan  1 00:00:01 h kernel: x", ev));  // single-digit day, two spaces
  CHECK(ev.ts_us == 1767225601LL * 1000000);
  auto q = parser("syslog");  // reference 2026-11-23
  REQUIRE(q->parse("Dec 10 07:28:14 h sshd[1]: x", ev));  // an old log: December 2025, not next month
  CHECK(ev.ts_us == 1765351694LL * 1000000);
  REQUIRE(q->parse("Nov 29 00:00:00 h sshd[1]: x", ev));  // within a week ahead: clock skew, same year
  CHECK(ev.ts_us == 1795910400LL * 1000000);
}

TEST_CASE("syslog header: ISO timestamps, PRI and RFC 5424 with structured data", "[agent][logs][parser]") {
  auto p = parser("syslog");
  LogEvent ev;
  REQUIRE(p->parse("2026-11-23T19:00:00.250000+07:00 db1 postgres[77]: LOG:  checkpoint", ev));
  CHECK(ev.ts_us == kNow + 250000);
  CHECK(F(ev, "program") == "postgres");
  CHECK(F(ev, "message") == "LOG:  checkpoint");

  REQUIRE(p->parse("<34>Nov 23 12:00:00 fw1 su: 'su root' failed for lonvick on /dev/pts/8", ev));
  CHECK(F(ev, "facility") == "4");
  CHECK(F(ev, "severity") == "2");
  CHECK(F(ev, "program") == "su");

  REQUIRE(p->parse(R"(<165>1 2026-11-23T12:00:00.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App\]lication"] BOMAn application event)",
                   ev));
  CHECK(ev.ts_us == kNow + 3000);
  CHECK(F(ev, "host") == "mymachine.example.com");
  CHECK(F(ev, "program") == "evntslog");
  CHECK(F(ev, "pid") == "<absent>");
  CHECK(F(ev, "msgid") == "ID47");
  CHECK(F(ev, "structured_data") == R"([exampleSDID@32473 iut="3" eventSource="App\]lication"])");
  CHECK(F(ev, "message") == "BOMAn application event");
  CHECK(F(ev, "facility") == "20");
  CHECK(F(ev, "severity") == "5");

  CHECK_FALSE(p->parse("this is not syslog", ev));
  CHECK(ev.raw == "this is not syslog");
}

TEST_CASE("sshd: failed and accepted logins give user, source address, port, method, outcome",
          "[agent][logs][parser]") {
  auto p = parser("sshd");
  LogEvent ev;
  REQUIRE(p->parse("Nov 23 12:00:01 bastion sshd[4242]: Failed password for invalid user ad min from 203.0.113.9 port 52144 ssh2", ev));
  CHECK(F(ev, "event") == "auth_failure");
  CHECK(F(ev, "outcome") == "failure");
  CHECK(F(ev, "method") == "password");
  CHECK(F(ev, "user") == "ad min");
  CHECK(F(ev, "invalid_user") == "true");
  CHECK(F(ev, "src_ip") == "203.0.113.9");
  CHECK(F(ev, "src_port") == "52144");

  REQUIRE(p->parse("Nov 23 12:00:02 bastion sshd[4243]: Accepted publickey for deploy from 2001:db8::7 port 40022 ssh2: ED25519 SHA256:abc", ev));
  CHECK(F(ev, "event") == "auth_success");
  CHECK(F(ev, "outcome") == "success");
  CHECK(F(ev, "method") == "publickey");
  CHECK(F(ev, "user") == "deploy");
  CHECK(F(ev, "src_ip") == "2001:db8::7");
  CHECK(F(ev, "invalid_user") == "<absent>");

  REQUIRE(p->parse("Nov 23 12:00:03 bastion sshd[4244]: Disconnected from authenticating user root 198.51.100.4 port 6000 [preauth]", ev));
  CHECK(F(ev, "event") == "disconnected");
  CHECK(F(ev, "user") == "root");
  CHECK(F(ev, "src_ip") == "198.51.100.4");
  CHECK(F(ev, "src_port") == "6000");

  REQUIRE(p->parse("Nov 23 12:00:04 bastion sshd[4245]: message repeated 2 times: [ Failed password for root from 198.51.100.4 port 6001 ssh2]", ev));
  CHECK(F(ev, "repeated") == "2");
  CHECK(F(ev, "event") == "auth_failure");
  CHECK(F(ev, "user") == "root");

  REQUIRE(p->parse("Nov 23 12:00:05 bastion sshd[4246]: Received disconnect from 2001:db8::9 port 22: 11: Bye Bye [preauth]", ev));
  CHECK(F(ev, "src_ip") == "2001:db8::9");
}

TEST_CASE("pam lines give Sigma's pam_* fields (lnx_auth_susp_failed_logons_single_source)",
          "[agent][logs][parser]") {
  auto p = parser("auth");
  LogEvent ev;
  REQUIRE(p->parse("Nov 23 12:00:01 h sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root", ev));
  CHECK(F(ev, "pam_module") == "pam_unix");
  CHECK(F(ev, "pam_service") == "sshd");
  CHECK(F(ev, "pam_type") == "auth");
  CHECK(F(ev, "pam_message") == "authentication failure");
  CHECK(F(ev, "pam_user") == "root");
  CHECK(F(ev, "pam_rhost") == "203.0.113.9");
  CHECK(F(ev, "pam_ruser") == "");
  CHECK(F(ev, "user") == "root");
  CHECK(F(ev, "src_ip") == "203.0.113.9");

  REQUIRE(p->parse("Nov 23 12:00:01 h su[9]: pam_unix(su:session): session opened for user root(uid=0) by alice(uid=1000)", ev));
  CHECK(F(ev, "pam_service") == "su");
  CHECK(F(ev, "user") == "root");
}

TEST_CASE("sudo: command lines and failures give user, USER, COMMAND, reason", "[agent][logs][parser]") {
  auto p = parser("sudo");
  LogEvent ev;
  REQUIRE(p->parse("Nov 23 12:00:01 h sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/bash -c echo a ; id", ev));
  CHECK(F(ev, "user") == "alice");
  CHECK(F(ev, "TTY") == "pts/0");
  CHECK(F(ev, "PWD") == "/home/alice");
  CHECK(F(ev, "USER") == "root");
  CHECK(F(ev, "COMMAND") == "/usr/bin/bash -c echo a ; id");
  CHECK(F(ev, "outcome") == "success");

  REQUIRE(p->parse("Nov 23 12:00:02 h sudo:      bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/tmp ; USER=#-1 ; COMMAND=/bin/sh", ev));
  CHECK(F(ev, "user") == "bob");
  CHECK(F(ev, "reason") == "3 incorrect password attempts");
  CHECK(F(ev, "USER") == "#-1");
  CHECK(F(ev, "outcome") == "failure");
}

TEST_CASE("auditd: records give their key=value fields, hex strings decoded, syscall named",
          "[agent][logs][parser]") {
  auto p = parser("auditd");
  LogEvent ev;
  REQUIRE(p->parse(R"(type=SYSCALL msg=audit(1795435200.123:500): arch=c000003e syscall=319 success=yes exit=3 a0=7ffd a1=0 items=0 ppid=10 pid=11 auid=1000 uid=1000 gid=1000 euid=1000 tty=pts0 ses=2 comm="ecasound" exe="/usr/bin/ecasound" key=(null))",
                   ev));
  CHECK(F(ev, "type") == "SYSCALL");
  CHECK(F(ev, "SYSCALL") == "memfd_create");
  CHECK(F(ev, "syscall") == "319");
  CHECK(F(ev, "exe") == "/usr/bin/ecasound");
  CHECK(F(ev, "a0") == "7ffd");  // registers stay as written
  CHECK(ev.ts_us == kNow + 123000);

  REQUIRE(p->parse("type=EXECVE msg=audit(1795435201.000:501): argc=3 a0=\"sysctl\" a1=\"-w\" a2=6B65726E656C2E72616E646F6D697A655F76615F73706163653D30", ev));
  CHECK(F(ev, "a0") == "sysctl");
  CHECK(F(ev, "a2") == "kernel.randomize_va_space=0");

  REQUIRE(p->parse(R"(type=USER_AUTH msg=audit(1795435202.000:502): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=? acct="root" exe="/usr/sbin/sshd" hostname=203.0.113.9 addr=203.0.113.9 terminal=ssh res=failed')",
                   ev));
  CHECK(F(ev, "acct") == "root");
  CHECK(F(ev, "res") == "failed");
  CHECK(F(ev, "addr") == "203.0.113.9");
}

TEST_CASE("auditd: SYSCALL+EXECVE+CWD of one execve join into a process_creation event with ParentImage",
          "[agent][logs][parser]") {
  auto p = parser("auditd");
  LogEvent ev;
  std::vector<std::vector<std::pair<std::string, std::string>>> derived;
  std::vector<std::string> categories;
  auto feed = [&](const std::string& line) {
    REQUIRE(p->parse(line, ev));
    while (p->next_derived(ev)) {
      derived.push_back(ev.fields);
      categories.push_back(ev.source ? ev.source->category : "");
    }
  };
  // the parent: bash started by pid 1
  feed(R"(type=SYSCALL msg=audit(1795435200.000:600): arch=c000003e syscall=59 success=yes exit=0 items=2 ppid=1 pid=900 auid=1000 uid=1000 euid=1000 comm="bash" exe="/usr/bin/bash" key="exec")");
  feed(R"(type=EXECVE msg=audit(1795435200.000:600): argc=2 a0="bash" a1="-i")");
  feed(R"(type=EOE msg=audit(1795435200.000:600): )");
  REQUIRE(derived.size() == 1);
  // the child: curl run from that bash, argument with spaces hex-encoded, no EOE record
  feed(R"(type=SYSCALL msg=audit(1795435201.500:601): arch=c000003e syscall=59 success=yes exit=0 items=2 ppid=900 pid=901 auid=1000 uid=1000 euid=0 comm="curl" exe="/usr/bin/curl" key="exec")");
  feed(R"(type=EXECVE msg=audit(1795435201.500:601): argc=3 a0="curl" a1="-o" a2=2F746D702F6120622E7368)");
  feed(R"(type=CWD msg=audit(1795435201.500:601): cwd="/home/alice")");
  feed(R"(type=PATH msg=audit(1795435201.500:601): item=0 name="/usr/bin/curl" inode=5 dev=08:01 mode=0100755 nametype=NORMAL)");
  CHECK(derived.size() == 1);  // still open: no EOE yet
  p->flush();
  while (p->next_derived(ev)) {
    derived.push_back(ev.fields);
    categories.push_back(ev.source->category);
  }
  REQUIRE(derived.size() == 2);
  LogEvent child;
  child.fields = derived[1];
  CHECK(categories[1] == "process_creation");
  CHECK(F(child, "Image") == "/usr/bin/curl");
  CHECK(F(child, "CommandLine") == "curl -o /tmp/a b.sh");
  CHECK(F(child, "User") == "1000");
  CHECK(F(child, "ProcessId") == "901");
  CHECK(F(child, "ParentProcessId") == "900");
  CHECK(F(child, "CurrentDirectory") == "/home/alice");
  CHECK(F(child, "ParentImage") == "/usr/bin/bash");
  CHECK(F(child, "ParentCommandLine") == "bash -i");
  CHECK(F(child, "euid") == "0");
}

TEST_CASE("access log (combined): Sigma webserver fields", "[agent][logs][parser]") {
  auto p = parser("nginx");
  LogEvent ev;
  REQUIRE(p->parse(R"(198.51.100.7 - admin [23/Nov/2026:19:00:00 +0700] "GET /cgi-bin/luci/;stok=/locale?form=country&x=%24%7Bjndi HTTP/1.1" 404 153 "http://example.org/a \"q\"" "Mozilla/5.0 (X11; Linux x86_64) sqlmap/1.7")",
                   ev));
  CHECK(ev.ts_us == kNow);
  CHECK(F(ev, "c-ip") == "198.51.100.7");
  CHECK(F(ev, "cs-username") == "admin");
  CHECK(F(ev, "cs-method") == "GET");
  CHECK(F(ev, "cs-uri-stem") == "/cgi-bin/luci/;stok=/locale");
  CHECK(F(ev, "cs-uri-query") == "form=country&x=%24%7Bjndi");
  CHECK(F(ev, "cs-uri") == "/cgi-bin/luci/;stok=/locale?form=country&x=%24%7Bjndi");
  CHECK(F(ev, "c-uri") == F(ev, "cs-uri"));
  CHECK(F(ev, "cs-version") == "HTTP/1.1");
  CHECK(F(ev, "sc-status") == "404");
  CHECK(F(ev, "sc-bytes") == "153");
  CHECK(F(ev, "cs-referer") == "http://example.org/a \"q\"");
  CHECK(F(ev, "cs-user-agent") == "Mozilla/5.0 (X11; Linux x86_64) sqlmap/1.7");
  CHECK(F(ev, "c-useragent") == F(ev, "cs-user-agent"));
  CHECK(F(ev, "date") == "2026-11-23");
  CHECK(F(ev, "time") == "19:00:00");

  REQUIRE(p->parse(R"(10.0.0.1 - - [23/Nov/2026:12:00:00 +0000] "GET /shell.php HTTP/1.0" 200 - "-" "-")", ev));
  CHECK(F(ev, "cs-username") == "<absent>");
  CHECK(F(ev, "cs-uri-query") == "<absent>");
  CHECK(F(ev, "c-uri-extension") == "php");
  CHECK(F(ev, "cs-referer") == "<absent>");
  CHECK(F(ev, "sc-bytes") == "<absent>");

  // a binary probe: the request line is not METHOD URI VERSION
  REQUIRE(p->parse(R"(10.0.0.2 - - [23/Nov/2026:12:00:00 +0000] "\x16\x03\x01" 400 0 "-" "-")", ev));
  CHECK(F(ev, "sc-status") == "400");
  CHECK(F(ev, "cs-method") == "\\x16\\x03\\x01");

  CHECK_FALSE(p->parse("10.0.0.3 - - [bad time] \"GET / HTTP/1.1\" 200 1", ev));

  // Apache vhost_combined: the virtual host and port come first
  REQUIRE(p->parse(R"(portal.gov.example:443 203.0.113.8 - - [23/Nov/2026:12:00:00 +0000] "POST /upload.jsp HTTP/1.1" 200 5 "-" "curl/8.0")", ev));
  CHECK(F(ev, "cs-host") == "portal.gov.example");
  CHECK(F(ev, "s-port") == "443");
  CHECK(F(ev, "c-ip") == "203.0.113.8");
  CHECK(F(ev, "cs-method") == "POST");
  CHECK(F(ev, "cs-user-agent") == "curl/8.0");
}

TEST_CASE("error logs: Apache 2.4 and nginx give level, client address, message", "[agent][logs][parser]") {
  auto p = parser("apache");
  LogEvent ev;
  REQUIRE(p->parse("[Mon Nov 23 12:00:00.500000 2026] [core:error] [pid 1234:tid 99] [client 203.0.113.5:51000] AH00126: Invalid URI in request GET /../../etc/passwd HTTP/1.1", ev));
  CHECK(ev.ts_us == kNow + 500000);
  CHECK(F(ev, "module") == "core");
  CHECK(F(ev, "level") == "error");
  CHECK(F(ev, "pid") == "1234");
  CHECK(F(ev, "c-ip") == "203.0.113.5");
  CHECK_THAT(F(ev, "message"), Catch::Contains("AH00126: Invalid URI"));
  REQUIRE(p->parse("2026/11/23 12:00:00 [error] 31#31: *7 open() \"/usr/share/nginx/html/.env\" failed (2: No such file or directory), client: 198.51.100.3, server: _, request: \"GET /.env HTTP/1.1\"", ev));
  CHECK(F(ev, "level") == "error");
  CHECK(F(ev, "c-ip") == "198.51.100.3");
  CHECK(F(ev, "pid") == "31");
}

TEST_CASE("json lines: dotted paths, arrays by index, time from @timestamp", "[agent][logs][parser]") {
  auto p = parser("json");
  LogEvent ev;
  REQUIRE(p->parse(R"({"@timestamp":"2026-11-23T12:00:00Z","user":{"name":"alice","id":7},"tags":["a","b"],"ok":true,"none":null,"process":{"args":["curl","-k"]}})",
                   ev));
  CHECK(ev.ts_us == kNow);
  CHECK(F(ev, "user.name") == "alice");
  CHECK(F(ev, "user.id") == "7");
  CHECK(F(ev, "tags.0") == "a");
  CHECK(F(ev, "tags.1") == "b");
  CHECK(F(ev, "ok") == "true");
  CHECK(F(ev, "none") == "<absent>");
  CHECK(F(ev, "process.args.1") == "-k");
  REQUIRE(p->parse(R"({"ts":1795435200.5})", ev));
  CHECK(ev.ts_us == kNow + 500000);
  CHECK_FALSE(p->parse("[1,2,3]", ev));
  CHECK_FALSE(p->parse("{\"a\":", ev));
  std::string deep(5000, '[');
  CHECK_FALSE(p->parse("{\"a\":" + deep, ev));
}

TEST_CASE("every parser survives random bytes and truncated lines", "[agent][logs][parser]") {
  std::mt19937 rng(42);
  std::vector<std::string> seeds = {
      "Nov 23 12:00:01 h sshd[1]: Failed password for invalid user x from 1.2.3.4 port 5 ssh2",
      "<165>1 2026-11-23T12:00:00.003Z host app - ID47 [a b=\"c\"] msg",
      R"(type=EXECVE msg=audit(1795435201.000:501): argc=3 a0="sysctl" a1=41424)",
      R"(1.2.3.4 - - [23/Nov/2026:12:00:00 +0000] "GET /a?b HTTP/1.1" 200 1 "r" "ua")",
      "[Mon Nov 23 12:00:00 2026] [error] [client 1.2.3.4] x",
      R"({"a":{"b":[1,2,{"c":"d"}]}})",
      "Nov 23 12:00:01 h sudo: a : TTY=x ; COMMAND=y",
  };
  for (auto fmt : halong::agent::logs::known_formats()) {
    auto p = parser(std::string(fmt).c_str());
    LogEvent ev;
    for (const auto& s : seeds) {
      for (size_t cut = 0; cut <= s.size(); ++cut) {
        p->parse(std::string_view(s).substr(0, cut), ev);
        while (p->next_derived(ev)) {
        }
      }
      for (int k = 0; k < 200; ++k) {
        std::string m = s;
        for (int j = 0; j < 4; ++j) m[rng() % m.size()] = static_cast<char>(rng() % 256);
        p->parse(m, ev);
        while (p->next_derived(ev)) {
        }
      }
    }
    p->flush();
    while (p->next_derived(ev)) {
    }
  }
  SUCCEED("no crash");
}
