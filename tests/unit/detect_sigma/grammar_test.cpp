#include "helpers.hpp"

using namespace sigma_test;

TEST_CASE("keyword list matches anywhere in the raw line, case-insensitively", "[sigma][keywords]") {
  auto rs = load_ok(rule(R"(    keywords:
        - 'Failed password'
        - 'authentication failure'
    condition: keywords
)"));
  REQUIRE(fires(rs, ev({}, "Dec 10 sshd[1]: failed PASSWORD for root from 1.2.3.4")));
  REQUIRE(fires(rs, ev({}, "pam_unix: authentication failure; logname=")));
  REQUIRE_FALSE(fires(rs, ev({}, "Accepted password for root")));
}

TEST_CASE("keywords with |all need every keyword", "[sigma][keywords]") {
  auto rs = load_ok(rule(R"(    keywords:
        '|all':
            - 'alpha'
            - 'beta'
    condition: keywords
)"));
  REQUIRE(fires(rs, ev({}, "x alpha y beta")));
  REQUIRE_FALSE(fires(rs, ev({}, "x alpha y")));
}

TEST_CASE("logsource routing: a rule applies only when each key it sets equals the event's", "[sigma][logsource]") {
  auto rs = load_ok(R"(title: sshd only
logsource:
    product: linux
    service: sshd
detection:
    k:
        - 'boom'
    condition: k
---
title: any linux
logsource:
    product: linux
detection:
    k:
        - 'boom'
    condition: k
---
title: webserver
logsource:
    category: webserver
detection:
    k:
        - 'boom'
    condition: k
)");
  Matcher m(rs);
  Ev e = ev({}, "boom");
  e.src = {"linux", "sshd", ""};
  REQUIRE(titles(m, e) == std::vector<std::string>{"sshd only", "any linux"});
  e.src = {"linux", "auth", ""};
  REQUIRE(titles(m, e) == std::vector<std::string>{"any linux"});
  e.src = {"", "", "webserver"};
  REQUIRE(titles(m, e) == std::vector<std::string>{"webserver"});
  e.src = {"linux", "nginx", "webserver"};
  REQUIRE(titles(m, e) == std::vector<std::string>{"any linux", "webserver"});
}

TEST_CASE("maps are AND, value lists are OR, lists of maps are OR", "[sigma][grammar]") {
  auto rs = load_ok(rule(R"(    sel:
        User: root
        Image:
            - '/bin/bash'
            - '/bin/sh'
    alt:
        - CommandLine: 'id'
        - CommandLine: 'whoami'
    condition: sel or alt
)"));
  REQUIRE(fires(rs, ev({{"User", "root"}, {"Image", "/bin/sh"}})));
  REQUIRE(fires(rs, ev({{"User", "ROOT"}, {"Image", "/BIN/BASH"}})));  // case-insensitive by default
  REQUIRE_FALSE(fires(rs, ev({{"User", "root"}, {"Image", "/bin/zsh"}})));
  REQUIRE_FALSE(fires(rs, ev({{"User", "alice"}, {"Image", "/bin/sh"}})));
  REQUIRE_FALSE(fires(rs, ev({{"User", "root"}, {"Image", "/bin/shx"}})));  // plain value = whole field
  REQUIRE(fires(rs, ev({{"CommandLine", "whoami"}})));
  REQUIRE_FALSE(fires(rs, ev({{"CommandLine", "whoami2"}})));
}

TEST_CASE("contains, startswith, endswith and all", "[sigma][modifiers]") {
  auto rs = load_ok(rule(R"(    a:
        CommandLine|contains|all:
            - 'curl'
            - '| sh'
    b:
        Image|endswith: '/nc'
    c:
        CommandLine|startswith: 'wget '
    condition: a or b or c
)"));
  REQUIRE(fires(rs, ev({{"CommandLine", "bash -c 'curl http://x | sh'"}})));
  REQUIRE_FALSE(fires(rs, ev({{"CommandLine", "curl http://x"}})));
  REQUIRE(fires(rs, ev({{"Image", "/usr/bin/nc"}})));
  REQUIRE_FALSE(fires(rs, ev({{"Image", "/usr/bin/nc.openbsd"}})));
  REQUIRE(fires(rs, ev({{"CommandLine", "WGET http://x"}})));
  REQUIRE_FALSE(fires(rs, ev({{"CommandLine", "x wget http://x"}})));
}

TEST_CASE("wildcards * and ? and their escapes", "[sigma][wildcards]") {
  auto rs = load_ok(rule(R"(    a:
        F: 'ab?d*z'
    b:
        G: 'lit\*star'
    c:
        H: 'C:\Windows\*'
    condition: a or b or c
)"));
  REQUIRE(fires(rs, ev({{"F", "abcdxyz"}})));
  REQUIRE(fires(rs, ev({{"F", "abXdz"}})));
  REQUIRE_FALSE(fires(rs, ev({{"F", "abdz"}})));
  REQUIRE(fires(rs, ev({{"G", "lit*star"}})));
  REQUIRE_FALSE(fires(rs, ev({{"G", "litXstar"}})));
  // "\*" after a backslash-less path: plain backslash stays, "\*" is a literal star
  REQUIRE(fires(rs, ev({{"H", "C:\\Windows*"}})));
  REQUIRE_FALSE(fires(rs, ev({{"H", "C:\\Windows\\x"}})));
}

TEST_CASE("cased makes a test case-sensitive", "[sigma][modifiers]") {
  auto rs = load_ok(rule(R"(    a:
        F|cased: 'Secret'
    condition: a
)"));
  REQUIRE(fires(rs, ev({{"F", "Secret"}})));
  REQUIRE_FALSE(fires(rs, ev({{"F", "secret"}})));
}

TEST_CASE("re runs on Hyperscan, with i/m/s sub-modifiers; regexes it refuses run on PCRE2", "[sigma][regex]") {
  LoadReport rep;
  auto rs = load_ok(rule(R"(    a:
        F|re: '^user[0-9]{2,3}$'
    b:
        G|re|i: 'ADMIN'
    c:
        H|re: '(ab)\1'
    condition: a or b or c
)"),
                    &rep);
  REQUIRE(rep.pcre_fallbacks == 1);
  REQUIRE(rep.entries.at(0).notes.size() == 1);
  REQUIRE_THAT(rep.entries[0].notes[0], Catch::Contains("PCRE2"));
  REQUIRE(info(*rs).pcre_tests == 1);
  REQUIRE(fires(rs, ev({{"F", "user42"}})));
  REQUIRE_FALSE(fires(rs, ev({{"F", "User42"}})));  // regex is case-sensitive by default
  REQUIRE_FALSE(fires(rs, ev({{"F", "user4"}})));
  REQUIRE(fires(rs, ev({{"G", "the admin"}})));
  REQUIRE(fires(rs, ev({{"H", "xxababyy"}})));
  REQUIRE_FALSE(fires(rs, ev({{"H", "xxabyy"}})));
}

TEST_CASE("null, empty value and exists", "[sigma][values]") {
  auto rs = load_ok(rule(R"(    sel:
        A: 'x'
    f_null:
        B: null
    f_empty:
        C: ''
    f_exists:
        D|exists: true
    condition: sel and 1 of f_*
)"));
  REQUIRE(fires(rs, ev({{"A", "x"}})));                           // B absent
  REQUIRE_FALSE(fires(rs, ev({{"A", "x"}, {"B", "1"}, {"C", "1"}})));
  REQUIRE(fires(rs, ev({{"A", "x"}, {"B", "1"}, {"C", ""}})));
  REQUIRE(fires(rs, ev({{"A", "x"}, {"B", "1"}, {"D", ""}})));
  REQUIRE_FALSE(fires(rs, ev({{"B", "1"}, {"D", "1"}})));
}

TEST_CASE("numeric comparisons, cidr and fieldref", "[sigma][modifiers]") {
  auto rs = load_ok(rule(R"(    big:
        sc-status|gte: 500
    net:
        c-ip|cidr:
            - '10.0.0.0/8'
            - '2001:db8::/32'
    same:
        User|fieldref: TargetUser
    condition: big or net or same
)"));
  REQUIRE(fires(rs, ev({{"sc-status", "503"}})));
  REQUIRE_FALSE(fires(rs, ev({{"sc-status", "404"}})));
  REQUIRE_FALSE(fires(rs, ev({{"sc-status", "abc"}})));
  REQUIRE(fires(rs, ev({{"c-ip", "10.20.30.40"}})));
  REQUIRE(fires(rs, ev({{"c-ip", "2001:db8::1"}})));
  REQUIRE_FALSE(fires(rs, ev({{"c-ip", "11.0.0.1"}})));
  REQUIRE_FALSE(fires(rs, ev({{"c-ip", "not an ip"}})));
  REQUIRE(fires(rs, ev({{"User", "bob"}, {"TargetUser", "BOB"}})));
  REQUIRE_FALSE(fires(rs, ev({{"User", "bob"}, {"TargetUser", "alice"}})));
}

TEST_CASE("base64, base64offset and windash transform values", "[sigma][modifiers]") {
  auto rs = load_ok(rule(R"(    b64:
        A|base64: 'hello'
    off:
        B|base64offset|contains: 'http://'
    dash:
        C|windash|contains: ' -enc '
    condition: b64 or off or dash
)"));
  REQUIRE(fires(rs, ev({{"A", "aGVsbG8="}})));
  REQUIRE_FALSE(fires(rs, ev({{"A", "hello"}})));
  // "http://" encoded at offsets 0, 1 and 2 inside longer strings
  REQUIRE(fires(rs, ev({{"B", "echo aHR0cDovL2V2aWw= | base64 -d"}})));   // "http://evil"
  REQUIRE(fires(rs, ev({{"B", "eGh0dHA6Ly9l"}})));                         // "xhttp://e"
  REQUIRE(fires(rs, ev({{"B", "eHhodHRwOi8vZQ=="}})));                     // "xxhttp://e"
  REQUIRE_FALSE(fires(rs, ev({{"B", "aHR0cHM6Ly8="}})));                   // "https://"
  REQUIRE(fires(rs, ev({{"C", "powershell -enc AAA"}})));
  REQUIRE(fires(rs, ev({{"C", "powershell /enc AAA"}})));
  REQUIRE(fires(rs, ev({{"C", "powershell \xe2\x80\x93" "enc AAA"}})));  // en dash
  REQUIRE_FALSE(fires(rs, ev({{"C", "powershell enc AAA"}})));
}

TEST_CASE("neq negates the value test", "[sigma][modifiers]") {
  auto rs = load_ok(rule(R"(    sel:
        A: 'x'
        User|neq:
            - root
            - daemon
    condition: sel
)"));
  REQUIRE(fires(rs, ev({{"A", "x"}, {"User", "bob"}})));
  REQUIRE_FALSE(fires(rs, ev({{"A", "x"}, {"User", "root"}})));
  REQUIRE_FALSE(fires(rs, ev({{"A", "x"}, {"User", "daemon"}})));
}

TEST_CASE("conditions: not, parentheses, 1 of / all of patterns, them, precedence", "[sigma][condition]") {
  auto rs = load_ok(rule(R"(    selection_a:
        A: '1'
    selection_b:
        B: '1'
    filter_x:
        X: '1'
    _private:
        P: '1'
    condition: (1 of selection_* and not filter_x) or all of them
)"));
  REQUIRE(fires(rs, ev({{"A", "1"}})));
  REQUIRE(fires(rs, ev({{"B", "1"}})));
  REQUIRE_FALSE(fires(rs, ev({{"A", "1"}, {"X", "1"}})));
  // all of them excludes _private, so A B X together fire through the second branch
  REQUIRE(fires(rs, ev({{"A", "1"}, {"B", "1"}, {"X", "1"}})));
  REQUIRE_FALSE(fires(rs, ev({{"P", "1"}})));

  // "not" binds tighter than "and", "and" tighter than "or"
  auto rs2 = load_ok(rule(R"(    a:
        A: '1'
    b:
        B: '1'
    c:
        C: '1'
    condition: a or b and not c
)"));
  REQUIRE(fires(rs2, ev({{"A", "1"}, {"C", "1"}})));
  REQUIRE_FALSE(fires(rs2, ev({{"B", "1"}, {"C", "1"}})));
  REQUIRE(fires(rs2, ev({{"B", "1"}})));
}

TEST_CASE("a rule whose condition holds without any string match is still evaluated", "[sigma][condition]") {
  auto rs = load_ok(rule(R"(    filter:
        User: root
    condition: not filter
)"));
  REQUIRE(fires(rs, ev({{"User", "alice"}})));
  REQUIRE(fires(rs, ev({})));
  REQUIRE_FALSE(fires(rs, ev({{"User", "root"}})));
}

TEST_CASE("condition list is OR of its conditions", "[sigma][condition]") {
  auto rs = load_ok(rule(R"(    a:
        A: '1'
    b:
        B: '1'
    condition:
        - a
        - b
)"));
  REQUIRE(fires(rs, ev({{"B", "1"}})));
  REQUIRE_FALSE(fires(rs, ev({{"C", "1"}})));
}

TEST_CASE("to_alert_info maps Sigma metadata into the alert", "[sigma][alert]") {
  auto rs = load_ok(R"(title: Suspicious thing
id: 6b3f2e1a-0000-4000-8000-000000000001
status: test
author: Someone
level: high
tags:
    - attack.t1110
    - attack.credential_access
falsepositives:
    - Admins
logsource:
    product: linux
    service: sshd
    category: authentication
detection:
    k:
        - 'zzz'
    condition: k
)");
  Matcher m(rs);
  std::vector<Match> out;
  Ev e = ev({}, "zzz");
  e.src = {"linux", "sshd", "authentication"};
  e.ts_us = 42;
  m.evaluate(e.event(), out);
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].ts_us == 42);
  auto a = out[0].to_alert_info();
  REQUIRE(a.engine == "sigma");
  REQUIRE(a.signature == "Suspicious thing");
  REQUIRE(a.rule_id == "6b3f2e1a-0000-4000-8000-000000000001");
  REQUIRE(a.signature_id == derive_signature_id("6b3f2e1a-0000-4000-8000-000000000001"));
  REQUIRE(a.signature_id > (uint64_t(1) << 32));
  REQUIRE(a.signature_id < (uint64_t(1) << 53));
  REQUIRE(a.severity == 2);
  REQUIRE(a.category == "authentication");
  REQUIRE(a.tags == std::vector<std::string>{"attack.t1110", "attack.credential_access"});
  REQUIRE(a.metadata.at("level") == std::vector<std::string>{"high"});
  REQUIRE(a.metadata.at("status") == std::vector<std::string>{"test"});
  REQUIRE(a.metadata.at("author") == std::vector<std::string>{"Someone"});
  REQUIRE(a.metadata.at("falsepositives") == std::vector<std::string>{"Admins"});
  RuleMeta r;
  for (auto [lv, sev] : std::vector<std::pair<std::string, int>>{
           {"critical", 1}, {"high", 2}, {"medium", 3}, {"low", 4}, {"informational", 5}}) {
    r.level = lv;
    REQUIRE(to_alert_info(r).severity == sev);
  }
}

TEST_CASE("field tests run only on their field, keywords on the raw line", "[sigma][grammar]") {
  auto rs = load_ok(rule(R"(    sel:
        User|contains: 'evil'
    condition: sel
)"));
  REQUIRE_FALSE(fires(rs, ev({{"Other", "evil"}}, "evil everywhere")));
  REQUIRE(fires(rs, ev({{"User", "xevilx"}})));
}

TEST_CASE("one Matcher per thread: matchers of the same ruleset are independent", "[sigma][matcher]") {
  auto rs = load_ok(rule(R"(    k:
        - 'needle'
    condition: k
)"));
  Matcher a(rs), b(rs);
  REQUIRE(titles(a, ev({}, "a needle")).size() == 1);
  REQUIRE(titles(b, ev({}, "no")).empty());
  REQUIRE(a.stats().events == 1);
  REQUIRE(b.stats().events == 1);
}

TEST_CASE("a 10 MB line, binary garbage and invalid UTF-8 are matched without error", "[sigma][matcher]") {
  auto rs = load_ok(rule(R"(    k:
        - 'needle'
    r:
        F|re: 'a(b|c)+d'
    p:
        G|re: '(x)\1'
    condition: k or r or p
)"));
  Matcher m(rs);
  std::string big(10 * 1024 * 1024, 'a');
  big += "needle";
  REQUIRE(titles(m, ev({{"F", big}, {"G", big}}, big)).size() == 1);
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage.push_back(static_cast<char>((i * 131) & 0xff));
  garbage += "\xff\xfe\xc3\x28 needle";
  REQUIRE(titles(m, ev({{"F", garbage}, {"G", garbage}}, garbage)).size() == 1);
  REQUIRE(m.stats().scan_errors == 0);
}
