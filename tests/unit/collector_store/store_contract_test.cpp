// The AlertStore contract, run against every implementation (MemoryStore, RocksStore).
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "collector/store/store_common.hpp"
#include "store_fixture.hpp"

using namespace halong;
using namespace halong::collector;
using namespace halong::collector::test;

namespace {

// Every alert matching q, following the cursor page by page; checks order and uniqueness.
std::vector<Alert> all_pages(AlertStore& s, AlertQuery q, size_t limit) {
  q.limit = limit;
  std::vector<Alert> out;
  for (int guard = 0; guard < 10000; ++guard) {
    auto p = s.query(q);
    REQUIRE(p.ok());
    REQUIRE(p->alerts.size() == p->triage.size());
    REQUIRE(p->alerts.size() <= limit);
    for (auto& a : p->alerts) out.push_back(a);
    if (p->next_cursor.empty()) break;
    REQUIRE(p->alerts.size() == limit);
    q.cursor = p->next_cursor;
  }
  for (size_t i = 1; i < out.size(); ++i) REQUIRE(out[i - 1].timestamp_us >= out[i].timestamp_us);
  return out;
}

std::set<std::string> ids_of(const std::vector<Alert>& v) {
  std::set<std::string> s;
  for (const auto& a : v) s.insert(a.id);
  return s;
}

bool v4_in(const std::string& ip, const char* net, int bits) {
  in_addr a{}, n{};
  if (inet_pton(AF_INET, ip.c_str(), &a) != 1) return false;
  inet_pton(AF_INET, net, &n);
  uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  return (ntohl(a.s_addr) & mask) == (ntohl(n.s_addr) & mask);
}

struct Case {
  const char* name;
  std::function<void(AlertQuery&)> set;
  std::function<bool(const Alert&)> want;
};

}  // namespace

TEMPLATE_TEST_CASE("store stores a batch once and reports the agent's highest seq", "[collector][store]", MemoryFactory,
                   RocksFactory) {
  TestType f;
  auto s = f.make();
  auto alerts = make_fixture(50);
  std::vector<Alert> web;
  for (auto& a : alerts)
    if (a.agent.id == "web-01") web.push_back(a);
  REQUIRE(web.size() > 3);
  auto r = s->write_batch("web-01", web);
  REQUIRE(r.ok());
  CHECK(r->stored == web.size());
  CHECK(r->duplicates == 0);
  CHECK(r->highest_seq == web.back().seq);
  // Resending the same batch (at-least-once delivery) stores nothing new.
  auto again = s->write_batch("web-01", web);
  REQUIRE(again.ok());
  CHECK(again->stored == 0);
  CHECK(again->duplicates == web.size());
  CHECK(s->highest_seq("web-01").value() == web.back().seq);
  CHECK(s->highest_seq("nobody").value() == 0);
  CHECK(s->alert_count() == web.size());
  auto got = s->get(web[1].id);
  REQUIRE(got.ok());
  CHECK(*got == web[1]);
}

TEMPLATE_TEST_CASE("store rejects alerts without a seq and reports bad or unknown ids", "[collector][store]",
                   MemoryFactory, RocksFactory) {
  TestType f;
  auto s = f.make();
  Alert a = make_fixture(1)[0];
  a.seq = 0;
  auto r = s->write_batch(a.agent.id, {a});
  REQUIRE(!r.ok());
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK(s->get("web-01:77").error().code == ErrorCode::not_found);
  CHECK(s->get("no-seq").error().code == ErrorCode::invalid_argument);
  CHECK(s->get("web-01:x").error().code == ErrorCode::invalid_argument);
  AlertQuery q;
  q.cursor = "garbage";
  CHECK(s->query(q).error().code == ErrorCode::invalid_argument);
}

TEMPLATE_TEST_CASE("store pages newest first and returns each alert exactly once", "[collector][store]",
                   MemoryFactory, RocksFactory) {
  TestType f;
  auto s = f.make();
  auto alerts = make_fixture(300);
  store_all(*s, alerts);
  for (size_t limit : {1, 7, 50, 1000}) {
    auto got = all_pages(*s, AlertQuery{}, limit);
    CHECK(got.size() == alerts.size());
    CHECK(ids_of(got) == ids_of(alerts));
  }
  AlertQuery q;
  q.limit = 5;
  auto p = s->query(q);
  REQUIRE(p.ok());
  int64_t newest = 0;
  for (auto& a : alerts) newest = std::max(newest, a.timestamp_us);
  CHECK(p->alerts.front().timestamp_us == newest);
}

TEMPLATE_TEST_CASE("every filter and combination returns exactly what a brute-force filter returns",
                   "[collector][store]", MemoryFactory, RocksFactory) {
  // Spacing between alert pairs: 1 s (RocksStore's index postings hold one or two alerts
  // each), 20 ms (an agent's batch spans more than one posting's second: split), 500 us
  // (all 600 alerts within 0.15 s: each batch one posting per term, and the postings of
  // the four agents' batches overlap, so every walk merges them).
  const int64_t spacing = GENERATE(int64_t{1'000'000}, int64_t{20'000}, int64_t{500});
  TestType f;
  auto s = f.make();
  auto alerts = make_fixture(600, 7, spacing);
  store_all(*s, alerts);
  // Triage a few so status/assignee filters have something to find.
  std::map<std::string, std::pair<std::string, std::string>> triaged;  // id -> status, assignee
  for (size_t i = 0; i < alerts.size(); i += 9) {
    TriageUpdate u;
    u.status = i % 2 ? TriageStatus::acknowledged : TriageStatus::investigating;
    u.assignee = i % 3 ? "lan" : "minh";
    REQUIRE(s->update_triage(alerts[i].id, u, "lead", kBase).ok());
    triaged[alerts[i].id] = {std::string(to_string(*u.status)), *u.assignee};
  }
  auto status_of = [&](const Alert& a) { return triaged.count(a.id) ? triaged[a.id].first : std::string("new"); };
  auto assignee_of = [&](const Alert& a) { return triaged.count(a.id) ? triaged[a.id].second : std::string(); };
  const int64_t mid = kBase + 100 * spacing, late = kBase + 200 * spacing;

  std::vector<Case> cases = {
      {"no filter", [](AlertQuery&) {}, [](const Alert&) { return true; }},
      {"time range", [&](AlertQuery& q) { q.from_us = mid; q.to_us = late; },
       [&](const Alert& a) { return a.timestamp_us >= mid && a.timestamp_us < late; }},
      {"agent", [](AlertQuery& q) { q.agent = "fw:04"; }, [](const Alert& a) { return a.agent.id == "fw:04"; }},
      {"unknown agent", [](AlertQuery& q) { q.agent = "nope"; }, [](const Alert&) { return false; }},
      {"agency", [](AlertQuery& q) { q.agency = "so-yte"; }, [](const Alert& a) { return a.agent.agency == "so-yte"; }},
      {"scope", [](AlertQuery& q) { q.scope = std::vector<std::string>{"so-tttt"}; },
       [](const Alert& a) { return a.agent.agency == "so-tttt"; }},
      {"empty scope", [](AlertQuery& q) { q.scope = std::vector<std::string>{}; }, [](const Alert&) { return false; }},
      {"sid", [](AlertQuery& q) { q.sid = 2100498; }, [](const Alert& a) { return a.alert.signature_id == 2100498; }},
      {"engine", [](AlertQuery& q) { q.engine = "sigma"; }, [](const Alert& a) { return a.alert.engine == "sigma"; }},
      {"severity >= 2", [](AlertQuery& q) { q.min_severity = 2; }, [](const Alert& a) { return a.alert.severity <= 2; }},
      {"category", [](AlertQuery& q) { q.category = "Potentially Bad Traffic"; },
       [](const Alert& a) { return a.alert.category == "Potentially Bad Traffic"; }},
      {"src /24", [](AlertQuery& q) { q.src_net = parse_cidr("10.0.1.0/24").value(); },
       [](const Alert& a) { return v4_in(a.src_ip, "10.0.1.0", 24); }},
      {"src /30", [](AlertQuery& q) { q.src_net = parse_cidr("10.0.2.0/31").value(); },
       [](const Alert& a) { return v4_in(a.src_ip, "10.0.2.0", 31); }},
      {"src /16", [](AlertQuery& q) { q.src_net = parse_cidr("10.0.0.0/16").value(); },
       [](const Alert& a) { return v4_in(a.src_ip, "10.0.0.0", 16); }},
      {"src exact", [](AlertQuery& q) { q.src_net = parse_cidr("10.0.0.3").value(); },
       [](const Alert& a) { return a.src_ip == "10.0.0.3"; }},
      {"src v6", [](AlertQuery& q) { q.src_net = parse_cidr("2001:db8::/32").value(); },
       [](const Alert& a) { return a.src_ip.rfind("2001:db8::", 0) == 0; }},
      {"dest exact", [](AlertQuery& q) { q.dest_net = parse_cidr("192.168.1.11/32").value(); },
       [](const Alert& a) { return a.dest_ip == "192.168.1.11"; }},
      {"port", [](AlertQuery& q) { q.port = 22; }, [](const Alert& a) { return a.src_port == 22 || a.dest_port == 22; }},
      {"status", [](AlertQuery& q) { q.status = TriageStatus::acknowledged; },
       [&](const Alert& a) { return status_of(a) == "acknowledged"; }},
      {"status new", [](AlertQuery& q) { q.status = TriageStatus::fresh; },
       [&](const Alert& a) { return status_of(a) == "new"; }},
      {"assignee", [](AlertQuery& q) { q.assignee = "minh"; }, [&](const Alert& a) { return assignee_of(a) == "minh"; }},
      {"unassigned", [](AlertQuery& q) { q.assignee = ""; }, [&](const Alert& a) { return assignee_of(a).empty(); }},
      {"text", [](AlertQuery& q) { q.text = "ssh"; },
       [](const Alert& a) { return a.alert.signature.find("SSH") != std::string::npos; }},
      {"text nothing", [](AlertQuery& q) { q.text = "zzz"; }, [](const Alert&) { return false; }},
      {"agent + status", [](AlertQuery& q) { q.agent = "db-02"; q.status = TriageStatus::investigating; },
       [&](const Alert& a) { return a.agent.id == "db-02" && status_of(a) == "investigating"; }},
      {"sid + src /24 + time", [&](AlertQuery& q) { q.sid = 2001219; q.src_net = parse_cidr("10.0.0.0/24").value(); q.from_us = mid; },
       [&](const Alert& a) { return a.alert.signature_id == 2001219 && v4_in(a.src_ip, "10.0.0.0", 24) && a.timestamp_us >= mid; }},
      {"agency + severity + port", [](AlertQuery& q) { q.agency = "so-tttt"; q.min_severity = 1; q.port = 80; },
       [](const Alert& a) { return a.agent.agency == "so-tttt" && a.alert.severity <= 1 && (a.src_port == 80 || a.dest_port == 80); }},
      {"scope + agent outside it", [](AlertQuery& q) { q.scope = std::vector<std::string>{"so-tttt"}; q.agent = "db-02"; },
       [](const Alert&) { return false; }},
      {"engine + category + text", [](AlertQuery& q) { q.engine = "suricata"; q.category = "Attempted Information Leak"; q.text = "et "; },
       [](const Alert& a) { return a.alert.engine == "suricata" && a.alert.category == "Attempted Information Leak" && a.alert.signature.find("ET ") != std::string::npos; }},
  };
  for (const auto& c : cases) {
    INFO(TestType::name << ": " << c.name << ", spacing " << spacing << " us");
    AlertQuery q;
    c.set(q);
    std::vector<Alert> want;
    for (const auto& a : alerts)
      if (c.want(a)) want.push_back(a);
    auto got = all_pages(*s, q, 13);
    CHECK(got.size() == want.size());
    CHECK(ids_of(got) == ids_of(want));
  }
  // Incident filter: members of the incident of alert 0.
  auto t0 = s->get_triage(alerts[0].id);
  REQUIRE(t0.ok());
  REQUIRE(t0->incident != 0);
  AlertQuery q;
  q.incident = t0->incident;
  auto members = all_pages(*s, q, 10);
  CHECK(!members.empty());
  for (const auto& a : members) {
    CHECK(a.alert.signature_id == alerts[0].alert.signature_id);
    CHECK(a.agent.id == alerts[0].agent.id);
    CHECK(a.src_ip == alerts[0].src_ip);
  }
}

TEMPLATE_TEST_CASE("stats count by field and histogram match a brute-force count", "[collector][store]", MemoryFactory,
                   RocksFactory) {
  TestType f;
  auto s = f.make();
  auto alerts = make_fixture(400);
  store_all(*s, alerts);
  AlertQuery q;
  q.agency = "so-tttt";
  StatsRequest r;
  r.field = StatsField::sid;
  r.bucket_us = 60'000'000;
  auto st = s->stats(q, r);
  REQUIRE(st.ok());
  std::map<std::string, uint64_t> by;
  std::map<int64_t, uint64_t> hist;
  uint64_t total = 0;
  for (const auto& a : alerts) {
    if (a.agent.agency != "so-tttt") continue;
    ++total;
    ++by[std::to_string(a.alert.signature_id)];
    ++hist[a.timestamp_us - (a.timestamp_us % 60'000'000)];
  }
  CHECK(st->total == total);
  CHECK(std::map<std::string, uint64_t>(st->by.begin(), st->by.end()) == by);
  CHECK(std::map<int64_t, uint64_t>(st->histogram.begin(), st->histogram.end()) == hist);
  for (size_t i = 1; i < st->by.size(); ++i) CHECK(st->by[i - 1].second >= st->by[i].second);
}

TEMPLATE_TEST_CASE("triage update records status, assignee and comments and returns before and after",
                   "[collector][store]", MemoryFactory, RocksFactory) {
  TestType f;
  auto s = f.make();
  auto alerts = make_fixture(20);
  store_all(*s, alerts);
  const auto& id = alerts[3].id;
  TriageUpdate u;
  u.status = TriageStatus::investigating;
  u.assignee = "lan";
  u.comment = "looks like a real scan";
  auto r = s->update_triage(id, u, "minh", kBase + 5);
  REQUIRE(r.ok());
  CHECK(r->first.status == TriageStatus::fresh);
  CHECK(r->second.status == TriageStatus::investigating);
  CHECK(r->second.assignee == "lan");
  REQUIRE(r->second.comments.size() == 1);
  CHECK(r->second.comments[0].author == "minh");
  CHECK(r->second.comments[0].time_us == kBase + 5);
  TriageUpdate u2;
  u2.status = TriageStatus::resolved;
  u2.assignee = "";
  REQUIRE(s->update_triage(id, u2, "lan", kBase + 9).ok());
  auto t = s->get_triage(id);
  REQUIRE(t.ok());
  CHECK(t->status == TriageStatus::resolved);
  CHECK(t->assignee.empty());
  CHECK(t->comments.size() == 1);
  CHECK(t->updated_by == "lan");
  CHECK(s->update_triage("web-01:999999", u, "x", 0).error().code == ErrorCode::not_found);
}

TEMPLATE_TEST_CASE("incidents group alerts by signature, agent and source within the window", "[collector][store]",
                   MemoryFactory, RocksFactory) {
  TestType f;
  IncidentPolicy p;
  p.window_us = 60'000'000;  // one minute
  p.reopen_closed = false;
  auto s = f.make(p);
  auto base = make_fixture(1)[0];
  auto at = [&](uint64_t seq, int64_t t, const std::string& src) {
    Alert a = base;
    a.seq = seq;
    a.id = a.agent.id + ":" + std::to_string(seq);
    a.timestamp_us = kBase + t;
    a.src_ip = src;
    return a;
  };
  // three alerts within a minute, one from another source, one after a gap
  REQUIRE(s->write_batch(base.agent.id, {at(1, 0, "10.9.9.9"), at(2, 30'000'000, "10.9.9.9"),
                                         at(3, 40'000'000, "10.8.8.8"), at(4, 80'000'000, "10.9.9.9")})
              .ok());
  REQUIRE(s->write_batch(base.agent.id, {at(5, 200'000'000, "10.9.9.9")}).ok());
  auto inc = [&](uint64_t seq) { return s->get_triage(base.agent.id + ":" + std::to_string(seq)).value().incident; };
  CHECK(inc(1) == inc(2));
  CHECK(inc(2) == inc(4));
  CHECK(inc(3) != inc(1));
  CHECK(inc(5) != inc(1));  // 120 s after the last: a new incident
  auto i1 = s->get_incident(inc(1));
  REQUIRE(i1.ok());
  CHECK(i1->count == 3);
  CHECK(i1->first_seen_us == kBase);
  CHECK(i1->last_seen_us == kBase + 80'000'000);
  CHECK(i1->src_ip == "10.9.9.9");

  // Triage the incident: its alerts follow.
  TriageUpdate u;
  u.status = TriageStatus::resolved;
  u.assignee = "lan";
  auto r = s->update_incident(inc(5), u, "lan", kBase);
  REQUIRE(r.ok());
  CHECK(r->second.status == TriageStatus::resolved);
  CHECK(s->get_triage(base.agent.id + ":5").value().status == TriageStatus::resolved);
  CHECK(s->get_triage(base.agent.id + ":1").value().status == TriageStatus::fresh);
  // reopen_closed = false: a new alert for the resolved incident starts a new one.
  REQUIRE(s->write_batch(base.agent.id, {at(6, 210'000'000, "10.9.9.9")}).ok());
  CHECK(inc(6) != inc(5));
  auto list = s->list_incidents(AlertQuery{});
  REQUIRE(list.ok());
  CHECK(list->size() == 4);
  CHECK(list->front().id == inc(6));
}

TEMPLATE_TEST_CASE("a new alert reopens a closed incident when the policy says so", "[collector][store]", MemoryFactory,
                   RocksFactory) {
  TestType f;
  IncidentPolicy p;
  p.window_us = 60'000'000;
  p.reopen_closed = true;
  auto s = f.make(p);
  auto a = make_fixture(1)[0];
  a.seq = 1;
  a.id = a.agent.id + ":1";
  REQUIRE(s->write_batch(a.agent.id, {a}).ok());
  uint64_t id = s->get_triage(a.id).value().incident;
  TriageUpdate u;
  u.status = TriageStatus::false_positive;
  REQUIRE(s->update_incident(id, u, "lan", kBase).ok());
  Alert b = a;
  b.seq = 2;
  b.id = a.agent.id + ":2";
  b.timestamp_us += 10'000'000;
  REQUIRE(s->write_batch(a.agent.id, {b}).ok());
  CHECK(s->get_triage(b.id).value().incident == id);
  auto inc = s->get_incident(id);
  REQUIRE(inc.ok());
  CHECK(inc->status == TriageStatus::fresh);
  CHECK(inc->count == 2);
}

TEMPLATE_TEST_CASE("retention deletes alerts older than the cutoff with their index entries", "[collector][store]",
                   MemoryFactory, RocksFactory) {
  const int64_t spacing = GENERATE(int64_t{1'000'000}, int64_t{500});  // dense: postings span the cutoff
  TestType f;
  auto s = f.make();
  auto alerts = make_fixture(200, 7, spacing);
  store_all(*s, alerts);
  const int64_t cutoff = kBase + 50 * spacing;
  size_t old = 0;
  for (auto& a : alerts) old += a.timestamp_us < cutoff;
  REQUIRE(old > 0);
  auto n = s->delete_before(cutoff);
  REQUIRE(n.ok());
  CHECK(*n == old);
  CHECK(s->alert_count() == alerts.size() - old);
  for (auto& a : alerts) {
    if (a.timestamp_us < cutoff) CHECK(s->get(a.id).error().code == ErrorCode::not_found);
    else CHECK(s->get(a.id).ok());
  }
  // Index walks find none of the deleted alerts.
  AlertQuery q;
  q.agent = "web-01";
  for (auto& a : all_pages(*s, q, 50)) CHECK(a.timestamp_us >= cutoff);
  AlertQuery q2;
  q2.min_severity = 4;
  CHECK(all_pages(*s, q2, 50).size() == alerts.size() - old);
  // Rule, port and address filters: exactly the younger alerts that match.
  std::vector<Case> cases = {
      {"sid", [](AlertQuery& q) { q.sid = 2100498; }, [](const Alert& a) { return a.alert.signature_id == 2100498; }},
      {"port", [](AlertQuery& q) { q.port = 22; }, [](const Alert& a) { return a.src_port == 22 || a.dest_port == 22; }},
      {"dest", [](AlertQuery& q) { q.dest_net = parse_cidr("192.168.1.11/32").value(); },
       [](const Alert& a) { return a.dest_ip == "192.168.1.11"; }},
  };
  for (const auto& c : cases) {
    INFO(TestType::name << ": " << c.name << ", spacing " << spacing << " us");
    AlertQuery q3;
    c.set(q3);
    std::set<std::string> want;
    for (const auto& a : alerts)
      if (a.timestamp_us >= cutoff && c.want(a)) want.insert(a.id);
    CHECK(ids_of(all_pages(*s, q3, 7)) == want);
  }
}
