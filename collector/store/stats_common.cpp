#include "collector/store/stats_common.hpp"

#include <algorithm>

namespace halong::collector::detail {

void StatsBuilder::add(const Alert& a, const Triage& t) {
  ++total_;
  std::string v;
  switch (r_.field) {
    case StatsField::sid: v = std::to_string(a.alert.signature_id); break;
    case StatsField::agent: v = a.agent.id; break;
    case StatsField::agency: v = a.agent.agency; break;
    case StatsField::severity: v = std::to_string(a.alert.severity); break;
    case StatsField::category: v = a.alert.category; break;
    case StatsField::engine: v = a.alert.engine; break;
    case StatsField::status: v = std::string(to_string(t.status)); break;
    case StatsField::src_ip: v = a.src_ip; break;
    case StatsField::dest_ip: v = a.dest_ip; break;
    case StatsField::assignee: v = t.assignee; break;
  }
  --total_;
  add_n(v, a.timestamp_us, 1);
}

void StatsBuilder::add_n(const std::string& v, int64_t ts, uint64_t n) {
  total_ += n;
  by_[v] += n;
  int64_t w = r_.bucket_us > 0 ? r_.bucket_us : 3600LL * 1000000;
  int64_t b = ts / w * w;
  if (ts < 0 && ts % w != 0) b -= w;
  hist_[b] += n;
}

AlertStats StatsBuilder::finish() {
  AlertStats s;
  s.total = total_;
  s.by.assign(by_.begin(), by_.end());
  std::sort(s.by.begin(), s.by.end(), [](const auto& x, const auto& y) {
    return x.second != y.second ? x.second > y.second : x.first < y.first;
  });
  if (s.by.size() > r_.top) s.by.resize(r_.top);
  s.histogram.assign(hist_.begin(), hist_.end());
  return s;
}

std::string incident_group_key(const Alert& a) {
  return std::to_string(a.alert.signature_id) + '|' + a.agent.id + '|' + a.src_ip;
}

bool is_closed(TriageStatus s) { return s == TriageStatus::resolved || s == TriageStatus::false_positive; }

bool join_incident(Incident& open, const Alert& a, const IncidentPolicy& p) {
  int64_t gap = a.timestamp_us >= open.last_seen_us ? a.timestamp_us - open.last_seen_us
                                                     : open.first_seen_us - a.timestamp_us;
  if (gap > p.window_us) return false;
  if (is_closed(open.status)) {
    if (!p.reopen_closed) return false;
    open.status = TriageStatus::fresh;
  }
  ++open.count;
  open.first_seen_us = std::min(open.first_seen_us, a.timestamp_us);
  open.last_seen_us = std::max(open.last_seen_us, a.timestamp_us);
  return true;
}

Incident new_incident(uint64_t id, const Alert& a) {
  Incident i;
  i.id = id;
  i.sid = a.alert.signature_id;
  i.agent = a.agent.id;
  i.agency = a.agent.agency;
  i.src_ip = a.src_ip;
  i.signature = a.alert.signature;
  i.count = 1;
  i.first_seen_us = i.last_seen_us = a.timestamp_us;
  return i;
}

void apply_update(Triage& t, const TriageUpdate& u, const std::string& actor, int64_t now_us) {
  if (u.status) t.status = *u.status;
  if (u.assignee) t.assignee = *u.assignee;
  if (u.comment) t.comments.push_back({actor, now_us, *u.comment});
  t.updated_us = now_us;
  t.updated_by = actor;
}

}  // namespace halong::collector::detail
