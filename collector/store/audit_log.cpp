#include "collector/store/audit_log.hpp"

#include <openssl/evp.h>
#include <rocksdb/db.h>

#include <boost/json.hpp>

#include "collector/store/rocks_store.hpp"
#include "collector/store/store_common.hpp"

namespace halong::collector {

namespace json = boost::json;

namespace {

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
    s.push_back(hex[md[i] >> 4]);
    s.push_back(hex[md[i] & 15]);
  }
  return s;
}

// Every field but the hash, in a fixed order: serialised, the hashed (canonical) form.
json::object canonical_object(const AuditRecord& r) {
  json::object o;
  o["seq"] = r.seq;
  o["time_us"] = r.time_us;
  o["actor"] = r.actor;
  o["action"] = r.action;
  o["target"] = r.target;
  o["before"] = r.before;
  o["after"] = r.after;
  o["prev_hash"] = r.prev_hash;
  return o;
}
std::string canonical(const AuditRecord& r) { return json::serialize(canonical_object(r)); }

std::string key_of(uint64_t seq) {
  std::string k;
  keys::put_u64(k, seq);
  return k;
}

Result<AuditRecord> parse_record(std::string_view v) {
  boost::system::error_code ec;
  auto j = json::parse(v, ec);
  if (ec || !j.is_object()) return make_error(ErrorCode::storage_error, "audit record is not JSON");
  const auto& o = j.as_object();
  AuditRecord r;
  try {
    r.seq = o.at("seq").to_number<uint64_t>();
    r.time_us = o.at("time_us").to_number<int64_t>();
    r.actor = json::value_to<std::string>(o.at("actor"));
    r.action = json::value_to<std::string>(o.at("action"));
    r.target = json::value_to<std::string>(o.at("target"));
    r.before = o.at("before");
    r.after = o.at("after");
    r.prev_hash = json::value_to<std::string>(o.at("prev_hash"));
    r.hash = json::value_to<std::string>(o.at("hash"));
  } catch (const std::exception& e) {
    return make_error(ErrorCode::storage_error, std::string("audit record: ") + e.what());
  }
  return r;
}

}  // namespace

json::object audit_to_json(const AuditRecord& r) {
  json::object o = canonical_object(r);
  o["time"] = format_timestamp(r.time_us);
  o["hash"] = r.hash;
  return o;
}

AuditLog::AuditLog(RocksStore& store) : store_(store) {}

Result<AuditRecord> AuditLog::append(int64_t time_us, const std::string& actor, const std::string& action,
                                     const std::string& target, json::value before, json::value after) {
  std::lock_guard lock(mu_);
  auto* db = store_.db();
  auto* cf = store_.family("audit");
  if (!last_) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
    it->SeekToLast();
    if (!it->status().ok()) return make_error(ErrorCode::storage_error, "audit log: " + it->status().ToString());
    if (it->Valid()) {
      auto r = parse_record(it->value().ToStringView());
      if (!r) return r.error();
      last_ = std::make_pair(r->seq, r->hash);
    } else {
      last_ = std::make_pair(uint64_t{0}, std::string());
    }
  }
  AuditRecord r;
  r.seq = last_->first + 1;
  r.time_us = time_us;
  r.actor = actor;
  r.action = action;
  r.target = target;
  r.before = std::move(before);
  r.after = std::move(after);
  r.prev_hash = last_->second;
  r.hash = sha256_hex(canonical(r));
  json::object stored = audit_to_json(r);
  rocksdb::WriteOptions wo;
  wo.sync = store_.sync();
  auto st = db->Put(wo, cf, key_of(r.seq), json::serialize(stored));
  if (!st.ok()) return make_error(ErrorCode::storage_error, "audit log append: " + st.ToString());
  last_ = std::make_pair(r.seq, r.hash);
  return r;
}

Result<std::vector<AuditRecord>> AuditLog::list(const AuditFilter& f) {
  std::vector<AuditRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(store_.db()->NewIterator(rocksdb::ReadOptions(), store_.family("audit")));
  if (f.before_seq == UINT64_MAX) it->SeekToLast();
  else it->SeekForPrev(key_of(f.before_seq - 1));
  for (; it->Valid() && out.size() < f.limit; it->Prev()) {
    auto r = parse_record(it->value().ToStringView());
    if (!r) return r.error();
    if (f.actor && r->actor != *f.actor) continue;
    if (f.action && r->action != *f.action) continue;
    if (f.target && r->target != *f.target) continue;
    if (r->time_us < f.from_us || r->time_us >= f.to_us) continue;
    out.push_back(std::move(*r));
  }
  if (!it->status().ok()) return make_error(ErrorCode::storage_error, "audit log: " + it->status().ToString());
  return out;
}

Result<AuditVerdict> AuditLog::verify() {
  AuditVerdict v;
  std::unique_ptr<rocksdb::Iterator> it(store_.db()->NewIterator(rocksdb::ReadOptions(), store_.family("audit")));
  std::string prev;
  uint64_t expect = 1;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    uint64_t kseq = it->key().size() == 8 ? keys::get_u64(it->key().data()) : 0;
    auto fail = [&](std::string why) {
      v.ok = false;
      v.broken_seq = kseq;
      v.reason = "audit record " + std::to_string(kseq) + ": " + std::move(why);
      return v;
    };
    if (kseq != expect) return fail("expected record " + std::to_string(expect) + " (a record is missing)");
    auto r = parse_record(it->value().ToStringView());
    if (!r) return fail(r.error().message);
    if (r->seq != kseq) return fail("its seq field says " + std::to_string(r->seq));
    if (r->prev_hash != prev) return fail("prev_hash does not match the hash of record " + std::to_string(kseq - 1));
    if (sha256_hex(canonical(*r)) != r->hash) return fail("content does not match its hash (edited)");
    prev = r->hash;
    ++expect;
    ++v.records;
  }
  if (!it->status().ok()) return make_error(ErrorCode::storage_error, "audit log: " + it->status().ToString());
  return v;
}

Result<AuditVerdict> verify_audit_log(const std::string& store_dir) {
  RocksOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  o.block_cache_mb = 8;
  auto s = RocksStore::open(store_dir, o);
  if (!s) return s.error();
  AuditLog log(**s);
  return log.verify();
}

}  // namespace halong::collector
