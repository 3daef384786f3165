#include "collector/store/retention.hpp"

#include <spdlog/spdlog.h>

namespace halong::collector {

RetentionWorker::RetentionWorker(AlertStore& store, int64_t max_age_us, Clock now)
    : store_(store), max_age_us_(max_age_us), now_(std::move(now)) {}

RetentionWorker::~RetentionWorker() { stop(); }

Result<uint64_t> RetentionWorker::run_once() {
  if (max_age_us_ <= 0) return make_error(ErrorCode::invalid_argument, "retention: max age must be positive");
  int64_t now = now_();
  int64_t cutoff = now < INT64_MIN + max_age_us_ ? INT64_MIN : now - max_age_us_;
  auto n = store_.delete_before(cutoff);
  if (!n) {
    ++failures_;
    return n.error();
  }
  deleted_ += *n;
  return *n;
}

void RetentionWorker::start(std::chrono::milliseconds period) {
  stop();
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this, period] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      auto r = run_once();
      if (!r) spdlog::warn("retention: {}", r.error().message);
      else if (*r) spdlog::info("retention: deleted {} alerts", *r);
      lock.lock();
      cv_.wait_for(lock, period, [this] { return stopping_; });
    }
  });
}

void RetentionWorker::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace halong::collector
