// AlertBus: in-process publish/subscribe of stored alerts and incident changes (feeds the
// API's live WebSocket stream). PublishingStore wraps an AlertStore and publishes what each
// successful write stored — wire the gateway and the API to the wrapper.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "collector/store/alert_store.hpp"

namespace halong::collector {

struct BusEvent {
  enum class Kind { alert, incident } kind = Kind::alert;
  Alert alert;         // kind == alert
  Triage triage;       // kind == alert
  Incident incident;   // kind == incident
  bool triage_change = false;  // kind == alert: an analyst changed a stored alert (not a new one)
};

class AlertBus {
 public:
  using Handler = std::function<void(const BusEvent&)>;
  // Handlers run on the publisher's thread: they must be quick and must not block (post
  // to your own executor). Returns an id for unsubscribe.
  uint64_t subscribe(Handler h);
  void unsubscribe(uint64_t id);
  void publish(const BusEvent& e);
  size_t subscribers();

 private:
  std::mutex mu_;
  std::map<uint64_t, std::shared_ptr<Handler>> subs_;
  uint64_t next_ = 1;
};

class PublishingStore final : public AlertStore {
 public:
  PublishingStore(AlertStore& inner, AlertBus& bus) : inner_(inner), bus_(bus) {}

  Result<BatchResult> write_batch(const std::string& agent_id, const std::vector<Alert>& alerts) override;
  std::vector<Result<BatchResult>> write_batches(const std::vector<BatchRef>& batches) override;
  Result<uint64_t> highest_seq(const std::string& agent_id) override { return inner_.highest_seq(agent_id); }
  Result<Alert> get(const std::string& id) override { return inner_.get(id); }
  Result<AlertPage> query(const AlertQuery& q) override { return inner_.query(q); }
  Result<Triage> get_triage(const std::string& id) override { return inner_.get_triage(id); }
  Result<std::pair<Triage, Triage>> update_triage(const std::string& id, const TriageUpdate& u, const std::string& actor,
                                                  int64_t now_us) override;
  Result<AlertStats> stats(const AlertQuery& q, const StatsRequest& r) override { return inner_.stats(q, r); }
  Result<Incident> get_incident(uint64_t id) override { return inner_.get_incident(id); }
  Result<std::vector<Incident>> list_incidents(const AlertQuery& q) override { return inner_.list_incidents(q); }
  Result<std::pair<Incident, Incident>> update_incident(uint64_t id, const TriageUpdate& u, const std::string& actor,
                                                        int64_t now_us) override;
  Result<uint64_t> delete_before(int64_t cutoff_us) override { return inner_.delete_before(cutoff_us); }
  uint64_t alert_count() override { return inner_.alert_count(); }

 private:
  // Publishes the alerts of a batch whose seq is above `from` (what the write stored).
  void publish_stored(const std::string& agent_id, const std::vector<Alert>& alerts, uint64_t from);
  AlertStore& inner_;
  AlertBus& bus_;
};

}  // namespace halong::collector
