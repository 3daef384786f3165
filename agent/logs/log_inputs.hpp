// LogInputs: the file inputs of the agent in one object — FileTailer + one parser per
// input — handing out LogEvents and committing each line once its events are handled.
//
//   auto li = LogInputs::open(cfg.inputs, {.state_dir = data_dir + "/logs"});
//   loop: n = li->poll([&](const LogEvent& ev) { detector.on_event(ev); });  // alerts spooled inside
//         li->sync(std::to_string(spool.last_seq()));
//         if (n == 0) li->wait(200);
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/logs/file_reader.hpp"
#include "agent/logs/file_tailer.hpp"
#include "agent/logs/input_config.hpp"
#include "agent/logs/parser.hpp"
#include "core/log_event.hpp"
#include "core/result.hpp"

namespace halong::agent::logs {

class LogInputs {
 public:
  static Result<std::unique_ptr<LogInputs>> open(std::vector<LogInputConfig> inputs, TailerOptions topts,
                                                 ParserOptions popts = {});

  // Reads new lines, calls on_event for each event (a line's own event, then the events it
  // completed), then commits the line. When nothing was read, completes pending
  // multi-line events (auditd). Returns bytes read. Events are valid during the call only.
  using EventFn = std::function<void(const halong::logs::LogEvent&)>;
  size_t poll(const EventFn& on_event);

  Status sync(std::string_view app_state = {}) { return tailer_->sync(app_state); }
  const std::string& restored_app_state() const { return tailer_->restored_app_state(); }
  void wait(int timeout_ms) { tailer_->wait(timeout_ms); }
  int wait_fd() const { return tailer_->wait_fd(); }
  const TailerStats& tail_stats() const { return tailer_->stats(); }
  const ParseStats& parse_stats() const { return builder_.stats(); }

 private:
  LogInputs(std::unique_ptr<FileTailer> t, EventBuilder b) : tailer_(std::move(t)), builder_(std::move(b)) {}
  std::unique_ptr<FileTailer> tailer_;
  EventBuilder builder_;
  bool flushed_ = true;
};

}  // namespace halong::agent::logs
