#include "collector/store/memory_store.hpp"

#include <algorithm>

#include "collector/store/stats_common.hpp"
#include "collector/store/store_common.hpp"

namespace halong::collector {

uint32_t MemoryStore::agent_num(const std::string& agent) {
  auto it = agent_nums_.find(agent);
  if (it != agent_nums_.end()) return it->second;
  uint32_t n = static_cast<uint32_t>(agent_nums_.size() + 1);
  agent_nums_[agent] = n;
  return n;
}

Result<BatchResult> MemoryStore::write_batch(const std::string& agent_id, const std::vector<Alert>& alerts) {
  if (agent_id.empty()) return make_error(ErrorCode::invalid_argument, "write_batch: empty agent id");
  std::lock_guard lock(mu_);
  BatchResult r;
  uint64_t hi = cursors_[agent_id];
  uint32_t num = agent_num(agent_id);
  for (const auto& a0 : alerts) {
    if (a0.seq == 0) return make_error(ErrorCode::invalid_argument, "write_batch: alert with seq 0 from agent " + agent_id);
  }
  for (const auto& a0 : alerts) {
    if (a0.seq <= hi) {
      ++r.duplicates;
      continue;
    }
    hi = a0.seq;
    Rec rec{a0, {}};
    rec.alert.agent.id = agent_id;
    rec.alert.id = agent_id + ":" + std::to_string(a0.seq);
    // incident grouping
    auto gk = detail::incident_group_key(rec.alert);
    auto oi = open_incidents_.find(gk);
    if (oi != open_incidents_.end() && detail::join_incident(incidents_[oi->second], rec.alert, policy_)) {
      rec.triage.incident = oi->second;
    } else {
      uint64_t id = next_incident_++;
      incidents_[id] = detail::new_incident(id, rec.alert);
      open_incidents_[gk] = id;
      rec.triage.incident = id;
    }
    auto key = keys::alert_key(rec.alert.timestamp_us, num, a0.seq);
    ids_[rec.alert.id] = key;
    alerts_[key] = std::move(rec);
    ++r.stored;
  }
  cursors_[agent_id] = hi;
  r.highest_seq = hi;
  return r;
}

Result<uint64_t> MemoryStore::highest_seq(const std::string& agent_id) {
  std::lock_guard lock(mu_);
  auto it = cursors_.find(agent_id);
  return it == cursors_.end() ? uint64_t{0} : it->second;
}

std::string* MemoryStore::find_key(const std::string& id) {
  auto it = ids_.find(id);
  return it == ids_.end() ? nullptr : &it->second;
}

Result<Alert> MemoryStore::get(const std::string& id) {
  auto parts = split_alert_id(id);
  if (!parts) return parts.error();
  std::lock_guard lock(mu_);
  auto* k = find_key(id);
  if (!k) return make_error(ErrorCode::not_found, "no alert " + id);
  return alerts_.at(*k).alert;
}

Result<AlertPage> MemoryStore::query(const AlertQuery& q) {
  std::string start;
  if (!q.cursor.empty()) {
    auto c = keys::decode_cursor(q.cursor);
    if (!c) return c.error();
    start = *c;
  }
  std::lock_guard lock(mu_);
  AlertPage page;
  const size_t limit = std::max<size_t>(1, q.limit);
  auto it = start.empty() ? alerts_.end() : alerts_.lower_bound(start);
  while (it != alerts_.begin()) {
    --it;
    if (!alert_matches(q, it->second.alert, it->second.triage)) continue;
    if (page.alerts.size() == limit) {
      page.next_cursor = keys::encode_cursor(start);
      break;
    }
    page.alerts.push_back(it->second.alert);
    page.triage.push_back(it->second.triage);
    start = it->first;
  }
  return page;
}

Result<Triage> MemoryStore::get_triage(const std::string& id) {
  std::lock_guard lock(mu_);
  auto* k = find_key(id);
  if (!k) return make_error(ErrorCode::not_found, "no alert " + id);
  return alerts_.at(*k).triage;
}

Result<std::pair<Triage, Triage>> MemoryStore::update_triage(const std::string& id, const TriageUpdate& u,
                                                             const std::string& actor, int64_t now_us) {
  std::lock_guard lock(mu_);
  auto* k = find_key(id);
  if (!k) return make_error(ErrorCode::not_found, "no alert " + id);
  auto& t = alerts_.at(*k).triage;
  Triage before = t;
  detail::apply_update(t, u, actor, now_us);
  return std::make_pair(before, t);
}

Result<AlertStats> MemoryStore::stats(const AlertQuery& q, const StatsRequest& r) {
  std::lock_guard lock(mu_);
  detail::StatsBuilder b(r);
  for (const auto& [k, rec] : alerts_)
    if (alert_matches(q, rec.alert, rec.triage)) b.add(rec.alert, rec.triage);
  return b.finish();
}

Result<Incident> MemoryStore::get_incident(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = incidents_.find(id);
  if (it == incidents_.end()) return make_error(ErrorCode::not_found, "no incident " + std::to_string(id));
  return it->second;
}

Result<std::vector<Incident>> MemoryStore::list_incidents(const AlertQuery& q) {
  std::lock_guard lock(mu_);
  std::vector<Incident> out;
  for (const auto& [id, i] : incidents_) {
    if (q.scope && std::find(q.scope->begin(), q.scope->end(), i.agency) == q.scope->end()) continue;
    if (q.agency && i.agency != *q.agency) continue;
    if (q.agent && i.agent != *q.agent) continue;
    if (q.status && i.status != *q.status) continue;
    if (q.sid && i.sid != *q.sid) continue;
    out.push_back(i);
  }
  std::sort(out.begin(), out.end(), [](const Incident& a, const Incident& b) {
    return a.last_seen_us != b.last_seen_us ? a.last_seen_us > b.last_seen_us : a.id > b.id;
  });
  if (out.size() > q.limit) out.resize(q.limit);
  return out;
}

Result<std::pair<Incident, Incident>> MemoryStore::update_incident(uint64_t id, const TriageUpdate& u,
                                                                   const std::string& actor, int64_t now_us) {
  std::lock_guard lock(mu_);
  auto it = incidents_.find(id);
  if (it == incidents_.end()) return make_error(ErrorCode::not_found, "no incident " + std::to_string(id));
  Incident before = it->second;
  if (u.status) it->second.status = *u.status;
  if (u.assignee) it->second.assignee = *u.assignee;
  for (auto& [k, rec] : alerts_)
    if (rec.triage.incident == id) detail::apply_update(rec.triage, u, actor, now_us);
  return std::make_pair(before, it->second);
}

Result<uint64_t> MemoryStore::delete_before(int64_t cutoff_us) {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (auto it = alerts_.begin(); it != alerts_.end() && it->second.alert.timestamp_us < cutoff_us;) {
    ids_.erase(it->second.alert.id);
    it = alerts_.erase(it);
    ++n;
  }
  return n;
}

uint64_t MemoryStore::alert_count() {
  std::lock_guard lock(mu_);
  return alerts_.size();
}

}  // namespace halong::collector
