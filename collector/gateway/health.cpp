#include "collector/gateway/health.hpp"

#include <algorithm>

#include <boost/json.hpp>

namespace halong::collector {

const char* to_string(AgentState s) {
  switch (s) {
    case AgentState::online: return "online";
    case AgentState::degraded: return "degraded";
    case AgentState::offline: return "offline";
  }
  return "offline";
}

HealthTracker::HealthTracker(HealthPolicy p, NowFn now) : policy_(p), now_(std::move(now)) {
  if (!now_)
    now_ = [] {
      return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    };
}

void HealthTracker::on_connect(const std::string& agent) {
  std::lock_guard lk(mu_);
  auto& e = agents_[agent];
  e.h.agent_id = agent;
  e.h.connected = true;
  e.h.last_seen_us = now_();
  e.reported_offline = false;
}

void HealthTracker::on_disconnect(const std::string& agent) {
  std::lock_guard lk(mu_);
  auto it = agents_.find(agent);
  if (it != agents_.end()) it->second.h.connected = false;
}

void HealthTracker::on_frame(const std::string& agent) {
  std::lock_guard lk(mu_);
  auto& e = agents_[agent];
  e.h.agent_id = agent;
  e.h.last_seen_us = now_();
  e.reported_offline = false;
}

void HealthTracker::on_heartbeat(const std::string& agent, const std::string& stats_json) {
  boost::system::error_code ec;
  auto v = boost::json::parse(stats_json, ec);
  std::lock_guard lk(mu_);
  auto& e = agents_[agent];
  e.h.agent_id = agent;
  e.h.last_seen_us = e.h.last_heartbeat_us = now_();
  e.reported_offline = false;
  e.h.stats_json = stats_json;
  if (ec || !v.is_object()) return;
  const auto& o = v.get_object();
  auto num = [&](const char* k) -> std::optional<uint64_t> {
    auto it = o.find(k);
    if (it == o.end()) return std::nullopt;
    if (it->value().is_uint64()) return it->value().get_uint64();
    if (it->value().is_int64() && it->value().get_int64() >= 0) return static_cast<uint64_t>(it->value().get_int64());
    if (it->value().is_double() && it->value().get_double() >= 0) return static_cast<uint64_t>(it->value().get_double());
    return std::nullopt;
  };
  if (auto d = num("spool_depth")) {
    e.depths.push_back(*d);
    if (e.depths.size() > policy_.growth_window + 1) e.depths.erase(e.depths.begin());
  }
  if (auto d = num("spool_dropped")) {
    e.dropping = *d > e.last_dropped;
    e.last_dropped = *d;
  }
  if (auto d = num("packets_dropped")) {
    e.pkt_dropping = *d > e.last_pkt_dropped;
    e.last_pkt_dropped = *d;
  }
  auto rv = o.find("ruleset_version");
  if (rv != o.end() && rv->value().is_string()) e.h.ruleset_version = std::string(rv->value().get_string());
}

void HealthTracker::on_ruleset_status(const std::string& agent, const std::string& version, bool ok, const std::string& message) {
  std::lock_guard lk(mu_);
  auto& e = agents_[agent];
  e.h.agent_id = agent;
  e.h.ruleset_failed = !ok;
  e.h.ruleset_message = message;
  if (ok) e.h.ruleset_version = version;
}

AgentHealth HealthTracker::evaluate(const Entry& e) const {
  AgentHealth h = e.h;
  h.reasons.clear();
  int64_t now = now_();
  auto offline_us = std::chrono::duration_cast<std::chrono::microseconds>(policy_.offline_after).count();
  if (h.last_seen_us == 0 || now - h.last_seen_us > offline_us) {
    h.state = AgentState::offline;
    h.reasons.push_back("no heartbeat for more than " + std::to_string(policy_.offline_after.count() / 1000) + " s");
    return h;
  }
  if (e.depths.size() == policy_.growth_window + 1) {
    bool growing = true;
    for (size_t i = 1; i < e.depths.size(); ++i) growing = growing && e.depths[i] > e.depths[i - 1];
    if (growing) h.reasons.push_back("spool growing (" + std::to_string(e.depths.back()) + " alerts waiting)");
  }
  if (e.dropping) h.reasons.push_back("spool full: alerts dropped (" + std::to_string(e.last_dropped) + " in total)");
  if (e.pkt_dropping) h.reasons.push_back("capture dropping packets (" + std::to_string(e.last_pkt_dropped) + " in total)");
  if (h.ruleset_failed) h.reasons.push_back("ruleset push failed: " + h.ruleset_message);
  h.state = h.reasons.empty() ? AgentState::online : AgentState::degraded;
  return h;
}

std::vector<AgentHealth> HealthTracker::all() const {
  std::lock_guard lk(mu_);
  std::vector<AgentHealth> out;
  for (auto& [id, e] : agents_) out.push_back(evaluate(e));
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.agent_id < b.agent_id; });
  return out;
}

std::optional<AgentHealth> HealthTracker::get(const std::string& agent) const {
  std::lock_guard lk(mu_);
  auto it = agents_.find(agent);
  if (it == agents_.end()) return std::nullopt;
  return evaluate(it->second);
}

std::vector<std::string> HealthTracker::sweep() {
  std::lock_guard lk(mu_);
  std::vector<std::string> out;
  for (auto& [id, e] : agents_) {
    if (e.reported_offline) continue;
    if (evaluate(e).state == AgentState::offline) {
      e.reported_offline = true;
      out.push_back(id);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace halong::collector
