// RetentionWorker: deletes alerts older than a maximum age, on a timer, with an injected
// clock (tests call run_once with a fake clock; no sleeping).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "collector/store/alert_store.hpp"

namespace halong::collector {

class RetentionWorker {
 public:
  using Clock = std::function<int64_t()>;  // now, µs since the epoch
  // max_age_us > 0. The store must outlive the worker.
  RetentionWorker(AlertStore& store, int64_t max_age_us, Clock now);
  ~RetentionWorker();  // stops

  // Deletes alerts with timestamp < now() - max_age; returns how many.
  Result<uint64_t> run_once();
  // Runs run_once every `period` on a background thread (first run immediately).
  void start(std::chrono::milliseconds period);
  void stop();

  uint64_t deleted_total() const { return deleted_.load(); }
  uint64_t failures() const { return failures_.load(); }

 private:
  AlertStore& store_;
  int64_t max_age_us_;
  Clock now_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<uint64_t> deleted_{0}, failures_{0};
};

}  // namespace halong::collector
