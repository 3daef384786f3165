#include "agent/logs/journald.hpp"

#include <dlfcn.h>
#include <systemd/sd-journal.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "agent/logs/tail_state.hpp"
#include "agent/logs/text_util.hpp"
#include "core/alert.hpp"

namespace halong::agent::logs {

namespace {

// The libsystemd functions we use, resolved once.
struct Sd {
  void* handle = nullptr;
  decltype(&sd_journal_open) open = nullptr;
  decltype(&sd_journal_open_directory) open_directory = nullptr;
  decltype(&sd_journal_close) close = nullptr;
  decltype(&sd_journal_next) next = nullptr;
  decltype(&sd_journal_previous) previous = nullptr;
  decltype(&sd_journal_get_realtime_usec) get_realtime_usec = nullptr;
  decltype(&sd_journal_get_data) get_data = nullptr;
  decltype(&sd_journal_add_match) add_match = nullptr;
  decltype(&sd_journal_add_disjunction) add_disjunction = nullptr;
  decltype(&sd_journal_seek_head) seek_head = nullptr;
  decltype(&sd_journal_seek_tail) seek_tail = nullptr;
  decltype(&sd_journal_seek_cursor) seek_cursor = nullptr;
  decltype(&sd_journal_get_cursor) get_cursor = nullptr;
  decltype(&sd_journal_test_cursor) test_cursor = nullptr;
  decltype(&sd_journal_get_fd) get_fd = nullptr;
  decltype(&sd_journal_wait) wait = nullptr;
  std::string error;
};

template <class F>
bool resolve(Sd& sd, F& f, const char* name) {
  f = reinterpret_cast<F>(::dlsym(sd.handle, name));
  if (!f) sd.error = std::string("libsystemd.so.0 has no ") + name;
  return f != nullptr;
}

const Sd& sd() {
  static Sd s;
  static std::once_flag once;
  std::call_once(once, [] {
    s.handle = ::dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!s.handle) {
      const char* e = ::dlerror();
      s.error = std::string("cannot load libsystemd.so.0: ") + (e ? e : "unknown error");
      return;
    }
    bool ok = resolve(s, s.open, "sd_journal_open") && resolve(s, s.open_directory, "sd_journal_open_directory") &&
              resolve(s, s.close, "sd_journal_close") && resolve(s, s.next, "sd_journal_next") &&
              resolve(s, s.previous, "sd_journal_previous") &&
              resolve(s, s.get_realtime_usec, "sd_journal_get_realtime_usec") &&
              resolve(s, s.get_data, "sd_journal_get_data") && resolve(s, s.add_match, "sd_journal_add_match") &&
              resolve(s, s.add_disjunction, "sd_journal_add_disjunction") &&
              resolve(s, s.seek_head, "sd_journal_seek_head") && resolve(s, s.seek_tail, "sd_journal_seek_tail") &&
              resolve(s, s.seek_cursor, "sd_journal_seek_cursor") &&
              resolve(s, s.get_cursor, "sd_journal_get_cursor") &&
              resolve(s, s.test_cursor, "sd_journal_test_cursor") && resolve(s, s.get_fd, "sd_journal_get_fd") &&
              resolve(s, s.wait, "sd_journal_wait");
    if (!ok) {
      ::dlclose(s.handle);
      s.handle = nullptr;
    }
  });
  return s;
}

constexpr std::string_view kMagic = "halong-journal-cursor 1";

}  // namespace

bool journal_available() { return sd().handle != nullptr; }

struct JournalReader::Impl {
  JournalConfig cfg;
  std::string state_path;
  sd_journal* j = nullptr;
  std::string committed;  // cursor of the last handled entry
  std::string app_state;
  bool deliver_current = false;  // positioned on an entry not yet delivered
  JournalStats stats;
  std::string line, cursor;

  ~Impl() {
    if (j) sd().close(j);
  }

  std::string_view field(const char* name) {
    const void* data = nullptr;
    size_t len = 0;
    if (sd().get_data(j, name, &data, &len) < 0 || !data) return {};
    std::string_view v(static_cast<const char*>(data), len);
    size_t eq = v.find('=');
    return eq == std::string_view::npos ? std::string_view{} : v.substr(eq + 1);
  }

  bool read_current(const EntryFn& on_entry) {
    uint64_t rt = 0;
    sd().get_realtime_usec(j, &rt);
    char* c = nullptr;
    if (sd().get_cursor(j, &c) < 0 || !c) {
      ++stats.errors;
      return false;
    }
    cursor.assign(c);
    std::free(c);
    std::string_view host = field("_HOSTNAME");
    std::string_view ident = field("SYSLOG_IDENTIFIER");
    if (ident.empty()) ident = field("_COMM");
    std::string ident_s(ident);
    std::string_view pid = field("SYSLOG_PID");
    if (pid.empty()) pid = field("_PID");
    std::string pid_s(pid), host_s(host.empty() ? std::string_view("-") : host);
    std::string_view msg = field("MESSAGE");
    line = halong::format_timestamp(static_cast<int64_t>(rt));
    line += ' ';
    line += host_s;
    line += ' ';
    line += ident_s.empty() ? std::string("-") : ident_s;
    if (!pid_s.empty()) {
      line += '[';
      line += pid_s;
      line += ']';
    }
    line += ": ";
    // one event per entry: a multi-line MESSAGE keeps its newlines escaped
    for (char ch : msg) {
      if (ch == '\n') line += "\\n";
      else line.push_back(ch);
    }
    ++stats.entries;
    on_entry(JournalLine{line, cursor, rt});
    return true;
  }
};

JournalReader::JournalReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JournalReader::~JournalReader() = default;

Result<std::unique_ptr<JournalReader>> JournalReader::open(JournalConfig cfg, const std::string& state_dir) {
  const Sd& s = sd();
  if (!s.handle) return make_error(ErrorCode::unavailable, "journald input '" + cfg.name + "': " + s.error);
  if (state_dir.empty()) return make_error(ErrorCode::invalid_argument, "journald input: state_dir is empty");
  for (char ch : cfg.name)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_'))
      return make_error(ErrorCode::invalid_argument,
                        "journald input name '" + cfg.name + "': use letters, digits, '-' and '_'");
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return make_error(ErrorCode::io_error, "cannot create log state directory " + state_dir + ": " + ec.message());
  auto impl = std::make_unique<Impl>();
  impl->cfg = std::move(cfg);
  impl->state_path = state_dir + "/journal-" + impl->cfg.name + ".cursor";
  // stored cursor
  if (std::filesystem::exists(impl->state_path, ec)) {
    std::ifstream in(impl->state_path, std::ios::binary);
    std::string l;
    size_t n = 0;
    while (std::getline(in, l)) {
      ++n;
      std::string_view v = l;
      if (n == 1 && l != kMagic)
        return make_error(ErrorCode::parse_error, impl->state_path + ":1: corrupt journal cursor file");
      if (detail::consume(v, "cursor ")) impl->committed = std::string(v);
      else if (detail::consume(v, "app ")) unescape_line(v, impl->app_state);
    }
  }
  int r = impl->cfg.directory.empty() ? s.open(&impl->j, SD_JOURNAL_LOCAL_ONLY)
                                      : s.open_directory(&impl->j, impl->cfg.directory.c_str(), 0);
  if (r < 0)
    return make_error(ErrorCode::io_error, "cannot open the journal" +
                                               (impl->cfg.directory.empty() ? "" : " in " + impl->cfg.directory) +
                                               ": " + std::strerror(-r));
  for (size_t i = 0; i < impl->cfg.matches.size(); ++i) {
    const auto& m = impl->cfg.matches[i];
    if (m.find('=') == std::string::npos || m.front() == '=')
      return make_error(ErrorCode::invalid_argument, "journald match '" + m + "': expected FIELD=value");
    if (i > 0 && s.add_disjunction(impl->j) < 0)
      return make_error(ErrorCode::invalid_argument, "journald match '" + m + "' rejected");
    if (s.add_match(impl->j, m.data(), m.size()) < 0)
      return make_error(ErrorCode::invalid_argument, "journald match '" + m + "' rejected");
  }
  if (!impl->committed.empty()) {
    if (s.seek_cursor(impl->j, impl->committed.c_str()) < 0)
      return make_error(ErrorCode::parse_error, impl->state_path + ": the stored cursor is not a journal cursor");
    if (s.next(impl->j) > 0) {
      if (s.test_cursor(impl->j, impl->committed.c_str()) <= 0) {
        // the handled entry is gone (vacuumed): we stand on the first one not handled
        impl->deliver_current = true;
        ++impl->stats.cursor_lost;
      }
    }
  } else if (impl->cfg.from_start) {
    s.seek_head(impl->j);
  } else {
    s.seek_tail(impl->j);
    s.previous(impl->j);  // stand on the last entry: next() gives only new ones
  }
  return std::unique_ptr<JournalReader>(new JournalReader(std::move(impl)));
}

size_t JournalReader::poll(const EntryFn& on_entry, size_t max_entries) {
  Impl& m = *impl_;
  size_t n = 0;
  if (m.deliver_current) {
    m.deliver_current = false;
    if (m.read_current(on_entry)) ++n;
  }
  while (n < max_entries) {
    int r = sd().next(m.j);
    if (r < 0) {
      ++m.stats.errors;
      break;
    }
    if (r == 0) break;
    if (m.read_current(on_entry)) ++n;
  }
  return n;
}

void JournalReader::commit(std::string_view cursor) { impl_->committed.assign(cursor); }

Status JournalReader::sync(std::string_view app_state) {
  std::string text(kMagic);
  text += "\ncursor " + impl_->committed + "\napp " + escape_line(app_state) + "\n";
  auto s = atomic_write_file(impl_->state_path, text, impl_->cfg.fsync);
  if (s) impl_->app_state.assign(app_state);
  return s;
}

const std::string& JournalReader::restored_app_state() const { return impl_->app_state; }
void JournalReader::wait(int timeout_ms) {
  sd().wait(impl_->j, timeout_ms < 0 ? static_cast<uint64_t>(-1) : static_cast<uint64_t>(timeout_ms) * 1000);
}
int JournalReader::wait_fd() { return sd().get_fd(impl_->j); }
const JournalStats& JournalReader::stats() const { return impl_->stats; }

}  // namespace halong::agent::logs
