#include "agent/logs/file_tailer.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>
#include <unordered_map>

#include "agent/logs/tail_state.hpp"

namespace halong::agent::logs {

namespace fs = std::filesystem;

MonoClock steady_clock_us() {
  return [] {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
}

namespace {

constexpr uint32_t kFingerprintLen = 64;
constexpr size_t kChunk = 64 * 1024;

struct Tracked {
  FileId id;
  std::string path;
  size_t input = 0;
  int fd = -1;
  uint64_t read_pos = 0;    // next byte to read
  uint64_t line_start = 0;  // file offset of pending's first byte
  std::string pending;      // an incomplete line (at most max_line bytes)
  bool cutting = false;     // pending hit max_line: drop bytes until the newline
  bool discard = false;     // started mid-line (from_start=false): drop up to the first newline
  uint64_t committed = 0;
  uint64_t delivered_end = 0;
  uint32_t gen = 0;
  uint32_t fp_len = 0;
  uint64_t fp_hash = 0;
  uint64_t last_size = 0;
  int64_t last_mtime_ns = -1;
  bool orphan = false;  // no longer found under a watched name (renamed away or deleted)
  bool closed = false;  // fd closed; kept until every delivered line is committed
  int64_t last_data_us = 0;
};

struct Match {
  std::string path;
  FileId id;
  size_t input;
  uint64_t size;
};

FileId id_of(const struct stat& st) { return FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)}; }

bool read_exact_at(int fd, uint64_t off, size_t n, std::string& out) {
  out.resize(n);
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, out.data() + done, n - done, static_cast<off_t>(off + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      out.resize(done);
      return false;
    }
    done += static_cast<size_t>(r);
  }
  return true;
}

// The directory inotify should watch for a glob: its longest wildcard-free prefix.
std::string watch_dir_of(const std::string& pattern) {
  size_t wild = pattern.find_first_of("*?[");
  std::string head = wild == std::string::npos ? pattern : pattern.substr(0, wild);
  size_t slash = head.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return head.substr(0, slash);
}

}  // namespace

struct FileTailer::Impl {
  std::vector<LogInputConfig> inputs;
  TailerOptions opts;
  std::string state_path;
  std::string app_state;
  TailerStats stats;
  std::vector<std::unique_ptr<Tracked>> files;
  int inotify_fd = -1;
  std::unordered_map<int, std::string> watches;  // wd -> dir
  bool rescan_needed = true;
  int64_t last_scan_us = 0;
  uint32_t next_gen = 1;  // generations are unique per tracked file and truncation
  std::vector<char> buf = std::vector<char>(kChunk);
  std::string scratch;

  int64_t now() const { return opts.clock(); }

  std::vector<Match> scan() {
    std::vector<Match> out;
    for (size_t i = 0; i < inputs.size(); ++i) {
      for (const auto& pattern : inputs[i].paths) {
        glob_t g{};
        int rc = ::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g);
        if (rc == 0) {
          for (size_t k = 0; k < g.gl_pathc; ++k) {
            struct stat st{};
            if (::stat(g.gl_pathv[k], &st) != 0 || !S_ISREG(st.st_mode)) continue;
            FileId id = id_of(st);
            bool dup = false;
            for (const auto& m : out) dup = dup || m.id == id;
            if (!dup) out.push_back(Match{g.gl_pathv[k], id, i, static_cast<uint64_t>(st.st_size)});
          }
        }
        ::globfree(&g);
      }
    }
    std::sort(out.begin(), out.end(), [](const Match& a, const Match& b) { return a.path < b.path; });
    return out;
  }

  void add_watches() {
    if (inotify_fd < 0) return;
    for (const auto& in : inputs) {
      for (const auto& pattern : in.paths) {
        std::string dir = watch_dir_of(pattern);
        bool have = false;
        for (const auto& [wd, d] : watches) have = have || d == dir;
        if (have) continue;
        int wd = ::inotify_add_watch(inotify_fd, dir.c_str(),
                                     IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_MODIFY |
                                         IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
        if (wd >= 0) watches[wd] = dir;  // a missing directory is picked up by a later rescan
      }
    }
  }

  // Drains inotify; true if a directory entry changed.
  bool drain_inotify() {
    if (inotify_fd < 0) return false;
    bool dir_change = false;
    alignas(struct inotify_event) char ebuf[8192];
    for (;;) {
      ssize_t n = ::read(inotify_fd, ebuf, sizeof ebuf);
      if (n <= 0) break;
      for (char* p = ebuf; p < ebuf + n;) {
        auto* ev = reinterpret_cast<struct inotify_event*>(p);
        if (ev->mask & (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_Q_OVERFLOW | IN_DELETE_SELF |
                        IN_MOVE_SELF | IN_IGNORED))
          dir_change = true;
        if (ev->mask & IN_IGNORED) watches.erase(ev->wd);
        p += sizeof(struct inotify_event) + ev->len;
      }
    }
    return dir_change;
  }

  bool open_fd(Tracked& t) {
    int fd = ::open(t.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) fd = ::open(t.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      ++stats.read_errors;
      return false;
    }
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !(id_of(st) == t.id)) {  // replaced between stat and open
      ::close(fd);
      return false;
    }
    t.fd = fd;
    ++stats.files_opened;
    return true;
  }

  // Hash of the first min(size, 64) bytes.
  bool fingerprint(int fd, uint64_t size, uint32_t& len, uint64_t& hash) {
    len = static_cast<uint32_t>(std::min<uint64_t>(size, kFingerprintLen));
    if (!read_exact_at(fd, 0, len, scratch)) return false;
    hash = fnv1a64(scratch);
    return true;
  }

  bool fingerprint_matches(int fd, uint32_t len, uint64_t hash) {
    if (len == 0) return true;
    if (!read_exact_at(fd, 0, len, scratch)) return false;
    return fnv1a64(scratch) == hash;
  }

  void start_at(Tracked& t, uint64_t off) {
    t.read_pos = t.line_start = t.committed = t.delivered_end = off;
    t.pending.clear();
    t.cutting = t.discard = false;
  }

  std::unique_ptr<Tracked> track_new(const Match& m, uint64_t offset, bool mid_line_ok) {
    auto t = std::make_unique<Tracked>();
    t->id = m.id;
    t->path = m.path;
    t->input = m.input;
    t->gen = next_gen++;
    if (!open_fd(*t)) return nullptr;
    fingerprint(t->fd, m.size, t->fp_len, t->fp_hash);
    start_at(*t, offset);
    if (!mid_line_ok && offset > 0) {
      std::string last;
      if (read_exact_at(t->fd, offset - 1, 1, last) && last[0] != '\n') t->discard = true;
    }
    t->last_data_us = now();
    return t;
  }

  Status initial(const std::optional<TailState>& st) {
    const bool first_start = !st.has_value();
    std::vector<Match> matches = scan();
    std::vector<bool> used(st ? st->files.size() : 0, false);
    for (const auto& m : matches) {
      std::optional<size_t> found;
      if (st)
        for (size_t i = 0; i < st->files.size(); ++i)
          if (!used[i] && st->files[i].id == m.id) found = i;
      uint64_t off = 0;
      bool resume = false;
      if (found) {
        used[*found] = true;
        const auto& e = st->files[*found];
        off = e.offset;
        resume = true;
      } else if (first_start && !inputs[m.input].from_start) {
        off = m.size;
      }
      auto t = track_new(m, 0, true);
      if (!t) continue;
      if (resume) {
        const auto& e = st->files[*found];
        if (e.offset > m.size || !fingerprint_matches(t->fd, e.fp_len, e.fp_hash)) {
          ++stats.truncations;  // rewritten or a reused inode: start over
          off = 0;
        }
        start_at(*t, off);
      } else if (off > 0) {
        start_at(*t, off);
        std::string last;
        if (read_exact_at(t->fd, off - 1, 1, last) && last[0] != '\n') t->discard = true;
      }
      files.push_back(std::move(t));
    }
    // Stored files no longer under a watched name: renamed away while we were down?
    if (st) {
      for (size_t i = 0; i < st->files.size(); ++i) {
        if (used[i]) continue;
        const auto& e = st->files[i];
        std::optional<Match> found = find_sibling(e);
        if (!found) {
          ++stats.files_lost;
          continue;
        }
        auto t = track_new(*found, 0, true);
        if (!t || e.offset > found->size || !fingerprint_matches(t->fd, e.fp_len, e.fp_hash)) {
          ++stats.files_lost;
          continue;
        }
        start_at(*t, e.offset);
        t->orphan = true;
        t->input = input_for_path(e.path);
        files.insert(files.begin(), std::move(t));  // drain it before its successor
      }
    }
    last_scan_us = now();
    rescan_needed = false;
    return {};
  }

  size_t input_for_path(const std::string& path) {
    for (size_t i = 0; i < inputs.size(); ++i)
      for (const auto& p : inputs[i].paths)
        if (::fnmatch(p.c_str(), path.c_str(), FNM_PATHNAME) == 0) return i;
    return 0;
  }

  std::optional<Match> find_sibling(const TailStateEntry& e) {
    std::error_code ec;
    fs::path dir = fs::path(e.path).parent_path();
    if (dir.empty()) dir = ".";
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      struct stat st{};
      if (::stat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (id_of(st) == e.id) return Match{it->path().string(), e.id, 0, static_cast<uint64_t>(st.st_size)};
    }
    return std::nullopt;
  }

  void rescan() {
    add_watches();
    std::vector<Match> matches = scan();
    std::vector<bool> seen(files.size(), false);
    for (const auto& m : matches) {
      bool known = false;
      for (size_t i = 0; i < files.size(); ++i) {
        if (files[i]->id == m.id && !files[i]->closed) {
          seen[i] = true;
          known = true;
          if (files[i]->path != m.path) files[i]->path = m.path;
          files[i]->orphan = false;
        }
      }
      if (known) continue;
      for (const auto& f : files)
        if (f->path == m.path) ++stats.rotations;  // the name now points to a new file
      auto t = track_new(m, 0, true);               // a new file is read from its start
      if (t) {
        files.push_back(std::move(t));
        seen.push_back(true);
      }
    }
    for (size_t i = 0; i < seen.size() && i < files.size(); ++i) {
      if (!seen[i] && !files[i]->orphan && !files[i]->closed) {
        files[i]->orphan = true;
        files[i]->last_data_us = std::max(files[i]->last_data_us, now());
      }
    }
    // Orphans first: a rotated-away file's last lines come before its successor's.
    std::stable_partition(files.begin(), files.end(), [](const auto& f) { return f->orphan; });
    last_scan_us = now();
    rescan_needed = false;
  }

  void deliver(Tracked& t, uint64_t next, const LineFn& on_line) {
    std::string_view text = t.pending;
    if (!t.cutting && !text.empty() && text.back() == '\r') text.remove_suffix(1);
    TailLine l;
    l.path = t.path;
    l.offset = t.line_start;
    l.text = text;
    l.truncated = t.cutting;
    l.input = t.input;
    l.next = TailPosition{t.id, next, t.gen};
    ++stats.lines;
    if (t.cutting) ++stats.lines_truncated;
    t.delivered_end = next;
    on_line(l);
    t.pending.clear();
    t.cutting = false;
    t.line_start = next;
  }

  void reset_truncated(Tracked& t, uint64_t size) {
    ++stats.truncations;
    t.gen = next_gen++;
    start_at(t, 0);
    fingerprint(t.fd, size, t.fp_len, t.fp_hash);
  }

  size_t read_file(Tracked& t, const LineFn& on_line) {
    struct stat st{};
    if (::fstat(t.fd, &st) != 0) {
      ++stats.read_errors;
      return 0;
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    int64_t mtime = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    if (size < t.read_pos) {
      reset_truncated(t, size);  // copy-truncate or "> file"
    } else if (size != t.last_size || mtime != t.last_mtime_ns) {
      // truncated and written past our offset between two polls: the first bytes changed
      if (t.fp_len > 0 && !fingerprint_matches(t.fd, t.fp_len, t.fp_hash)) {
        reset_truncated(t, size);
      } else if (t.fp_len < kFingerprintLen && size > t.fp_len) {
        fingerprint(t.fd, size, t.fp_len, t.fp_hash);
      }
    }
    t.last_size = size;
    t.last_mtime_ns = mtime;
    const size_t max_line = std::max<size_t>(1, inputs[t.input].max_line);
    size_t total = 0;
    while (total < opts.max_bytes_per_file_per_poll) {
      ssize_t n = ::pread(t.fd, buf.data(), buf.size(), static_cast<off_t>(t.read_pos));
      if (n < 0) {
        if (errno == EINTR) continue;
        ++stats.read_errors;
        break;
      }
      if (n == 0) break;
      const char* p = buf.data();
      const char* end = p + n;
      const uint64_t base = t.read_pos;
      while (p < end) {
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
        const char* seg_end = nl ? nl : end;
        if (t.discard) {
          if (nl) {
            t.discard = false;
            t.line_start = base + static_cast<uint64_t>(nl - buf.data()) + 1;
            t.committed = t.delivered_end = t.line_start;
          }
        } else if (!t.cutting) {
          size_t seg = static_cast<size_t>(seg_end - p);
          size_t room = max_line - t.pending.size();
          if (seg > room) {
            t.pending.append(p, room);
            t.cutting = true;
          } else {
            t.pending.append(p, seg);
          }
        }
        if (nl && !t.discard) {
          uint64_t next = base + static_cast<uint64_t>(nl - buf.data()) + 1;
          if (t.line_start < next) deliver(t, next, on_line);
        }
        p = nl ? nl + 1 : end;
      }
      t.read_pos += static_cast<uint64_t>(n);
      total += static_cast<size_t>(n);
      stats.bytes += static_cast<uint64_t>(n);
    }
    if (total > 0) t.last_data_us = now();
    return total;
  }

  size_t poll(const LineFn& on_line) {
    if (drain_inotify()) rescan_needed = true;
    if (rescan_needed || now() - last_scan_us >= opts.rescan_interval_us) rescan();
    size_t total = 0;
    for (size_t i = 0; i < files.size(); ++i) {
      Tracked& t = *files[i];
      if (t.closed) continue;
      size_t n = read_file(t, on_line);
      total += n;
      if (n == 0 && t.orphan && now() - t.last_data_us >= opts.rotate_wait_us) {
        // the writer has moved on: a last line without a newline is complete now
        if (!t.discard && (!t.pending.empty() || t.cutting)) deliver(t, t.read_pos, on_line);
        ::close(t.fd);
        t.fd = -1;
        t.closed = true;
        ++stats.files_closed;
      }
    }
    return total;
  }

  void commit(const TailPosition& p) {
    for (auto& f : files) {
      if (f->id == p.file && f->gen == p.generation) {
        if (p.offset > f->committed) f->committed = p.offset;
        return;
      }
    }
  }

  Status sync(std::string_view app) {
    TailState st;
    st.app_state = std::string(app);
    for (const auto& f : files) {
      if (f->closed && f->committed >= f->delivered_end) continue;  // fully handled: forget it
      st.files.push_back(TailStateEntry{f->id, f->committed, f->fp_len, f->fp_hash, f->path});
    }
    auto s = save_tail_state(state_path, st, opts.fsync);
    if (!s) return s;
    ++stats.state_writes;
    app_state = st.app_state;
    std::erase_if(files, [](const auto& f) { return f->closed && f->committed >= f->delivered_end; });
    return {};
  }

  ~Impl() {
    for (auto& f : files)
      if (f->fd >= 0) ::close(f->fd);
    if (inotify_fd >= 0) ::close(inotify_fd);
  }
};

FileTailer::FileTailer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FileTailer::~FileTailer() = default;

Result<std::unique_ptr<FileTailer>> FileTailer::open(std::vector<LogInputConfig> inputs, TailerOptions opts) {
  if (opts.state_dir.empty()) return make_error(ErrorCode::invalid_argument, "log tailer: state_dir is empty");
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].paths.empty())
      return make_error(ErrorCode::invalid_argument, "log input " + std::to_string(i) + ": no paths");
    for (const auto& p : inputs[i].paths)
      if (p.empty() || p[0] != '/')
        return make_error(ErrorCode::invalid_argument,
                          "log input " + std::to_string(i) + ": path '" + p + "' is not absolute");
  }
  std::error_code ec;
  fs::create_directories(opts.state_dir, ec);
  if (ec)
    return make_error(ErrorCode::io_error, "cannot create log state directory " + opts.state_dir + ": " + ec.message());
  if (!opts.clock) opts.clock = steady_clock_us();
  auto impl = std::make_unique<Impl>();
  impl->inputs = std::move(inputs);
  impl->opts = std::move(opts);
  impl->state_path = impl->opts.state_dir + "/tail.state";
  auto st = load_tail_state(impl->state_path);
  if (!st) return st.error();
  if (*st) impl->app_state = (*st)->app_state;
  if (impl->opts.use_inotify) {
    impl->inotify_fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);  // -1: polling fallback
    impl->add_watches();
  }
  auto s = impl->initial(*st);
  if (!s) return s.error();
  return std::unique_ptr<FileTailer>(new FileTailer(std::move(impl)));
}

size_t FileTailer::poll(const LineFn& on_line) { return impl_->poll(on_line); }
void FileTailer::commit(const TailPosition& p) { impl_->commit(p); }
Status FileTailer::sync(std::string_view app_state) { return impl_->sync(app_state); }
const std::string& FileTailer::restored_app_state() const { return impl_->app_state; }
const TailerStats& FileTailer::stats() const { return impl_->stats; }
int FileTailer::wait_fd() const { return impl_->inotify_fd; }

size_t FileTailer::open_files() const {
  size_t n = 0;
  for (const auto& f : impl_->files) n += f->closed ? 0 : 1;
  return n;
}

void FileTailer::wait(int timeout_ms) {
  if (impl_->inotify_fd >= 0) {
    struct pollfd p{impl_->inotify_fd, POLLIN, 0};
    ::poll(&p, 1, timeout_ms);
  } else if (timeout_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
  }
}

Status FileTailer::run(const LineFn& on_line, const std::atomic<bool>& stop, int idle_wait_ms) {
  while (!stop.load(std::memory_order_relaxed)) {
    size_t n = poll([&](const TailLine& l) {
      on_line(l);
      commit(l.next);
    });
    auto s = sync(impl_->app_state);
    if (!s) return s;
    if (n == 0) wait(idle_wait_ms);
  }
  return {};
}

}  // namespace halong::agent::logs
