#include "agent/logs/log_inputs.hpp"

#include <chrono>

namespace halong::agent::logs {

namespace {
int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Result<std::unique_ptr<LogInputs>> LogInputs::open(std::vector<LogInputConfig> inputs, TailerOptions topts,
                                                   ParserOptions popts) {
  auto b = EventBuilder::make(inputs, popts);
  if (!b) return b.error();
  auto t = FileTailer::open(std::move(inputs), std::move(topts));
  if (!t) return t.error();
  return std::unique_ptr<LogInputs>(new LogInputs(std::move(*t), std::move(*b)));
}

size_t LogInputs::poll(const EventFn& on_event) {
  const int64_t now = wall_us();
  size_t n = tailer_->poll([&](const TailLine& l) {
    builder_.handle(l.input, l.path, l.offset, l.text, now, on_event);
    tailer_->commit(l.next);
  });
  if (n > 0) {
    flushed_ = false;
  } else if (!flushed_) {
    builder_.flush(now, on_event);
    flushed_ = true;
  }
  return n;
}

}  // namespace halong::agent::logs
