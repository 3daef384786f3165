// RocksStore-specific behaviour: durability across reopen, refusing a corrupt store,
// concurrent writers.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <set>
#include <functional>
#include <thread>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "collector/store/retention.hpp"
#include "store_fixture.hpp"

using namespace halong;
using namespace halong::collector;
using namespace halong::collector::test;

namespace {
// Each query's first page (up to `limit`) from the RocksStore equals MemoryStore's
// brute-force answer, and is not empty.
void check_like_memory(RocksStore& s, MemoryStore& m, const std::vector<std::function<void(AlertQuery&)>>& qs,
                       size_t limit) {
  for (size_t i = 0; i < qs.size(); ++i) {
    INFO("query " << i);
    AlertQuery q;
    q.limit = limit;
    qs[i](q);
    auto got = s.query(q);
    auto want = m.query(q);
    REQUIRE(got.ok());
    REQUIRE(want.ok());
    std::vector<std::string> g, w;
    for (auto& a : got->alerts) g.push_back(a.id);
    for (auto& a : want->alerts) w.push_back(a.id);
    CHECK(!w.empty());
    CHECK(g == w);
  }
}
}  // namespace

TEST_CASE("rocks store keeps alerts, cursors and triage across a reopen", "[collector][store][rocks]") {
  TempDir d;
  auto alerts = make_fixture(120);
  {
    auto s = RocksStore::open(d.path.string());
    REQUIRE(s.ok());
    store_all(**s, alerts);
    TriageUpdate u;
    u.status = TriageStatus::acknowledged;
    REQUIRE((*s)->update_triage(alerts[5].id, u, "lan", kBase).ok());
  }
  auto s = RocksStore::open(d.path.string());
  REQUIRE(s.ok());
  CHECK((*s)->alert_count() == alerts.size());
  for (const auto& a : alerts) {
    auto got = (*s)->get(a.id);
    REQUIRE(got.ok());
    CHECK(*got == a);
  }
  uint64_t hi = 0;
  for (const auto& a : alerts)
    if (a.agent.id == "db-02") hi = std::max(hi, a.seq);
  CHECK((*s)->highest_seq("db-02").value() == hi);
  CHECK((*s)->get_triage(alerts[5].id).value().status == TriageStatus::acknowledged);
  // A resend after restart is still deduplicated.
  auto r = (*s)->write_batch(alerts[0].agent.id, {alerts[0]});
  REQUIRE(r.ok());
  CHECK(r->duplicates == 1);
  // New agents after reopen get fresh numeric ids (no clash with stored ones).
  Alert n = alerts[0];
  n.agent.id = "new-agent";
  n.seq = 1;
  n.id = "new-agent:1";
  REQUIRE((*s)->write_batch("new-agent", {n}).ok());
  AlertQuery q;
  q.agent = "new-agent";
  auto p = (*s)->query(q);
  REQUIRE(p.ok());
  REQUIRE(p->alerts.size() == 1);
  CHECK(p->alerts[0].id == "new-agent:1");
}

TEST_CASE("rocks store refuses a corrupt store with a clear error instead of half-opening it",
          "[collector][store][rocks]") {
  TempDir d;
  {
    auto s = RocksStore::open(d.path.string());
    REQUIRE(s.ok());
    store_all(**s, make_fixture(10));
  }
  // Corrupt the manifest the CURRENT file points to.
  std::string manifest;
  {
    std::ifstream cur(d.path / "CURRENT");
    std::getline(cur, manifest);
  }
  REQUIRE(!manifest.empty());
  {
    std::fstream m(d.path / manifest, std::ios::in | std::ios::out | std::ios::binary);
    m.seekp(0);
    m.write("garbage garbage garbage garbage", 31);
  }
  auto s = RocksStore::open(d.path.string());
  REQUIRE(!s.ok());
  CHECK(s.error().code == ErrorCode::storage_error);
  CHECK(s.error().message.find(d.path.string()) != std::string::npos);
}

TEST_CASE("rocks store refuses a missing directory when asked not to create one", "[collector][store][rocks]") {
  TempDir d;
  RocksOptions o;
  o.create_if_missing = false;
  auto s = RocksStore::open((d.path / "absent").string(), o);
  REQUIRE(!s.ok());
  CHECK(s.error().code == ErrorCode::storage_error);
}

TEST_CASE("rocks store read-only open sees the data and refuses writes", "[collector][store][rocks]") {
  TempDir d;
  auto alerts = make_fixture(30);
  {
    auto s = RocksStore::open(d.path.string());
    REQUIRE(s.ok());
    store_all(**s, alerts);
  }
  RocksOptions o;
  o.read_only = true;
  auto s = RocksStore::open(d.path.string(), o);
  REQUIRE(s.ok());
  CHECK((*s)->get(alerts[3].id).ok());
  CHECK((*s)->write_batch("x", {alerts[0]}).error().code == ErrorCode::forbidden);
}

TEST_CASE("rocks store stores each seq once when the same agent's batches race", "[collector][store][rocks]") {
  TempDir d;
  RocksOptions o;
  o.sync = false;
  auto s = RocksStore::open(d.path.string(), o);
  REQUIRE(s.ok());
  std::vector<Alert> batch;
  for (auto& a : make_fixture(200))
    if (a.agent.id == "web-01") batch.push_back(a);
  std::vector<std::thread> ts;
  std::atomic<size_t> stored{0};
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&] {
      auto r = (*s)->write_batch("web-01", batch);
      if (r.ok()) stored += r->stored;
    });
  for (auto& t : ts) t.join();
  CHECK(stored == batch.size());
  CHECK((*s)->alert_count() == batch.size());
}

TEST_CASE("retention worker deletes alerts older than the maximum age by the injected clock",
          "[collector][store][retention]") {
  TempDir d;
  RocksOptions o;
  o.sync = false;
  auto s = RocksStore::open(d.path.string(), o);
  REQUIRE(s.ok());
  auto alerts = make_fixture(100);  // one alert every ~0.5 s from kBase
  store_all(**s, alerts);
  int64_t now = kBase + 10'000'000;  // 10 s after the first alert
  RetentionWorker w(**s, 30'000'000, [&] { return now; });
  auto r = w.run_once();
  REQUIRE(r.ok());
  CHECK(*r == 0);  // nothing is 30 s old yet
  now = kBase + 60'000'000;  // cutoff = kBase + 30 s
  r = w.run_once();
  REQUIRE(r.ok());
  size_t old = 0;
  for (auto& a : alerts) old += a.timestamp_us < kBase + 30'000'000;
  CHECK(*r == old);
  CHECK(w.deleted_total() == old);
  CHECK((*s)->alert_count() == alerts.size() - old);
  // The background loop runs once at start, with the same clock.
  now = kBase + 1'000'000'000;
  w.start(std::chrono::hours(1));
  for (int i = 0; i < 200 && (*s)->alert_count() != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  w.stop();
  CHECK((*s)->alert_count() == 0);
}

TEST_CASE("rocks store group-commits concurrent batches of many agents and answers each caller",
          "[collector][store][rocks]") {
  TempDir d;
  auto s = RocksStore::open(d.path.string());  // sync on: what group commit is for
  REQUIRE(s.ok());
  auto alerts = make_fixture(400);
  std::map<std::string, std::vector<Alert>> by_agent;
  for (auto& a : alerts) by_agent[a.agent.id].push_back(a);
  std::vector<std::thread> ts;
  std::atomic<size_t> stored{0}, failed{0};
  for (auto& [agent, v] : by_agent)
    ts.emplace_back([&, agent = agent, v = v] {
      for (size_t i = 0; i < v.size(); i += 5) {
        std::vector<Alert> b(v.begin() + static_cast<long>(i), v.begin() + static_cast<long>(std::min(v.size(), i + 5)));
        auto r = (*s)->write_batch(agent, b);
        if (!r) ++failed;
        else {
          stored += r->stored;
          if (r->highest_seq != b.back().seq) ++failed;
        }
      }
    });
  for (auto& t : ts) t.join();
  CHECK(failed == 0);
  CHECK(stored == alerts.size());
  CHECK((*s)->alert_count() == alerts.size());
  CHECK((*s)->write_groups() <= (alerts.size() + 4) / 5 + 4);
  for (auto& [agent, v] : by_agent) CHECK((*s)->highest_seq(agent).value() == v.back().seq);
}

TEST_CASE("rocks store exposes its state as Prometheus text", "[collector][store][rocks]") {
  TempDir d;
  auto s = RocksStore::open(d.path.string());
  REQUIRE(s.ok());
  store_all(**s, make_fixture(20));
  auto m = (*s)->metrics_text();
  CHECK(m.find("# TYPE halong_store_write_groups_total counter\nhalong_store_write_groups_total ") != std::string::npos);
  CHECK(m.find("halong_store_running_compactions ") != std::string::npos);
  CHECK((*s)->write_groups() > 0);
}

TEST_CASE("dashboard stats from hourly counters equal a brute-force count, also after retention",
          "[collector][store][rocks][stats]") {
  TempDir d;
  RocksOptions o;
  o.sync = false;
  auto s = RocksStore::open(d.path.string(), o);
  REQUIRE(s.ok());
  MemoryStore m;
  auto alerts = make_fixture(500);
  for (size_t i = 0; i < alerts.size(); ++i) alerts[i].timestamp_us = kBase + static_cast<int64_t>(i) * 997'000'000;  // ~5 days
  store_all(**s, alerts);
  store_all(m, alerts);
  const int64_t hour = 3600LL * 1000000;
  const int64_t aligned = kBase / hour * hour;
  struct C {
    StatsField field;
    int64_t bucket;
    std::function<void(AlertQuery&)> set;
  };
  std::vector<C> cases = {
      {StatsField::severity, 86400LL * 1000000, [](AlertQuery&) {}},
      {StatsField::agency, hour, [&](AlertQuery& q) { q.from_us = aligned + 24 * hour; q.to_us = aligned + 72 * hour; }},
      {StatsField::severity, 6 * hour, [](AlertQuery& q) { q.scope = std::vector<std::string>{"so-yte"}; q.min_severity = 2; }},
      {StatsField::agency, 86400LL * 1000000, [](AlertQuery& q) { q.agency = "so-tttt"; }},
      // One agent: from the per-agent daily counters.
      {StatsField::severity, 86400LL * 1000000, [](AlertQuery& q) { q.agent = "web-01"; }},
      {StatsField::agent, 2 * 86400LL * 1000000, [](AlertQuery& q) { q.agent = "fw:04"; q.min_severity = 2; }},
      {StatsField::agency, 86400LL * 1000000, [](AlertQuery& q) { q.agent = "db-02"; q.scope = std::vector<std::string>{"so-yte"}; }},
      {StatsField::severity, 86400LL * 1000000, [](AlertQuery& q) { q.agent = "db-02"; q.agency = "so-tttt"; }},
  };
  auto compare = [&] {
    for (auto& c : cases) {
      AlertQuery q;
      c.set(q);
      StatsRequest r;
      r.field = c.field;
      r.bucket_us = c.bucket;
      auto fast = (*s)->stats(q, r);
      auto slow = m.stats(q, r);
      REQUIRE(fast.ok());
      REQUIRE(slow.ok());
      CHECK(fast->total == slow->total);
      CHECK(fast->by == slow->by);
      CHECK(fast->histogram == slow->histogram);
    }
  };
  compare();
  const int64_t cutoff = kBase + 100 * 997'000'000LL + 12345;  // not hour-aligned
  CHECK((*s)->delete_before(cutoff).value() == m.delete_before(cutoff).value());
  compare();
}

TEST_CASE("rocks store refuses a store written with another key layout instead of misreading it",
          "[collector][store][rocks]") {
  TempDir d;
  {
    auto s = RocksStore::open(d.path.string());
    REQUIRE(s.ok());
    store_all(**s, make_fixture(10));
    // What a store of another layout version looks like.
    REQUIRE((*s)->db()->Put(rocksdb::WriteOptions(), (*s)->family("default"), "format", "halong-store-1").ok());
  }
  auto s = RocksStore::open(d.path.string());
  REQUIRE(!s.ok());
  CHECK(s.error().code == ErrorCode::storage_error);
  CHECK(s.error().message.find("layout 'halong-store-1'") != std::string::npos);
  CHECK(s.error().message.find(d.path.string()) != std::string::npos);
}

TEST_CASE("rocks store refuses a store of the layout before versioning", "[collector][store][rocks]") {
  TempDir d;
  {
    auto s = RocksStore::open(d.path.string());
    REQUIRE(s.ok());
    REQUIRE((*s)->db()->Delete(rocksdb::WriteOptions(), (*s)->family("default"), "format").ok());
  }
  auto s = RocksStore::open(d.path.string());
  REQUIRE(!s.ok());
  CHECK(s.error().message.find("older Halong version") != std::string::npos);
}

TEST_CASE("rocks store answers agency, scope, status and incident filters like brute force after a reopen",
          "[collector][store][rocks]") {
  TempDir d;
  auto alerts = make_fixture(300, 11);
  MemoryStore m;
  {
    RocksOptions o;
    o.sync = false;
    auto s = RocksStore::open(d.path.string(), o);
    REQUIRE(s.ok());
    store_all(**s, alerts);
    store_all(m, alerts);
    TriageUpdate u;
    u.status = TriageStatus::resolved;
    REQUIRE((*s)->update_triage(alerts[7].id, u, "lan", kBase).ok());
    REQUIRE(m.update_triage(alerts[7].id, u, "lan", kBase).ok());
  }
  auto s = RocksStore::open(d.path.string());
  REQUIRE(s.ok());
  CHECK((*s)->alert_count() == alerts.size());
  std::vector<std::function<void(AlertQuery&)>> qs = {
      [](AlertQuery& q) { q.agency = "so-yte"; },
      [](AlertQuery& q) { q.scope = std::vector<std::string>{"so-tttt"}; },
      [](AlertQuery& q) { q.status = TriageStatus::fresh; },
      [](AlertQuery& q) { q.status = TriageStatus::resolved; },
      [](AlertQuery& q) { q.agent = "web-01"; },
      [](AlertQuery& q) { q.scope = std::vector<std::string>{"so-yte"}; q.status = TriageStatus::fresh; q.min_severity = 2; },
      [&](AlertQuery& q) { q.incident = (*s)->get_triage(alerts[7].id).value().incident; },
  };
  check_like_memory(**s, m, qs, 1000);
}

TEST_CASE("rocks store keeps exact counts when many agents write concurrently and after a reopen",
          "[collector][store][rocks]") {
  TempDir d;
  auto alerts = make_fixture(800, 5);
  // More agents than the fixture's four: spread the alerts over 16.
  std::map<std::string, std::vector<Alert>> by_agent;
  std::map<std::string, uint64_t> seq;
  for (auto& a : alerts) {
    std::string agent = a.agent.id + "-" + std::to_string(a.seq % 4);
    a.agent.id = agent;
    a.seq = ++seq[agent];
    a.id = agent + ":" + std::to_string(a.seq);
    by_agent[agent].push_back(a);
  }
  {
    RocksOptions o;
    o.sync = false;
    auto s = RocksStore::open(d.path.string(), o);
    REQUIRE(s.ok());
    std::vector<std::thread> ts;
    std::atomic<size_t> stored{0};
    for (auto& [agent, v] : by_agent)
      ts.emplace_back([&, agent = agent, v = v] {
        for (size_t i = 0; i < v.size(); i += 7) {
          std::vector<Alert> b(v.begin() + static_cast<long>(i), v.begin() + static_cast<long>(std::min(v.size(), i + 7)));
          auto r = (*s)->write_batch(agent, b);
          if (r) stored += r->stored;
          // A resend of the same batch is a duplicate.
          auto again = (*s)->write_batch(agent, b);
          if (!again || again->stored != 0) stored += 1000000;
        }
      });
    for (auto& t : ts) t.join();
    CHECK(stored == alerts.size());
    CHECK((*s)->alert_count() == alerts.size());
  }
  auto s = RocksStore::open(d.path.string());
  REQUIRE(s.ok());
  CHECK((*s)->alert_count() == alerts.size());
  AlertStats total = (*s)->stats(AlertQuery{}, StatsRequest{StatsField::agency, 3600LL * 1000000, 20}).value();
  CHECK(total.total == alerts.size());
  for (auto& [agent, v] : by_agent) CHECK((*s)->highest_seq(agent).value() == v.back().seq);
}

// The store keeps each agent's incident groups in memory (so grouping needs no read) and
// drops an agent's cache past a bound shared by all agents, or when a write fails. Whatever
// the cache holds, grouping must equal the reference store's, also across a reopen.
TEST_CASE("rocks store groups incidents like the reference whatever its incident cache holds",
          "[collector][store][rocks][incidents]") {
  IncidentPolicy p;
  p.window_us = 60'000'000;
  const auto base = make_fixture(1)[0];
  // 3 agents, 12 sources x 3 signatures; time advances 1 s per alert with a 5-minute gap
  // every 50 alerts, so incidents both grow and are replaced.
  std::vector<Alert> stream;
  int64_t t = kBase;
  std::map<std::string, uint64_t> seq;
  for (int k = 0; k < 600; ++k) {
    Alert a = base;
    a.agent.id = std::vector<std::string>{"a1", "a2", "a3"}[static_cast<size_t>(k % 3)];
    a.agent.agency = "so-tttt";
    a.seq = ++seq[a.agent.id];
    a.id = a.agent.id + ":" + std::to_string(a.seq);
    t += (k % 50 == 49) ? 300'000'000 : 1'000'000;
    a.timestamp_us = t;
    a.src_ip = "10.0.0." + std::to_string(k * 7 % 12);
    a.alert.signature_id = 9000 + static_cast<uint64_t>(k / 5 % 3);
    stream.push_back(a);
  }
  MemoryStore ref(p);
  for (const auto& a : stream) REQUIRE(ref.write_batch(a.agent.id, {a}).ok());

  for (auto [bound, chunk] : std::vector<std::pair<size_t, size_t>>{{4, 0}, {40, 5}, {size_t{1} << 18, 512}, {size_t{1} << 18, 3}}) {
    CAPTURE(bound, chunk);
    TempDir d;
    RocksOptions o;
    o.sync = false;
    o.incidents = p;
    o.incident_cache_groups = bound;
    o.pipeline_chunk = chunk;
    o.block_cache_mb = 8;
    auto s = RocksStore::open(d.path.string(), o);
    REQUIRE(s.ok());
    // batches of up to 9 alerts of one agent; the store is reopened half way
    size_t i = 0;
    bool reopened = false;
    while (i < stream.size()) {
      if (i >= 300 && !reopened) {
        reopened = true;
        s->reset();
        s = RocksStore::open(d.path.string(), o);
        REQUIRE(s.ok());
      }
      std::map<std::string, std::vector<Alert>> batch;
      for (size_t j = i; j < std::min(stream.size(), i + 27); ++j) batch[stream[j].agent.id].push_back(stream[j]);
      for (auto& [agent, v] : batch) REQUIRE((*s)->write_batch(agent, v).ok());
      i += 27;
    }
    // The same partition into incidents, and the same incidents.
    std::map<uint64_t, uint64_t> rocks_to_ref;
    std::set<uint64_t> ref_seen;
    for (const auto& a : stream) {
      auto r = (*s)->get_triage(a.id);
      auto m = ref.get_triage(a.id);
      REQUIRE(r.ok());
      REQUIRE(m.ok());
      auto [it, added] = rocks_to_ref.emplace(r->incident, m->incident);
      CHECK(it->second == m->incident);
      if (added) CHECK(ref_seen.insert(m->incident).second);
    }
    CHECK(rocks_to_ref.size() > 40);
    CHECK(rocks_to_ref.size() < 500);  // alerts joined incidents
    for (const auto& [ri, mi] : rocks_to_ref) {
      auto x = (*s)->get_incident(ri);
      auto y = ref.get_incident(mi);
      REQUIRE(x.ok());
      REQUIRE(y.ok());
      CHECK(x->count == y->count);
      CHECK(x->first_seen_us == y->first_seen_us);
      CHECK(x->last_seen_us == y->last_seen_us);
      CHECK(x->src_ip == y->src_ip);
      CHECK(x->agent == y->agent);
    }
  }
}

// A big batch is written in chunks (the write of one overlapping the staging of the next):
// duplicates at its start, a reopen, and a resend of everything must leave each alert once.
TEST_CASE("rocks store writes a big batch in chunks exactly once", "[collector][store][rocks]") {
  TempDir d;
  RocksOptions o;
  o.pipeline_chunk = 4;  // batches of >= 8 alerts go in chunks
  const auto base = make_fixture(1)[0];
  auto make = [&](uint64_t from, uint64_t to) {
    std::vector<Alert> v;
    for (uint64_t q = from; q <= to; ++q) {
      Alert a = base;
      a.agent.id = "chunky";
      a.seq = q;
      a.id = "chunky:" + std::to_string(q);
      a.timestamp_us = kBase + static_cast<int64_t>(q) * 1000;
      a.src_ip = "10.2.0." + std::to_string(q % 5);
      v.push_back(a);
    }
    return v;
  };
  {
    auto s = RocksStore::open(d.path.string(), o);
    REQUIRE(s.ok());
    auto r = (*s)->write_batch("chunky", make(1, 30));
    REQUIRE(r.ok());
    CHECK(r->stored == 30);
    CHECK(r->highest_seq == 30);
    r = (*s)->write_batch("chunky", make(20, 61));  // 20..30 already stored: whole chunks of duplicates first
    REQUIRE(r.ok());
    CHECK(r->stored == 31);
    CHECK(r->duplicates == 11);
    CHECK(r->highest_seq == 61);
    r = (*s)->write_batch("chunky", make(1, 61));  // a resend of everything
    REQUIRE(r.ok());
    CHECK(r->stored == 0);
    CHECK(r->duplicates == 61);
    CHECK((*s)->alert_count() == 61);
  }
  auto s = RocksStore::open(d.path.string(), o);
  REQUIRE(s.ok());
  CHECK((*s)->highest_seq("chunky").value() == 61);
  CHECK((*s)->alert_count() == 61);
  AlertQuery q;
  q.agent = "chunky";
  q.limit = 100;
  auto page = (*s)->query(q);
  REQUIRE(page.ok());
  REQUIRE(page->alerts.size() == 61);
  std::set<std::string> ids;
  for (const auto& a : page->alerts) ids.insert(a.id);
  CHECK(ids.size() == 61);
  // five sources, one signature, all within the window: five incidents of the 61 alerts
  std::set<uint64_t> incidents;
  for (const auto& a : page->alerts) incidents.insert((*s)->get_triage(a.id).value().incident);
  CHECK(incidents.size() == 5);
  uint64_t total = 0;
  for (auto i : incidents) total += (*s)->get_incident(i).value().count;
  CHECK(total == 61);
}

TEST_CASE("rocks store write_batches stores several agents' batches in one write, each like write_batch",
          "[collector][store][rocks]") {
  TempDir d, ref_dir;
  auto s = RocksStore::open(d.path.string());
  auto ref = RocksStore::open(ref_dir.path.string());  // the same batches through write_batch, one by one
  REQUIRE(s.ok());
  REQUIRE(ref.ok());
  auto alerts = make_fixture(600);
  std::map<std::string, std::vector<Alert>> by_agent;
  for (auto& a : alerts) by_agent[a.agent.id].push_back(a);
  REQUIRE(by_agent.size() >= 3);
  // Rounds: every agent's next slice (the second round repeats part of the first: those are
  // duplicates), plus a batch with a seq-0 alert that must fail alone.
  const std::string bad_agent = "agent-with-a-bad-batch";
  std::vector<Alert> bad(1, alerts.front());
  bad[0].seq = 0;
  uint64_t groups_before = (*s)->write_groups();
  size_t calls = 0;
  for (size_t off = 0; off < 200; off += 50) {
    std::vector<std::string> ids;
    std::vector<std::vector<Alert>> slices;
    for (auto& [agent, v] : by_agent) {
      const size_t from = off == 50 ? 25 : off;  // round 2 starts inside round 1
      if (from >= v.size()) continue;
      ids.push_back(agent);
      slices.emplace_back(v.begin() + static_cast<long>(from), v.begin() + static_cast<long>(std::min(v.size(), off + 50)));
    }
    ids.push_back(bad_agent);
    slices.push_back(bad);
    std::vector<AlertStore::BatchRef> refs;
    for (size_t i = 0; i < ids.size(); ++i) refs.push_back({&ids[i], &slices[i]});
    auto rs = (*s)->write_batches(refs);
    ++calls;
    REQUIRE(rs.size() == refs.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      auto want = (*ref)->write_batch(ids[i], slices[i]);
      INFO("round at " << off << ", agent " << ids[i]);
      REQUIRE(rs[i].ok() == want.ok());
      if (!want.ok()) {
        CHECK(rs[i].error().code == want.error().code);
        CHECK(ids[i] == bad_agent);
        continue;
      }
      CHECK(rs[i]->stored == want->stored);
      CHECK(rs[i]->duplicates == want->duplicates);
      CHECK(rs[i]->highest_seq == want->highest_seq);
    }
  }
  // One synced write per call (the group), not one per agent.
  CHECK((*s)->write_groups() - groups_before <= calls);
  CHECK((*s)->alert_count() == (*ref)->alert_count());
  AlertQuery q;
  q.limit = 1000;
  auto got = (*s)->query(q), want = (*ref)->query(q);
  REQUIRE(got.ok());
  REQUIRE(want.ok());
  REQUIRE(got->alerts.size() == want->alerts.size());
  for (size_t i = 0; i < got->alerts.size(); ++i) CHECK(got->alerts[i] == want->alerts[i]);
  for (auto& [agent, v] : by_agent) CHECK((*s)->highest_seq(agent).value() == (*ref)->highest_seq(agent).value());
}

// RocksOptions::memtable_mb caps the memtables of all families together: with a 1 MiB cap
// a few MiB of alerts are flushed to table files as they are written; with no cap (each
// family's own 64 MiB buffer) they all stay in memory.
TEST_CASE("rocks store flushes its memtables when they pass the memtable_mb cap", "[collector][store][rocks]") {
  auto sst_bytes_after_writing = [](size_t memtable_mb) {
    TempDir d;
    RocksOptions o;
    o.memtable_mb = memtable_mb;
    o.sync = false;
    auto s = RocksStore::open(d.path.string(), o);
    REQUIRE(s.ok());
    auto alerts = make_fixture(6000);
    for (auto& a : alerts) a.payload_printable = std::string(400, 'x');  // ~1 KiB per alert
    store_all(**s, alerts);
    REQUIRE((*s)->alert_count() == alerts.size());
    // Flushes run in the background: wait for them (not a timing assertion).
    uint64_t bytes = 0;
    for (int i = 0; i < 200; ++i) {
      bytes = std::stoull((*s)->property("rocksdb.total-sst-files-size"));
      if (bytes > 0 || memtable_mb == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (const auto& a : {alerts.front(), alerts.back()}) REQUIRE((*s)->get(a.id).ok());
    return bytes;
  };
  CHECK(sst_bytes_after_writing(1) > 0);
  CHECK(sst_bytes_after_writing(0) == 0);
}

namespace {
Result<std::unique_ptr<RocksStore>> open_unsynced(const TempDir& d) {
  RocksOptions o;
  o.sync = false;
  return RocksStore::open(d.path.string(), o);
}
size_t records_in(RocksStore& s, const char* family) {
  std::unique_ptr<rocksdb::Iterator> it(s.db()->NewIterator(rocksdb::ReadOptions(), s.family(family)));
  size_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
  REQUIRE(it->status().ok());
  return n;
}
}  // namespace

TEST_CASE("rocks store indexes a write's alerts of one term in one posting and walks them exactly",
          "[collector][store][rocks]") {
  TempDir d;
  auto s = open_unsynced(d);
  REQUIRE(s.ok());
  // "bulk": 4,000 alerts of one rule 50 us apart (0.2 s), written in 8 batches of 500.
  // "rare": 10 alerts spread over the same 0.2 s, half of that rule, half of another.
  auto fx = make_fixture(4000, 7, 100);
  std::vector<Alert> bulk, rare;
  for (size_t i = 0; i < fx.size(); ++i) {
    Alert a = fx[i];
    const bool is_rare = i % 400 == 7;
    auto& v = is_rare ? rare : bulk;
    a.agent = {is_rare ? "rare" : "bulk", "h.gov.vn", "so-tttt"};
    a.seq = v.size() + 1;
    a.id = a.agent.id + ":" + std::to_string(a.seq);
    if (!is_rare || rare.size() % 2 == 0) {
      a.alert.signature_id = 2001219;
      a.alert.signature = "ET SCAN Potential SSH Scan";
    } else {
      a.alert.signature_id = 2100498;
      a.alert.signature = "GPL ATTACK_RESPONSE id check returned root";
    }
    v.push_back(std::move(a));
  }
  REQUIRE(rare.size() == 10);
  for (size_t i = 0; i < bulk.size(); i += 500)
    REQUIRE((*s)->write_batch("bulk", std::vector<Alert>(bulk.begin() + static_cast<long>(i),
                                                          bulk.begin() + static_cast<long>(std::min(bulk.size(), i + 500))))
                .ok());
  REQUIRE((*s)->write_batch("rare", rare).ok());
  std::vector<Alert> all = bulk;
  all.insert(all.end(), rare.begin(), rare.end());

  // One record per (term, write): 8 bulk batches and the rare one, not one per alert.
  CHECK(records_in(**s, "by_rule") == 8 + 2);
  CHECK(records_in(**s, "by_severity") <= 9 * 4);
  CHECK(records_in(**s, "by_port") <= 9 * 2 * 5);  // source ports 22 / 40000-40002, dest 22 / 80
  CHECK(records_in(**s, "by_agent_status") == all.size());  // triage moves single alerts: one each
  CHECK(records_in(**s, "ids") == 8 + 1);                   // one run of seqs per agent and write
  for (const auto& a : all) {
    auto g = (*s)->get(a.id);
    REQUIRE(g.ok());
    CHECK(g->id == a.id);
    CHECK(g->timestamp_us == a.timestamp_us);
  }
  CHECK((*s)->get("bulk:" + std::to_string(bulk.size() + 1)).error().code == ErrorCode::not_found);

  auto ids = [&](AlertQuery q, size_t limit) {
    q.limit = limit;
    std::vector<std::string> out;
    for (int guard = 0; guard < 10000; ++guard) {
      auto p = (*s)->query(q);
      REQUIRE(p.ok());
      for (const auto& a : p->alerts) out.push_back(a.id);
      if (p->next_cursor.empty()) break;
      q.cursor = p->next_cursor;
    }
    return out;
  };
  auto want = [&](const std::function<bool(const Alert&)>& f) {
    std::vector<std::string> out;
    for (const auto& a : all)
      if (f(a)) out.push_back(a.id);
    return out;
  };
  // Paging through overlapping postings: every alert once, newest first.
  AlertQuery by_sid;
  by_sid.sid = 2001219;
  auto got = ids(by_sid, 97);
  CHECK(got.size() == bulk.size() + 5);
  CHECK(std::set<std::string>(got.begin(), got.end()).size() == got.size());
  for (size_t i = 1; i < got.size(); ++i) {
    auto x = (*s)->get(got[i - 1]), y = (*s)->get(got[i]);
    REQUIRE((x.ok() && y.ok()));
    REQUIRE(x->timestamp_us >= y->timestamp_us);
  }
  // A sparse stream driving, a dense posting stream probed far past its step budget.
  for (uint64_t sid : {2001219u, 2100498u}) {
    AlertQuery q;
    q.agent = "rare";
    q.sid = sid;
    auto w = want([&](const Alert& a) { return a.agent.id == "rare" && a.alert.signature_id == sid; });
    CHECK(w.size() == 5);
    auto g = ids(q, 3);
    std::sort(g.begin(), g.end());
    std::sort(w.begin(), w.end());
    CHECK(g == w);
  }
  AlertQuery none;
  none.agent = "bulk";
  none.sid = 2100498;
  CHECK(ids(none, 10).empty());
  // Time window inside the postings.
  AlertQuery win;
  win.sid = 2001219;
  win.from_us = kBase + 50'000;
  win.to_us = kBase + 60'000;
  auto wg = ids(win, 50);
  auto ww = want([&](const Alert& a) {
    return a.alert.signature_id == 2001219 && a.timestamp_us >= win.from_us && a.timestamp_us < win.to_us;
  });
  CHECK(!ww.empty());
  CHECK(std::set<std::string>(wg.begin(), wg.end()) == std::set<std::string>(ww.begin(), ww.end()));

  // Retention of everything leaves no posting behind.
  auto n = (*s)->delete_before(kBase + 1'000'000);
  REQUIRE(n.ok());
  CHECK(*n == all.size());
  for (const char* f : {"by_rule", "by_severity", "by_ip", "by_port", "by_agent_status", "ids"}) {
    INFO(f);
    CHECK(records_in(**s, f) == 0);
  }
  CHECK(ids(by_sid, 100).empty());
}

TEST_CASE("rocks store reads a store of the layout before postings (one index record per alert) as it is",
          "[collector][store][rocks]") {
  TempDir d;
  auto alerts = make_fixture(3000, 5, 300);  // 3,000 alerts in 0.45 s: postings of many entries
  MemoryStore m;
  store_all(m, alerts);
  RocksOptions o;
  o.sync = false;
  size_t per_alert_rule_records = 0, rule_postings = 0, rule_records_v4 = 0;
  {
    auto s = RocksStore::open(d.path.string(), o);
    REQUIRE(s.ok());
    store_all(**s, alerts);
    rule_postings = records_in(**s, "by_rule");
    // Rewrite the posting families as halong-store-4 kept them: one record per (term,
    // alert), by_ip's value the address. by_rule only every other posting: postings of
    // many alerts next to per-alert records, as new writes add them to an old store.
    struct F {
      const char* name;
      size_t plen, vlen;
    };
    for (const F& f : {F{"by_rule", 8, 0}, F{"by_severity", 1, 0}, F{"by_ip", 17, 16}, F{"by_port", 3, 0}}) {
      auto* cf = (*s)->family(f.name);
      rocksdb::WriteBatch wb;
      std::unique_ptr<rocksdb::Iterator> it((*s)->db()->NewIterator(rocksdb::ReadOptions(), cf));
      size_t i = 0;
      for (it->SeekToFirst(); it->Valid(); it->Next(), ++i) {
        if (std::string(f.name) == "by_rule" && i % 2 == 1) continue;
        const std::string k = it->key().ToString(), v = it->value().ToString();
        // A posting's value: its entries (key | value), the last one without its key.
        const size_t e = 20 + f.vlen;
        REQUIRE((v.size() - f.vlen) % e == 0);
        REQUIRE(wb.Delete(cf, k).ok());
        for (size_t j = 0; j + f.vlen < v.size(); j += e)
          REQUIRE(wb.Put(cf, k.substr(0, f.plen) + v.substr(j, 20), v.substr(j + 20, f.vlen)).ok());
        REQUIRE(wb.Put(cf, k, v.substr(v.size() - f.vlen)).ok());
        if (std::string(f.name) == "by_rule") per_alert_rule_records += (v.size() - f.vlen) / e + 1;
      }
      REQUIRE((*s)->db()->Write(rocksdb::WriteOptions(), &wb).ok());
    }
    {  // ids: one record per alert (agent | seq -> alert key) instead of runs
      auto* cf = (*s)->family("ids");
      rocksdb::WriteBatch wb;
      std::unique_ptr<rocksdb::Iterator> it((*s)->db()->NewIterator(rocksdb::ReadOptions(), cf));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        const std::string k = it->key().ToString(), v = it->value().ToString();
        REQUIRE(v.size() % 20 == 0);
        REQUIRE(wb.Delete(cf, k).ok());
        for (size_t j = 0; j < v.size(); j += 20) REQUIRE(wb.Put(cf, k.substr(0, 4) + v.substr(j + 12, 8), v.substr(j, 20)).ok());
      }
      REQUIRE((*s)->db()->Write(rocksdb::WriteOptions(), &wb).ok());
      REQUIRE(records_in(**s, "ids") == alerts.size());
    }
    REQUIRE(per_alert_rule_records > alerts.size() / 3);
    rule_records_v4 = records_in(**s, "by_rule");
    REQUIRE((*s)->db()->Put(rocksdb::WriteOptions(), (*s)->family("default"), "format", "halong-store-4").ok());
  }
  // Read-only (audit verify next to a running collector): read as it is, version kept;
  // then opened for writing: version rewritten; then reopened.
  for (int round = 0; round < 3; ++round) {
    INFO("open " << round);
    RocksOptions oo = o;
    oo.read_only = round == 0;
    auto s = RocksStore::open(d.path.string(), oo);
    REQUIRE(s.ok());
    std::string fmt;
    REQUIRE((*s)->db()->Get(rocksdb::ReadOptions(), (*s)->family("default"), "format", &fmt).ok());
    CHECK(fmt == (round == 0 ? "halong-store-4" : "halong-store-5"));
    CHECK(rule_records_v4 > rule_postings);
    CHECK(records_in(**s, "by_rule") == rule_records_v4);  // nothing rewritten
    for (size_t i = 0; i < alerts.size(); i += 7) CHECK((*s)->get(alerts[i].id).ok());
    std::vector<std::function<void(AlertQuery&)>> qs = {
        [](AlertQuery& q) { q.sid = 2100498; },
        [](AlertQuery& q) { q.min_severity = 2; },
        [](AlertQuery& q) { q.port = 22; },
        [](AlertQuery& q) { q.src_net = parse_cidr("10.0.1.0/24").value(); },
        [](AlertQuery& q) { q.dest_net = parse_cidr("192.168.1.11/32").value(); },
        [](AlertQuery& q) { q.agent = "db-02"; q.sid = 2013028; },
    };
    check_like_memory(**s, m, qs, 5000);
  }
}
