#include <catch2/catch.hpp>

#include <rocksdb/db.h>

#include <boost/json.hpp>

#include "../collector_store/store_fixture.hpp"
#include "collector/store/audit_log.hpp"
#include "collector/store/store_common.hpp"

using namespace halong;
using namespace halong::collector;
using namespace halong::collector::test;
namespace json = boost::json;

TEST_CASE("audit log chains records and verify accepts an untouched chain", "[collector][audit]") {
  TempDir d;
  auto s = RocksStore::open(d.path.string());
  REQUIRE(s.ok());
  AuditLog log(**s);
  for (int i = 0; i < 5; ++i)
    REQUIRE(log.append(kBase + i, "lan", "alert.update", "web-01:" + std::to_string(i), json::object{{"status", "new"}},
                       json::object{{"status", "resolved"}})
                .ok());
  auto v = log.verify();
  REQUIRE(v.ok());
  CHECK(v->ok);
  CHECK(v->records == 5);
  auto recs = log.list({});
  REQUIRE(recs.ok());
  REQUIRE(recs->size() == 5);
  CHECK(recs->front().seq == 5);
  CHECK(recs->front().prev_hash == (*recs)[1].hash);
  AuditFilter f;
  f.target = "web-01:3";
  CHECK(log.list(f).value().size() == 1);
}

TEST_CASE("audit verify names the record edited directly in RocksDB", "[collector][audit]") {
  TempDir d;
  {
    auto s = RocksStore::open(d.path.string());
    REQUIRE(s.ok());
    AuditLog log(**s);
    for (int i = 0; i < 6; ++i)
      REQUIRE(log.append(kBase + i, "lan", "alert.update", "db-02:" + std::to_string(i), nullptr,
                         json::object{{"status", "acknowledged"}})
                  .ok());
    // Edit record 4 behind the log's back: who did it becomes someone else.
    std::string key;
    keys::put_u64(key, 4);
    std::string v;
    REQUIRE((*s)->db()->Get(rocksdb::ReadOptions(), (*s)->family("audit"), key, &v).ok());
    auto j = json::parse(v).as_object();
    j["actor"] = "mallory";
    REQUIRE((*s)->db()->Put(rocksdb::WriteOptions(), (*s)->family("audit"), key, json::serialize(j)).ok());
  }
  // The CLI path: read-only open of the store directory.
  auto v = verify_audit_log(d.path.string());
  REQUIRE(v.ok());
  CHECK(!v->ok);
  CHECK(v->broken_seq == 4);
  CHECK(v->reason.find("record 4") != std::string::npos);
  CHECK(v->records == 3);
}

TEST_CASE("audit verify reports a deleted record as a missing link", "[collector][audit]") {
  TempDir d;
  auto s = RocksStore::open(d.path.string());
  REQUIRE(s.ok());
  AuditLog log(**s);
  for (int i = 0; i < 4; ++i) REQUIRE(log.append(kBase, "root", "user.add", "u" + std::to_string(i), nullptr, nullptr).ok());
  std::string key;
  keys::put_u64(key, 2);
  REQUIRE((*s)->db()->Delete(rocksdb::WriteOptions(), (*s)->family("audit"), key).ok());
  auto v = log.verify();
  REQUIRE(v.ok());
  CHECK(!v->ok);
  CHECK(v->broken_seq == 3);
  // The log continues the chain after a reopen.
  auto r = log.append(kBase, "root", "user.add", "u9", nullptr, nullptr);
  REQUIRE(r.ok());
  CHECK(r->seq == 5);
}

TEST_CASE("audit verify of a directory that is not a store is a clear error", "[collector][audit]") {
  TempDir d;
  auto v = verify_audit_log((d.path / "nothing").string());
  REQUIRE(!v.ok());
  CHECK(v.error().code == ErrorCode::storage_error);
}
