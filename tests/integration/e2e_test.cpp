// End to end: a pcap or a log file, through the real agent binary, over TLS WebSocket,
// into the real collector, read back through the HTTP API, and again after a restart.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/logs/journald.hpp"
#include "agent/logs/tail_state.hpp"
#include "tests/integration/harness.hpp"

using namespace halong::testing;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

bool have_corpus() {
  if (fs::exists(corpus_dir() / "README.md")) return true;
  WARN("SKIPPED: " << corpus_dir() << " is absent (the shared test corpus); this test needs it");
  return false;
}

// The rule line with `sid:<sid>;` from an Emerging Threats rules file, read in place.
std::string et_rule(const std::string& file, uint64_t sid) {
  std::ifstream in(corpus_dir() / "et-open" / "rules" / file);
  std::string line, needle = "sid:" + std::to_string(sid) + ";";
  while (std::getline(in, line))
    if (line.rfind("alert ", 0) == 0 && line.find(needle) != std::string::npos) return line;
  return {};
}

std::string agent_config(const CollectorProcess& c, const fs::path& dir) {
  return "agent:\n  id: e2e-agent\n  hostname: e2e.example.gov.vn\n  agency: so-test\n  data_dir: " +
         (dir / "agent").string() + "\ncollector:\n  address: 127.0.0.1:" + std::to_string(c.gateway_port()) +
         "\n  token: " + c.enroll_token() + "\n  ca_file: " + c.ca_file().string() + "\n";
}

std::string jstr(const json::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}
int64_t jint(const json::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() ? it->value().to_number<int64_t>() : -1;
}

// A pushed ruleset reaches a running agent asynchronously: appends a line with `keyword` to
// the tailed log every 100 ms until an alert is stored (at most 15 s); the number stored.
size_t append_until_alert(CollectorProcess& c, const fs::path& log, const std::string& keyword) {
  size_t got = 0;
  for (int i = 0; i < 150 && got == 0; ++i) {
    {
      std::ofstream out(log, std::ios::app);
      out << "line " << i << " " << keyword << "\n";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    got = c.alerts().size();
  }
  return got;
}

}  // namespace

TEST_CASE("an ET Open rule alert on a corpus pcap reaches the API and survives a collector restart",
          "[e2e][network]") {
  if (!have_corpus()) return;
  TempDir tmp;
  const auto rule = et_rule("emerging-attack_response.rules", 2100498);
  REQUIRE_FALSE(rule.empty());
  write_file(tmp / "et.rules", rule + "\n");

  CollectorProcess collector(tmp / "collector");
  collector.start();
  write_file(tmp / "agent.yaml", agent_config(collector, tmp.path()));

  auto r = run({agent_binary(), "replay", "--config", (tmp / "agent.yaml").string(), "--pcap",
                (corpus_dir() / "suricata-verify" / "alert-testmyids" / "input.pcap").string(), "--rules",
                (tmp / "et.rules").string(), "--send"},
               tmp.path());
  INFO("agent stderr: " << r.err << "\ncollector: " << collector.log());
  REQUIRE(r.code == 0);

  // Ground truth from the pcap (tcpdump): packet 6 is the server's HTTP response
  // 82.165.177.154:80 -> 10.16.1.11:54186 carrying "uid=0(root)"; Suricata's own
  // expectation for this case (index.json) is exactly one alert.
  auto check = [&] {
    auto alerts = collector.alerts();
    REQUIRE(alerts.size() == 1);
    const auto& a = alerts[0];
    REQUIRE(a.at("alert").as_object().at("signature_id").to_number<uint64_t>() == 2100498);
    REQUIRE(jstr(a.at("alert").as_object(), "signature") == "GPL ATTACK_RESPONSE id check returned root");
    REQUIRE(jstr(a, "src_ip") == "82.165.177.154");
    REQUIRE(jint(a, "src_port") == 80);
    REQUIRE(jstr(a, "dest_ip") == "10.16.1.11");
    REQUIRE(jint(a, "dest_port") == 54186);
    REQUIRE(jstr(a, "proto") == "TCP");
    REQUIRE(jstr(a.at("agent").as_object(), "id") == "e2e-agent");
    REQUIRE(jstr(a, "timestamp") == "2016-07-13T22:42:07.388030+0000");  // packet 6: its own capture time
    // by id and by filter
    auto one = http_get(collector.api_port(), "/api/v1/alerts/" + jstr(a, "id"), collector.api_token());
    REQUIRE(one.status == 200);
    REQUIRE(collector.alerts("sid=2100498").size() == 1);
    REQUIRE(collector.alerts("sid=1").empty());
    REQUIRE(collector.alerts("agent=e2e-agent").size() == 1);
    REQUIRE(collector.alerts("agent=someone-else").empty());
  };
  check();
  collector.stop();
  collector.start();
  check();

  // Replaying the same pcap again is a new run of the agent: new alerts, new sequence
  // numbers (the agent's spool keeps counting), so the store holds two. The restarted
  // collector listens on a new port.
  write_file(tmp / "agent.yaml", agent_config(collector, tmp.path()));
  auto r2 = run({agent_binary(), "replay", "--config", (tmp / "agent.yaml").string(), "--pcap",
                 (corpus_dir() / "suricata-verify" / "alert-testmyids" / "input.pcap").string(), "--rules",
                 (tmp / "et.rules").string(), "--send"},
                tmp.path());
  INFO("second run: " << r2.err);
  REQUIRE(r2.code == 0);
  REQUIRE(collector.alerts("sid=2100498").size() == 2);
}

TEST_CASE("a Sigma keyword rule on a real sshd log reaches the API with exact counts", "[e2e][logs]") {
  if (!have_corpus()) return;
  TempDir tmp;
  const auto log = corpus_dir() / "loghub" / "OpenSSH" / "OpenSSH_2k.log";
  REQUIRE(fs::exists(log));
  write_file(tmp / "breakin.yml", R"(title: SSH reverse mapping failed, possible break-in attempt
id: 0b1f2a8e-6d6c-4b8e-9d3a-2a8c1f0e5d11
status: test
description: sshd could not map the client's address back to its name
logsource:
  product: linux
  service: sshd
detection:
  keywords:
    - 'POSSIBLE BREAK-IN ATTEMPT'
  condition: keywords
level: low
)");
  // Independent count: lines of the file containing the keyword.
  size_t expected = 0;
  std::set<uint64_t> expected_offsets;
  {
    std::ifstream in(log, std::ios::binary);
    std::string line;
    uint64_t off = 0;
    while (std::getline(in, line)) {
      if (line.find("POSSIBLE BREAK-IN ATTEMPT") != std::string::npos) {
        ++expected;
        expected_offsets.insert(off);
      }
      off += line.size() + 1;
    }
  }
  REQUIRE(expected > 0);

  CollectorProcess collector(tmp / "collector");
  collector.start();
  write_file(tmp / "agent.yaml", agent_config(collector, tmp.path()) +
                                     "logs:\n  - paths: [" + log.string() + "]\n    format: sshd\n    service: sshd\n");
  auto r = run({agent_binary(), "replay", "--config", (tmp / "agent.yaml").string(), "--logs-from-config", "--rules",
                (tmp / "breakin.yml").string(), "--send"},
               tmp.path());
  INFO("agent stderr: " << r.err << "\ncollector: " << collector.log());
  REQUIRE(r.code == 0);

  auto check = [&] {
    auto alerts = collector.alerts();
    REQUIRE(alerts.size() == expected);
    std::set<uint64_t> offsets;
    for (const auto& a : alerts) {
      const auto& al = a.at("alert").as_object();
      REQUIRE(jstr(al, "engine") == "sigma");
      REQUIRE(jstr(al, "signature") == "SSH reverse mapping failed, possible break-in attempt");
      REQUIRE(jstr(al, "rule_id") == "0b1f2a8e-6d6c-4b8e-9d3a-2a8c1f0e5d11");
      const auto& lg = a.at("log").as_object();
      REQUIRE(jstr(lg, "path") == log.string());
      REQUIRE(jstr(lg, "line").find("POSSIBLE BREAK-IN ATTEMPT") != std::string::npos);
      offsets.insert(lg.at("offset").to_number<uint64_t>());
    }
    REQUIRE(offsets == expected_offsets);  // each matching line once, none twice
  };
  check();
  collector.stop();
  collector.start();
  check();
}

TEST_CASE("bad input gets a clear error and a non-zero exit", "[e2e][errors]") {
  TempDir tmp;
  write_file(tmp / "ok.rules",
             "alert tcp any any -> any any (msg:\"x\"; content:\"abc\"; sid:1; rev:1;)\n");

  SECTION("a missing pcap names the file") {
    auto r = run({agent_binary(), "replay", "--pcap", (tmp / "nope.pcap").string(), "--rules",
                  (tmp / "ok.rules").string()},
                 tmp.path());
    REQUIRE(r.code != 0);
    REQUIRE(r.code < 128);  // an error, not a crash
    REQUIRE_THAT(r.err, Catch::Contains("nope.pcap"));
  }
  SECTION("a corrupt pcap names the file") {
    write_file(tmp / "bad.pcap", std::string("\xd4\xc3\xb2\xa1garbage-garbage-garbage", 27));
    auto r = run({agent_binary(), "replay", "--pcap", (tmp / "bad.pcap").string(), "--rules",
                  (tmp / "ok.rules").string()},
                 tmp.path());
    REQUIRE(r.code != 0);
    REQUIRE(r.code < 128);
    REQUIRE_THAT(r.err, Catch::Contains("bad.pcap"));
  }
  SECTION("a truncated corpus pcap: alerts before the damage, then a clear error") {
    if (!have_corpus()) return;
    auto full = read_file(corpus_dir() / "suricata-verify" / "alert-testmyids" / "input.pcap");
    write_file(tmp / "cut.pcap", full.substr(0, full.size() - 100));
    auto r = run({agent_binary(), "replay", "--pcap", (tmp / "cut.pcap").string(), "--rules",
                  (tmp / "ok.rules").string()},
                 tmp.path());
    REQUIRE(r.code < 128);
    if (r.code != 0) REQUIRE_THAT(r.err, Catch::Contains("cut.pcap"));
  }
  SECTION("a rule line that does not parse is reported with file:line") {
    write_file(tmp / "bad.rules",
               "alert tcp any any -> any any (msg:\"fine\"; content:\"a\"; sid:10;)\n"
               "# comment\n"
               "alert tcp any any -> any any (msg:\"broken\"; content:\"|4G|\"; sid:11;)\n");
    auto r = run({agent_binary(), "rules", "check", (tmp / "bad.rules").string()}, tmp.path());
    REQUIRE(r.code == 1);
    REQUIRE_THAT(r.out, Catch::Contains("bad.rules:3"));
    REQUIRE_THAT(r.out, Catch::Contains("1 loaded"));
  }
  SECTION("a config error names file:line and key") {
    write_file(tmp / "agent.yaml", "capture:\n  snaplen: many\n");
    auto r = run({agent_binary(), "check-config", "--config", (tmp / "agent.yaml").string()}, tmp.path());
    REQUIRE(r.code == 2);
    REQUIRE_THAT(r.err, Catch::Contains("agent.yaml:2: capture.snaplen"));
  }
}

TEST_CASE("the agent refuses a wrong token and reports a collector that is not there", "[e2e][errors]") {
  TempDir tmp;
  write_file(tmp / "kw.yml",
             "title: abc seen\nid: 6f1c1d2e-0000-4000-8000-00000000abcd\nlogsource:\n  product: linux\n"
             "detection:\n  keywords: [abc]\n  condition: keywords\nlevel: high\n");
  CollectorProcess collector(tmp / "collector");
  collector.start();

  SECTION("wrong token") {
    write_file(tmp / "agent.yaml", "agent:\n  id: a1\n  data_dir: " + (tmp / "agent").string() +
                                       "\ncollector:\n  address: 127.0.0.1:" + std::to_string(collector.gateway_port()) +
                                       "\n  token: not-the-token\n  ca_file: " + collector.ca_file().string() + "\n");
    write_file(tmp / "x.log", "abc\n");
    auto r = run({agent_binary(), "replay", "--config", (tmp / "agent.yaml").string(), "--log",
                  (tmp / "x.log").string(), "--format", "raw", "--rules", (tmp / "kw.yml").string(), "--send"},
                 tmp.path(), std::chrono::seconds(60));
    REQUIRE(r.code != 0);
    REQUIRE(r.code < 128);
    REQUIRE_THAT(r.err, Catch::Contains("token"));
  }
  SECTION("no collector: the agent says so, retries, and gives up at its deadline") {
    collector.stop();
    write_file(tmp / "agent.yaml", "agent:\n  id: a1\n  data_dir: " + (tmp / "agent").string() +
                                       "\ncollector:\n  address: 127.0.0.1:" + std::to_string(collector.gateway_port()) +
                                       "\n  token: t\n  ca_file: " + collector.ca_file().string() + "\n");
    write_file(tmp / "x.log", "abc\n");
    auto r = run({agent_binary(), "replay", "--config", (tmp / "agent.yaml").string(), "--log",
                  (tmp / "x.log").string(), "--format", "raw", "--rules", (tmp / "kw.yml").string(), "--send",
                  "--send-timeout", "3s"},
                 tmp.path(), std::chrono::seconds(60));
    REQUIRE(r.code != 0);
    REQUIRE(r.code < 128);
    REQUIRE_THAT(r.err, Catch::Contains("not reachable"));
    REQUIRE_THAT(r.err, Catch::Contains("retry"));
  }
}

TEST_CASE("a running agent tails a log, ships alerts as lines arrive, and resumes after a restart without repeats",
          "[e2e][run]") {
  TempDir tmp;
  write_file(tmp / "kw.yml",
             "title: canary seen\nid: 3c2b1a00-0000-4000-8000-0000000000aa\nlogsource:\n  product: linux\n"
             "detection:\n  keywords: ['CANARY-7f3a']\n  condition: keywords\nlevel: high\n");
  CollectorProcess collector(tmp / "collector");
  collector.start();
  fs::create_directories(tmp / "agent");
  write_file(tmp / "agent.yaml", agent_config(collector, tmp.path()) + "rules:\n  logs: [" + (tmp / "kw.yml").string() +
                                     "]\nlogs:\n  - paths: [" + (tmp / "app.log").string() + "]\n    format: raw\n");
  auto append = [&](int from, int to) {
    std::ofstream out(tmp / "app.log", std::ios::app);
    for (int i = from; i < to; ++i) out << "line " << i << (i % 10 == 0 ? " CANARY-7f3a" : "") << "\n";
  };
  auto wait_for_count = [&](size_t n) {
    for (int i = 0; i < 300; ++i) {
      if (collector.alerts().size() >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return collector.alerts().size();
  };
  append(0, 50);  // 5 canaries (lines 0, 10, 20, 30, 40)
  Process agent;
  agent.start({agent_binary(), "run", "--config", (tmp / "agent.yaml").string()}, tmp / "agent.out", tmp / "agent.err");
  INFO("agent: " << read_file(tmp / "agent.err") << "\ncollector: " << collector.log());
  REQUIRE(wait_for_count(5) == 5);
  append(50, 100);  // 5 more while it runs
  REQUIRE(wait_for_count(10) == 10);
  {
    // The collector knows the agent and its health.
    auto r = http_get(collector.api_port(), "/api/v1/agents/e2e-agent", collector.api_token());
    REQUIRE(r.status == 200);
    auto o = json::parse(r.body).as_object();
    REQUIRE(jstr(o, "state") == "online");
    REQUIRE(o.at("connected").as_bool());
    auto all = http_get(collector.api_port(), "/api/v1/agents", collector.api_token());
    REQUIRE(all.status == 200);
    REQUIRE(json::parse(all.body).as_object().at("agents").as_array().size() == 1);
    REQUIRE(http_get(collector.api_port(), "/api/v1/agents/nobody", collector.api_token()).status == 404);
  }
  agent.kill(SIGTERM);
  REQUIRE(agent.wait(std::chrono::seconds(30)).value_or(-1) == 0);

  // Restart: the lines already read are not read again; new ones are.
  append(100, 130);  // 3 more
  Process agent2;
  agent2.start({agent_binary(), "run", "--config", (tmp / "agent.yaml").string()}, tmp / "agent.out", tmp / "agent.err");
  REQUIRE(wait_for_count(13) == 13);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto alerts = collector.alerts();
  REQUIRE(alerts.size() == 13);
  std::set<uint64_t> offsets;
  for (const auto& a : alerts) offsets.insert(a.at("log").as_object().at("offset").to_number<uint64_t>());
  REQUIRE(offsets.size() == 13);  // every canary line exactly once
  agent2.kill(SIGTERM);
  REQUIRE(agent2.wait(std::chrono::seconds(30)).value_or(-1) == 0);
}

TEST_CASE("a running agent with the syslog listener turns a UDP syslog message into an alert", "[e2e][run][syslog]") {
  TempDir tmp;
  write_file(tmp / "kw.yml",
             "title: canary over syslog\nid: 3c2b1a00-0000-4000-8000-0000000000bb\nlogsource:\n  product: linux\n"
             "detection:\n  keywords: ['CANARY-syslog-91']\n  condition: keywords\nlevel: high\n");
  CollectorProcess collector(tmp / "collector");
  collector.start();
  fs::create_directories(tmp / "agent");
  // A free UDP port on loopback: bind port 0, read it, release it for the agent.
  int probe = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len);
  const uint16_t port = ntohs(addr.sin_port);
  ::close(probe);
  write_file(tmp / "agent.yaml", agent_config(collector, tmp.path()) + "rules:\n  logs: [" + (tmp / "kw.yml").string() +
                                     "]\nsyslog:\n  enabled: true\n  udp: 127.0.0.1:" + std::to_string(port) + "\n");
  Process agent;
  agent.start({agent_binary(), "run", "--config", (tmp / "agent.yaml").string()}, tmp / "agent.out", tmp / "agent.err");
  INFO("agent: " << read_file(tmp / "agent.err"));
  int s = ::socket(AF_INET, SOCK_DGRAM, 0);
  const std::string msg = "<13>Nov 23 12:00:00 router01 kernel: CANARY-syslog-91 link down";
  size_t got = 0;
  for (int i = 0; i < 200 && got == 0; ++i) {  // the listener may not be up yet: resend until stored
    if (i % 20 == 0)
      ::sendto(s, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    got = collector.alerts().size();
  }
  ::close(s);
  REQUIRE(got >= 1);
  auto a = collector.alerts().front();
  REQUIRE(jstr(a.at("alert").as_object(), "signature") == "canary over syslog");
  REQUIRE(jstr(a.at("log").as_object(), "line").find("CANARY-syslog-91") != std::string::npos);
  agent.kill(SIGTERM);
  REQUIRE(agent.wait(std::chrono::seconds(30)).value_or(-1) == 0);
}

TEST_CASE("a sysadmin enrolls an agent with a one-time token; identity comes from the certificate; revoke stops it",
          "[e2e][enroll]") {
  TempDir tmp;
  CollectorProcess collector(tmp / "collector");
  collector.start();
  const std::string data = "--set=data_dir=" + (tmp / "collector").string();
  auto tok = run({collector_binary(), "token", "create", data, "--agency", "ubnd-huyen-a"}, tmp.path());
  REQUIRE(tok.code == 0);
  std::string token = tok.out.substr(0, tok.out.find('\n'));
  REQUIRE(token.rfind("hlt1.", 0) == 0);

  fs::create_directories(tmp / "agent");
  write_file(tmp / "agent.yaml", "agent:\n  id: claims-to-be-someone\n  agency: wrong-agency\n  hostname: pc01\n  data_dir: " +
                                     (tmp / "agent").string() + "\ncollector:\n  address: 127.0.0.1:" +
                                     std::to_string(collector.gateway_port()) + "\n");
  const std::string gw = "127.0.0.1:" + std::to_string(collector.gateway_port());
  auto en = run({agent_binary(), "enroll", "--config", (tmp / "agent.yaml").string(), "--collector", gw, "--token", token},
                tmp.path());
  INFO("enroll: " << en.out << en.err << "\ncollector: " << collector.log());
  REQUIRE(en.code == 0);
  // The same one-time token cannot enroll a second time.
  auto again = run({agent_binary(), "enroll", "--config", (tmp / "agent.yaml").string(), "--collector", gw, "--token", token},
                   tmp.path());
  REQUIRE(again.code == 1);
  REQUIRE_THAT(again.err, Catch::Contains("already used"));

  const std::vector<std::string> send{agent_binary(), "replay", "--config", (tmp / "agent.yaml").string(), "--pcap",
                                      (source_dir() / "demo" / "sample.pcap").string(), "--rules",
                                      (source_dir() / "rules" / "network").string(), "--send", "--send-timeout", "5s"};
  auto r = run(send, tmp.path());
  INFO("replay: " << r.err);
  REQUIRE(r.code == 0);
  auto alerts = collector.alerts();
  REQUIRE_FALSE(alerts.empty());
  const auto& ag = alerts.front().at("agent").as_object();
  const std::string id = jstr(ag, "id");
  REQUIRE(id.rfind("ag-", 0) == 0);                    // from the certificate, not the config's claim
  REQUIRE(jstr(ag, "agency") == "ubnd-huyen-a");       // the token's agency, not the config's

  auto rv = run({collector_binary(), "agent", "revoke", data, id}, tmp.path());
  REQUIRE(rv.code == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the collector polls its registry each second
  auto after = run(send, tmp.path());
  REQUIRE(after.code != 0);
  REQUIRE(collector.alerts().size() == alerts.size());  // nothing more stored
}

TEST_CASE("a ruleset pushed from the collector reaches a running agent; a broken one is refused whole",
          "[e2e][rules]") {
  TempDir tmp;
  CollectorProcess collector(tmp / "collector");
  collector.start();
  const std::string data = "--set=data_dir=" + (tmp / "collector").string();
  fs::create_directories(tmp / "agent");
  fs::create_directories(tmp / "push");
  write_file(tmp / "agent.yaml", agent_config(collector, tmp.path()) + "logs:\n  - paths: [" +
                                     (tmp / "app.log").string() + "]\n    format: raw\n");
  write_file(tmp / "app.log", "");
  Process agent;
  agent.start({agent_binary(), "run", "--config", (tmp / "agent.yaml").string()}, tmp / "agent.out", tmp / "agent.err");
  INFO("agent: " << read_file(tmp / "agent.err") << "\ncollector: " << collector.log());

  // A broken ruleset: refused whole, with file:line, nothing stored.
  fs::create_directories(tmp / "bad");
  write_file(tmp / "bad" / "x.rules", "alert tcp any any -> any any (msg:\"ok\"; content:\"a\"; sid:1;)\n"
                                      "alert tcp any any -> any any (msg:\"bad\"; content:\"|zz|\"; sid:2;)\n");
  auto bad = run({collector_binary(), "rules", "push", data, (tmp / "bad").string()}, tmp.path());
  REQUIRE(bad.code == 1);
  REQUIRE_THAT(bad.out, Catch::Contains("x.rules:2"));
  REQUIRE_THAT(bad.out, Catch::Contains("refused"));
  REQUIRE_FALSE(fs::exists(tmp / "collector" / "rulesets" / "current"));

  // A good one: stored, pushed, and the agent alerts on it without a restart.
  write_file(tmp / "push" / "canary.yml",
             "title: pushed canary\nid: 3c2b1a00-0000-4000-8000-0000000000cc\nlogsource:\n  product: linux\n"
             "detection:\n  keywords: ['CANARY-pushed-5']\n  condition: keywords\nlevel: high\n");
  auto good = run({collector_binary(), "rules", "push", data, (tmp / "push").string()}, tmp.path());
  INFO("push: " << good.out << good.err);
  REQUIRE(good.code == 0);
  REQUIRE(append_until_alert(collector, tmp / "app.log", "CANARY-pushed-5") >= 1);
  REQUIRE(jstr(collector.alerts().front().at("alert").as_object(), "signature") == "pushed canary");
  agent.kill(SIGTERM);
  REQUIRE(agent.wait(std::chrono::seconds(30)).value_or(-1) == 0);
}

namespace {
// {"files":[{"name":..., "content":...}]} for POST /api/v1/rulesets.
std::string ruleset_body(const std::vector<std::pair<std::string, std::string>>& files) {
  json::array arr;
  for (const auto& [n, c] : files) arr.emplace_back(json::object{{"name", n}, {"content", c}});
  return json::serialize(json::object{{"files", std::move(arr)}});
}
std::string canary_rule(int n) {
  return "title: pushed canary " + std::to_string(n) + "\nid: 3c2b1a00-0000-4000-8000-00000000000" + std::to_string(n) +
         "\nlogsource:\n  product: linux\ndetection:\n  keywords: ['CANARY-api-" + std::to_string(n) +
         "']\n  condition: keywords\nlevel: high\n";
}
// The agent's entry in GET /api/v1/agents (empty object while it is not listed).
json::object agent_entry(const CollectorProcess& c, const std::string& id) {
  auto r = http_get(c.api_port(), "/api/v1/agents", c.api_token());
  if (r.status != 200) return {};
  const json::value v = json::parse(r.body);  // kept alive: the loop walks into it
  for (auto& a : v.as_object().at("agents").as_array())
    if (jstr(a.as_object(), "id") == id) return a.as_object();
  return {};
}
std::vector<json::object> audit_records(const CollectorProcess& c, const std::string& action) {
  auto r = http_get(c.api_port(), "/api/v1/audit?action=" + action, c.api_token());
  std::vector<json::object> out;
  if (r.status != 200) return out;
  const json::value v = json::parse(r.body);
  for (auto& x : v.as_object().at("records").as_array()) out.push_back(x.as_object());
  return out;
}
}  // namespace

TEST_CASE("rules pushed through the API: refused whole with a report, run by the agent, "
          "an agent that cannot apply one is degraded and keeps its rules, every push audited",
          "[e2e][rules][api]") {
  TempDir tmp;
  CollectorProcess collector(tmp / "collector");
  collector.start();
  write_file(tmp / "agent.yaml", agent_config(collector, tmp.path()) + "logs:\n  - paths: [" +
                                     (tmp / "app.log").string() + "]\n    format: raw\n");
  write_file(tmp / "app.log", "");
  Process agent;
  agent.start({agent_binary(), "run", "--config", (tmp / "agent.yaml").string()}, tmp / "agent.out", tmp / "agent.err");
  INFO("agent: " << read_file(tmp / "agent.err") << "\ncollector: " << collector.log());
  const uint16_t port = collector.api_port();
  const std::string token = collector.api_token();

  // A ruleset with one broken rule is refused whole, the report names file:line.
  auto bad = http_request(port, "POST", "/api/v1/rulesets", token,
                          ruleset_body({{"x.rules", "alert tcp any any -> any any (msg:\"ok\"; content:\"a\"; sid:1;)\n"
                                                    "alert tcp any any -> any any (msg:\"bad\"; content:\"|zz|\"; sid:2;)\n"}}));
  REQUIRE(bad.status == 400);
  auto bad_err = json::parse(bad.body).as_object().at("error").as_object();
  REQUIRE(jstr(bad_err, "code") == "parse_error");
  REQUIRE_THAT(jstr(bad_err, "report"), Catch::Contains("x.rules:2"));
  auto listed = json::parse(http_get(port, "/api/v1/rulesets", token).body).as_object();
  REQUIRE(listed.at("current").is_null());
  REQUIRE(listed.at("versions").as_array().empty());
  // A file name that is not a plain rule file is refused before anything is read.
  REQUIRE(http_request(port, "POST", "/api/v1/rulesets", token, ruleset_body({{"../x.rules", "x"}})).status == 400);

  // A good ruleset: stored, pushed, run by the agent without a restart.
  auto good = http_request(port, "POST", "/api/v1/rulesets", token, ruleset_body({{"canary.yml", canary_rule(1)}}));
  INFO("push: " << good.body);
  REQUIRE(good.status == 201);
  const std::string v1 = jstr(json::parse(good.body).as_object(), "version");
  REQUIRE_FALSE(v1.empty());
  REQUIRE(append_until_alert(collector, tmp / "app.log", "CANARY-api-1") >= 1);
  REQUIRE(jstr(collector.alerts().front().at("alert").as_object(), "signature") == "pushed canary 1");
  json::object entry;
  for (int i = 0; i < 100 && jstr(entry, "ruleset_version") != v1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    entry = agent_entry(collector, "e2e-agent");
  }
  REQUIRE(jstr(entry, "ruleset_version") == v1);
  REQUIRE(jstr(entry, "state") == "online");

  // The agent cannot store the next ruleset (its rulesets directory is replaced by a file):
  // it refuses it, keeps running version 1, and the collector shows it degraded, saying why.
  fs::rename(tmp / "agent" / "rulesets", tmp / "agent" / "rulesets.moved");
  write_file(tmp / "agent" / "rulesets", "not a directory\n");
  auto second = http_request(port, "POST", "/api/v1/rulesets", token, ruleset_body({{"canary.yml", canary_rule(2)}}));
  REQUIRE(second.status == 201);
  REQUIRE(jstr(json::parse(second.body).as_object(), "previous") == v1);
  for (int i = 0; i < 100 && jstr(entry, "state") != "degraded"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    entry = agent_entry(collector, "e2e-agent");
  }
  REQUIRE(jstr(entry, "state") == "degraded");
  REQUIRE_THAT(json::serialize(entry.at("reasons")), Catch::Contains("ruleset push failed"));
  REQUIRE(jstr(entry, "ruleset_version") == v1);
  const size_t before = collector.alerts().size();
  {
    std::ofstream out(tmp / "app.log", std::ios::app);
    out << "after the refused push CANARY-api-1\nand CANARY-api-2 is not a rule here\n";
  }
  size_t after = before;
  for (int i = 0; i < 100 && after == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = collector.alerts().size();
  }
  REQUIRE(after == before + 1);
  REQUIRE(jstr(collector.alerts().front().at("alert").as_object(), "signature") == "pushed canary 1");

  // Both accepted pushes are in the audit trail, by the API's admin; the refused one is not.
  auto pushes = audit_records(collector, "ruleset.push");
  REQUIRE(pushes.size() == 2);
  REQUIRE(jstr(pushes[1], "target") == v1);
  REQUIRE(jstr(pushes[0], "actor") == "admin");

  // A change made from the command line while the collector runs reaches the trail too.
  auto tc = run({collector_binary(), "token", "create", "--set=data_dir=" + (tmp / "collector").string(), "--agency",
                 "so-audit"},
                tmp.path());
  REQUIRE(tc.code == 0);
  std::vector<json::object> created;
  for (int i = 0; i < 50 && created.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    created = audit_records(collector, "enroll_token.create");
  }
  REQUIRE(created.size() == 1);
  REQUIRE_THAT(jstr(created[0], "actor"), Catch::StartsWith("cli:"));
  REQUIRE(jstr(created[0].at("after").as_object(), "agency") == "so-audit");
  auto verdict = json::parse(http_get(port, "/api/v1/audit/verify", token).body).as_object();
  REQUIRE(verdict.at("ok").as_bool());

  agent.kill(SIGTERM);
  REQUIRE(agent.wait(std::chrono::seconds(30)).value_or(-1) == 0);
}

TEST_CASE("an agent stopped after spooling alerts but before saving its read offsets does not raise them again",
          "[e2e][run][exactly-once]") {
  TempDir tmp;
  CollectorProcess collector(tmp / "collector");
  collector.start();
  write_file(tmp / "kw.yml", "title: once canary\nid: 3c2b1a00-0000-4000-8000-0000000000fc\nlogsource:\n  product: linux\n"
                             "detection:\n  keywords: ['CANARY-once']\n  condition: keywords\nlevel: high\n");
  write_file(tmp / "agent.yaml", agent_config(collector, tmp.path()) + "rules:\n  logs: [" + (tmp / "kw.yml").string() +
                                     "]\nlogs:\n  - paths: [" + (tmp / "app.log").string() + "]\n    format: raw\n");
  auto append = [&](int from, int to) {
    std::ofstream out(tmp / "app.log", std::ios::app);
    for (int i = from; i < to; ++i) out << "line " << i << (i % 3 == 0 ? " CANARY-once" : " quiet") << "\n";
  };
  auto count = [&] { return collector.alerts().size(); };
  auto wait_count = [&](size_t want) {
    for (int i = 0; i < 200 && count() < want; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return count();
  };
  append(0, 30);  // lines 0, 3, ... 27 match: 10 alerts
  {
    Process agent;
    agent.start({agent_binary(), "run", "--config", (tmp / "agent.yaml").string()}, tmp / "agent1.out", tmp / "agent1.err");
    INFO("agent: " << read_file(tmp / "agent1.err"));
    REQUIRE(wait_count(10) == 10);
    agent.kill(SIGTERM);
    REQUIRE(agent.wait(std::chrono::seconds(30)).value_or(-1) == 0);
  }
  // What a kill -9 between "alerts spooled" and "offsets saved" leaves: the saved read
  // offsets and spool seq from before those lines (here: from before any line).
  const std::string state_file = (tmp / "agent" / "logs" / "tail.state").string();
  auto st = halong::agent::logs::load_tail_state(state_file);
  REQUIRE(st.ok());
  REQUIRE(st->has_value());
  auto rewound = **st;
  REQUIRE_FALSE(rewound.files.empty());
  for (auto& f : rewound.files) f.offset = 0;
  rewound.app_state = "0";
  REQUIRE(halong::agent::logs::save_tail_state(state_file, rewound, true).ok());

  append(30, 45);  // 5 more matching lines
  Process agent;
  agent.start({agent_binary(), "run", "--config", (tmp / "agent.yaml").string()}, tmp / "agent2.out", tmp / "agent2.err");
  INFO("agent: " << read_file(tmp / "agent2.err"));
  REQUIRE(wait_count(15) >= 15);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // anything raised twice would have arrived by now
  auto all = collector.alerts();
  std::set<int64_t> offsets;
  for (const auto& a : all) offsets.insert(jint(a.at("log").as_object(), "offset"));
  CHECK(offsets.size() == all.size());  // no line twice
  REQUIRE(all.size() == 15);
  REQUIRE_THAT(read_file(tmp / "agent2.err"), Catch::Contains("skipping lines"));
  agent.kill(SIGTERM);
  REQUIRE(agent.wait(std::chrono::seconds(30)).value_or(-1) == 0);
}

TEST_CASE("an agent stopped after spooling a journal entry's alerts but before saving its cursor does not raise them again",
          "[e2e][run][exactly-once][journald]") {
  const char* remote = "/lib/systemd/systemd-journal-remote";
  if (!halong::agent::logs::journal_available() || !std::filesystem::exists(remote)) {
    WARN("SKIPPED: needs libsystemd.so.0 and " << remote << " (Debian package systemd-journal-remote) to write a test journal");
    return;
  }
  TempDir tmp;
  CollectorProcess collector(tmp / "collector");
  collector.start();
  write_file(tmp / "kw.yml", "title: once canary\nid: 3c2b1a00-0000-4000-8000-0000000000fd\nlogsource:\n  product: linux\n"
                             "detection:\n  keywords: ['CANARY-once']\n  condition: keywords\nlevel: high\n");
  const auto jdir = tmp / "journal";
  std::filesystem::create_directories(jdir);
  // Entries 1 s apart; every third one matches. A journal file per call (the reader merges
  // the directory's files in time order).
  auto add_entries = [&](const std::string& file, int from, int to) {
    std::string exp;
    for (int i = from; i < to; ++i) {
      exp += "__REALTIME_TIMESTAMP=" + std::to_string((1'800'000'000LL + i) * 1'000'000) + "\n";
      exp += "__MONOTONIC_TIMESTAMP=" + std::to_string(1'000'000LL * (i + 1)) + "\n";
      exp += "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=bastion\n_PID=4242\nSYSLOG_IDENTIFIER=app\n";
      exp += "MESSAGE=entry " + std::to_string(i) + (i % 3 == 0 ? " CANARY-once" : " quiet") + "\n\n";
    }
    write_file(tmp / (file + ".export"), exp);
    std::string cmd = std::string(remote) + " -o " + (jdir / (file + ".journal")).string() + " - < " +
                      (tmp / (file + ".export")).string() + " > /dev/null 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
  };
  write_file(tmp / "agent.yaml", agent_config(collector, tmp.path()) + "rules:\n  logs: [" + (tmp / "kw.yml").string() +
                                     "]\njournald:\n  - directory: " + jdir.string() +
                                     "\n    format: syslog\n    from_start: true\n");
  auto count = [&] { return collector.alerts().size(); };
  auto wait_count = [&](size_t want) {
    for (int i = 0; i < 200 && count() < want; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return count();
  };
  add_entries("a", 0, 30);  // entries 0, 3, ... 27 match: 10 alerts
  {
    Process agent;
    agent.start({agent_binary(), "run", "--config", (tmp / "agent.yaml").string()}, tmp / "agent1.out", tmp / "agent1.err");
    INFO("agent: " << read_file(tmp / "agent1.err"));
    REQUIRE(wait_count(10) == 10);
    agent.kill(SIGTERM);
    REQUIRE(agent.wait(std::chrono::seconds(30)).value_or(-1) == 0);
  }
  // What a kill -9 between "alerts spooled" and "cursor saved" leaves: the cursor and spool
  // seq from before those entries (here: no cursor, seq 0: read from the journal's head).
  const auto cursor_file = tmp / "agent" / "logs" / "journal-input0.cursor";
  REQUIRE(std::filesystem::exists(cursor_file));
  REQUIRE_THAT(read_file(cursor_file), Catch::Contains("cursor s="));
  write_file(cursor_file, "halong-journal-cursor 1\napp 0\n");

  add_entries("b", 30, 45);  // 5 more matching entries
  Process agent;
  agent.start({agent_binary(), "run", "--config", (tmp / "agent.yaml").string()}, tmp / "agent2.out", tmp / "agent2.err");
  INFO("agent: " << read_file(tmp / "agent2.err"));
  REQUIRE(wait_count(15) >= 15);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // anything raised twice would have arrived by now
  auto all = collector.alerts();
  std::set<std::string> cursors;
  std::set<int64_t> times;
  for (const auto& a : all) {
    const auto& lg = a.at("log").as_object();
    CHECK(lg.at("path").as_string() == "journald:input0");
    times.insert(jint(lg, "offset"));
    cursors.insert(std::string(a.at("fields").at("__CURSOR").as_string()));
  }
  CHECK(cursors.size() == all.size());  // no entry twice
  CHECK(times.size() == all.size());
  REQUIRE(all.size() == 15);
  CHECK(*times.begin() == 1'800'000'000LL * 1'000'000);          // entry 0
  CHECK(*times.rbegin() == (1'800'000'000LL + 42) * 1'000'000);  // entry 42, the last match
  REQUIRE_THAT(read_file(tmp / "agent2.err"), Catch::Contains("skipping up to 10 entries"));
  agent.kill(SIGTERM);
  REQUIRE(agent.wait(std::chrono::seconds(30)).value_or(-1) == 0);
}
