#include "agent/logs/file_reader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace halong::agent::logs {

Result<ReadStats> read_log_file(const std::string& path, size_t max_line, const RawLineFn& on_line) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::io_error, "cannot open log file " + path + ": " + std::strerror(errno));
  if (max_line == 0) max_line = 1;
  ReadStats st;
  std::string pending;
  bool cutting = false;
  uint64_t pos = 0, line_start = 0;
  std::vector<char> buf(64 * 1024);
  auto emit = [&] {
    std::string_view t = pending;
    if (!cutting && !t.empty() && t.back() == '\r') t.remove_suffix(1);
    ++st.lines;
    if (cutting) ++st.lines_truncated;
    on_line(line_start, t, cutting);
    pending.clear();
    cutting = false;
  };
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      Error e = make_error(ErrorCode::io_error, "cannot read log file " + path + ": " + std::strerror(errno));
      ::close(fd);
      return e;
    }
    if (n == 0) break;
    st.bytes += static_cast<uint64_t>(n);
    const char* p = buf.data();
    const char* end = p + n;
    while (p < end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      const char* seg_end = nl ? nl : end;
      if (!cutting) {
        size_t seg = static_cast<size_t>(seg_end - p);
        size_t room = max_line - pending.size();
        if (seg > room) {
          pending.append(p, room);
          cutting = true;
        } else {
          pending.append(p, seg);
        }
      }
      if (nl) {
        emit();
        line_start = pos + static_cast<uint64_t>(nl - buf.data()) + 1;
      }
      p = nl ? nl + 1 : end;
    }
    pos += static_cast<uint64_t>(n);
  }
  ::close(fd);
  if (!pending.empty() || cutting) emit();
  return st;
}

Result<EventBuilder> EventBuilder::make(const std::vector<LogInputConfig>& inputs, const ParserOptions& opts) {
  EventBuilder b;
  b.sources_.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto p = make_parser(inputs[i].format, opts);
    if (!p) return make_error(p.error().code, "log input " + std::to_string(i) + ": " + p.error().message);
    b.parsers_.push_back(std::move(*p));
    b.sources_.push_back(inputs[i].source);
  }
  return b;
}

void EventBuilder::handle(size_t input, std::string_view path, uint64_t offset, std::string_view line,
                          int64_t read_time_us, const EventFn& on_event) {
  if (input >= parsers_.size()) return;
  Parser& p = *parsers_[input];
  ++stats_.lines;
  bool ok = p.parse(line, ev_);
  if (ok) {
    ++stats_.parsed;
  } else {
    ++stats_.unparsed;
    ev_.fields.clear();
    ev_.ts_us = 0;
  }
  ev_.raw = line;
  ev_.path = path;
  ev_.offset = offset;
  ev_.source = &sources_[input];
  if (ev_.ts_us == 0) ev_.ts_us = read_time_us;
  on_event(ev_);
  while (p.next_derived(ev_)) {
    ++stats_.derived;
    ev_.path = path;
    ev_.offset = offset;
    if (ev_.ts_us == 0) ev_.ts_us = read_time_us;
    on_event(ev_);
  }
}

void EventBuilder::flush(int64_t read_time_us, const EventFn& on_event) {
  for (auto& p : parsers_) {
    p->flush();
    while (p->next_derived(ev_)) {
      ++stats_.derived;
      ev_.path = {};
      ev_.offset = 0;
      if (ev_.ts_us == 0) ev_.ts_us = read_time_us;
      on_event(ev_);
    }
  }
}

}  // namespace halong::agent::logs
