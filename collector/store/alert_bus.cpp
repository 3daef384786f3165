#include "collector/store/alert_bus.hpp"

#include <set>

namespace halong::collector {

uint64_t AlertBus::subscribe(Handler h) {
  std::lock_guard lock(mu_);
  uint64_t id = next_++;
  subs_[id] = std::make_shared<Handler>(std::move(h));
  return id;
}

void AlertBus::unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  subs_.erase(id);
}

size_t AlertBus::subscribers() {
  std::lock_guard lock(mu_);
  return subs_.size();
}

void AlertBus::publish(const BusEvent& e) {
  std::vector<std::shared_ptr<Handler>> hs;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, h] : subs_) hs.push_back(h);
  }
  for (auto& h : hs) (*h)(e);
}

Result<BatchResult> PublishingStore::write_batch(const std::string& agent_id, const std::vector<Alert>& alerts) {
  auto before = inner_.highest_seq(agent_id);
  auto r = inner_.write_batch(agent_id, alerts);
  if (!r || r->stored == 0 || bus_.subscribers() == 0) return r;
  publish_stored(agent_id, alerts, before ? *before : 0);
  return r;
}

std::vector<Result<BatchResult>> PublishingStore::write_batches(const std::vector<BatchRef>& batches) {
  std::vector<uint64_t> before;
  before.reserve(batches.size());
  for (const auto& b : batches) {
    auto h = inner_.highest_seq(*b.agent_id);
    before.push_back(h ? *h : 0);
  }
  auto rs = inner_.write_batches(batches);
  if (bus_.subscribers() == 0) return rs;
  for (size_t i = 0; i < batches.size() && i < rs.size(); ++i)
    if (rs[i] && rs[i]->stored) publish_stored(*batches[i].agent_id, *batches[i].alerts, before[i]);
  return rs;
}

// Publish what a write stored: seqs above the previous highest (concurrent batches of one
// agent are a gateway bug; at worst an alert is published twice).
void PublishingStore::publish_stored(const std::string& agent_id, const std::vector<Alert>& alerts, uint64_t from) {
  std::set<uint64_t> incidents;
  for (const auto& a : alerts) {
    if (a.seq <= from) continue;
    std::string id = agent_id + ":" + std::to_string(a.seq);
    auto stored = inner_.get(id);
    auto t = inner_.get_triage(id);
    if (!stored || !t) continue;
    BusEvent e;
    e.alert = std::move(*stored);
    e.triage = std::move(*t);
    if (e.triage.incident) incidents.insert(e.triage.incident);
    bus_.publish(e);
  }
  for (auto id : incidents) {
    auto inc = inner_.get_incident(id);
    if (!inc) continue;
    BusEvent e;
    e.kind = BusEvent::Kind::incident;
    e.incident = std::move(*inc);
    bus_.publish(e);
  }
}

Result<std::pair<Triage, Triage>> PublishingStore::update_triage(const std::string& id, const TriageUpdate& u,
                                                                 const std::string& actor, int64_t now_us) {
  auto r = inner_.update_triage(id, u, actor, now_us);
  if (r && bus_.subscribers() > 0) {
    if (auto a = inner_.get(id)) {
      BusEvent e;
      e.alert = std::move(*a);
      e.triage = r->second;
      e.triage_change = true;
      bus_.publish(e);
    }
  }
  return r;
}

Result<std::pair<Incident, Incident>> PublishingStore::update_incident(uint64_t id, const TriageUpdate& u,
                                                                       const std::string& actor, int64_t now_us) {
  auto r = inner_.update_incident(id, u, actor, now_us);
  if (r) {
    BusEvent e;
    e.kind = BusEvent::Kind::incident;
    e.incident = r->second;
    bus_.publish(e);
  }
  return r;
}

}  // namespace halong::collector
