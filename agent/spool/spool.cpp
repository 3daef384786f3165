#include "agent/spool/spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include <boost/crc.hpp>
#include <spdlog/spdlog.h>

#include "core/crc32c.hpp"

namespace halong::agent {

namespace fs = std::filesystem;

namespace {

// Segment magic: "HLSPOOL" + format digit. Format 1: record CRC is CRC-32 (zlib/IEEE,
// Boost's byte table: read only, for spools written by older agents). Format 2: CRC-32C
// (SSE4.2 instruction). New segments are always format 2; a format this agent does not
// know is refused (never cut as if it were torn).
constexpr size_t kMagicLen = 8;
constexpr char kMagicPrefix[7] = {'H', 'L', 'S', 'P', 'O', 'O', 'L'};
constexpr char kMagic2[8] = {'H', 'L', 'S', 'P', 'O', 'O', 'L', '2'};
constexpr int kFormatCurrent = 2;
constexpr size_t kHeader = 16;              // len, crc, seq
constexpr uint32_t kMaxRecord = 16u << 20;  // a record larger than this is corrupt

Error io_err(const std::string& what, const fs::path& p, int err) {
  return make_error(ErrorCode::io_error, "spool: " + what + " " + p.string() + ": " + std::strerror(err));
}

void put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void put64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint32_t get32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
uint64_t get64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

uint32_t record_crc(int format, const char* seq8, const char* payload, size_t n) {
  if (format >= 2) return crc32c(crc32c(0, seq8, 8), payload, n);
  boost::crc_32_type crc;
  crc.process_bytes(seq8, 8);
  crc.process_bytes(payload, n);
  return crc.checksum();
}

// Appends one record to `out`.
void encode_record(int format, uint64_t seq, std::string_view payload, std::string& out) {
  size_t at = out.size();
  out.resize(at + kHeader + payload.size());
  char* rec = out.data() + at;
  put32(rec, static_cast<uint32_t>(payload.size()));
  put64(rec + 8, seq);
  std::memcpy(rec + kHeader, payload.data(), payload.size());
  put32(rec + 4, record_crc(format, rec + 8, payload.data(), payload.size()));
}

// Format digit of a segment's first 8 bytes: 1, 2, ... ; 0 when it is not a spool magic
// at all (garbage or torn at creation).
int segment_format(const char* p, size_t n) {
  if (n < kMagicLen || std::memcmp(p, kMagicPrefix, sizeof kMagicPrefix) != 0) return 0;
  char d = p[7];
  if (d < '1' || d > '9') return 0;
  return d - '0';
}

Status write_all(int fd, const char* d, size_t n, const fs::path& p) {
  while (n) {
    ssize_t w = ::write(fd, d, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return io_err("cannot write", p, errno);
    }
    d += w;
    n -= static_cast<size_t>(w);
  }
  return {};
}

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

struct Segment {
  uint64_t first_seq = 0;  // seq in the name (records start at or after it)
  uint64_t last_seq = 0;   // 0 while empty
  uint64_t count = 0;
  uint64_t bytes = 0;      // file size, header included
  int format = kFormatCurrent;  // record checksum: 1 CRC-32, 2 CRC-32C
  fs::path path;
};

std::string seg_name(uint64_t first) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.seg", static_cast<unsigned long long>(first));
  return buf;
}

// Parses records in buf[0..n); calls f(seq, payload view, offset of the record end), which
// returns false to stop. Returns the offset where parsing stopped (f said stop, or the first
// incomplete or bad record).
template <class F>
size_t parse_records(int format, const char* buf, size_t n, uint64_t prev_seq, F&& f, bool* corrupt) {
  size_t off = 0;
  *corrupt = false;
  while (n - off >= kHeader) {
    uint32_t len = get32(buf + off);
    if (len > kMaxRecord) {
      *corrupt = true;
      break;
    }
    if (n - off - kHeader < len) break;  // incomplete: maybe more to read, maybe torn
    uint64_t seq = get64(buf + off + 8);
    if (record_crc(format, buf + off + 8, buf + off + kHeader, len) != get32(buf + off + 4) || seq <= prev_seq) {
      *corrupt = true;
      break;
    }
    prev_seq = seq;
    off += kHeader + len;
    if (!f(seq, std::string_view(buf + off - len, len), off)) break;  // the caller has enough
  }
  return off;
}

}  // namespace

class Spool::Impl {
 public:
  SpoolOptions opts;
  mutable std::mutex mu;
  std::vector<Segment> segs;  // sorted; back() is the active segment
  std::shared_ptr<Fd> active;
  uint64_t last = 0, acked = 0, total_bytes = 0;
  SpoolStats st;

  // Where the previous read stopped, so the sender's sequential reads do not rescan the
  // segment from its start (under mu).
  struct ReadHint {
    uint64_t seg_first = 0;
    uint64_t offset = 0;    // file offset right after the record with seq == prev_seq
    uint64_t prev_seq = 0;  // 0: no hint
  } hint;

  std::string scratch;  // record being appended (under mu)
  mutable std::string read_buf;  // visit's read buffer, kept between reads (under mu)
  // The segment visit read last, kept open (the sender reads the same one batch after
  // batch); closed when that segment goes (under mu).
  mutable std::unique_ptr<Fd> read_fd;
  mutable uint64_t read_fd_first = 0;
  std::unique_ptr<Fd> acked_fd;  // the "acked" file, kept open (under mu)

  std::mutex sync_mu;
  uint64_t synced = 0;  // under sync_mu
  std::chrono::steady_clock::time_point last_sync{};

  bool acked_dirty = false;  // acked moved since the file was written (under mu)
  std::chrono::steady_clock::time_point acked_written{};

  Status write_acked_file() {
    acked_dirty = false;
    acked_written = std::chrono::steady_clock::now();
    fs::path p = opts.dir / "acked";
    char buf[12];
    put64(buf, acked);
    boost::crc_32_type crc;
    crc.process_bytes(buf, 8);
    put32(buf + 8, crc.checksum());
    // Overwritten in place (12 bytes at offset 0, within one sector): no new inode per
    // write, which with a thousand agents on one host (the simulator) or frequent acks was
    // most of the spool's kernel time. A torn or lost write is caught by the CRC and reads
    // as 0, so the agent resends what it still has and the collector ignores the repeats.
    // Not synced, for the same reason (exactly-once is by seq at the collector).
    if (!acked_fd) {
      int f = ::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      if (f < 0) return io_err("cannot open", p, errno);
      acked_fd = std::make_unique<Fd>(f);
    }
    ssize_t n = ::pwrite(acked_fd->fd, buf, sizeof buf, 0);
    if (n != static_cast<ssize_t>(sizeof buf)) {
      int err = n < 0 ? errno : EIO;
      acked_fd.reset();  // opened again next time (the file may have been replaced)
      return io_err("cannot write", p, err);
    }
    return {};
  }

  uint64_t read_acked_file() {
    fs::path p = opts.dir / "acked";
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[12];
    ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    if (n != 12) return 0;
    boost::crc_32_type crc;
    crc.process_bytes(buf, 8);
    return crc.checksum() == get32(buf + 8) ? get64(buf) : 0;
  }

  Status new_segment(uint64_t first) {
    Segment s;
    s.first_seq = first;
    s.path = opts.dir / seg_name(first);
    int fd = ::open(s.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return io_err("cannot create", s.path, errno);
    auto f = std::make_shared<Fd>(fd);
    if (auto w = write_all(fd, kMagic2, sizeof kMagic2, s.path); !w) return w;
    if (opts.fsync != FsyncPolicy::never) {
      ::fdatasync(fd);
      fsync_dir(opts.dir);
    }
    s.bytes = sizeof kMagic2;
    s.format = kFormatCurrent;
    total_bytes += s.bytes;
    if (active && opts.fsync != FsyncPolicy::never) ::fdatasync(active->fd);  // the old segment is complete
    active = f;
    segs.push_back(std::move(s));
    return {};
  }

  void delete_segment_front() {
    Segment& s = segs.front();
    if (s.last_seq > acked) {
      // Unacked records in it are dropped: count those above the acked mark.
      uint64_t unacked = s.count;
      if (acked >= s.first_seq) {
        // Records are dense within a segment unless a previous drop happened; approximate by seq range.
        uint64_t gone = std::min(s.count, acked - s.first_seq + 1);
        unacked = s.count - gone;
      }
      st.dropped_oldest += unacked;
    }
    std::error_code ec;
    if (read_fd && read_fd_first == s.first_seq) read_fd.reset();
    fs::remove(s.path, ec);
    total_bytes -= s.bytes;
    if (hint.seg_first == s.first_seq) hint = ReadHint{};
    segs.erase(segs.begin());
  }

  Status open() {
    std::error_code ec;
    fs::create_directories(opts.dir, ec);
    if (ec) return make_error(ErrorCode::io_error, "spool: cannot create " + opts.dir.string() + ": " + ec.message());
    fs::permissions(opts.dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    acked = read_acked_file();
    std::vector<std::pair<uint64_t, fs::path>> files;
    for (auto& e : fs::directory_iterator(opts.dir, ec)) {
      auto name = e.path().filename().string();
      if (name.size() != 24 || name.substr(20) != ".seg") continue;
      uint64_t first = 0;
      bool digits = true;
      for (size_t i = 0; i < 20; ++i) {
        if (!std::isdigit(static_cast<unsigned char>(name[i]))) digits = false;
        else first = first * 10 + static_cast<uint64_t>(name[i] - '0');
      }
      if (digits) files.emplace_back(first, e.path());
    }
    if (ec) return make_error(ErrorCode::io_error, "spool: cannot list " + opts.dir.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
    uint64_t prev = 0;
    for (auto& [first, path] : files) {
      int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) return io_err("cannot open", path, errno);
      Fd guard(fd);
      struct stat sb{};
      ::fstat(fd, &sb);
      std::string data(static_cast<size_t>(sb.st_size), '\0');
      size_t got = 0;
      while (got < data.size()) {
        ssize_t n = ::pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<size_t>(n);
      }
      data.resize(got);
      Segment s;
      s.first_seq = first;
      s.path = path;
      size_t good = 0;
      int format = segment_format(data.data(), data.size());
      if (format > kFormatCurrent)
        return make_error(ErrorCode::unsupported,
                          "spool: " + path.string() + " is in segment format " + std::to_string(format) +
                              " (written by a newer agent); this agent reads formats 1-" + std::to_string(kFormatCurrent) +
                              ". Run the newer agent, or move the spool directory away (its unsent alerts are lost)");
      if (format >= 1) {
        s.format = format;
        bool corrupt = false;
        uint64_t p2 = prev;
        size_t end = parse_records(format, data.data() + kMagicLen, data.size() - kMagicLen, prev,
                                   [&](uint64_t seq, std::string_view, size_t) {
                                     s.last_seq = seq;
                                     ++s.count;
                                     p2 = seq;
                                     return true;
                                   },
                                   &corrupt);
        prev = p2;
        good = kMagicLen + end;
      }
      if (good < data.size() || good < kMagicLen) {
        uint64_t cut = data.size() - std::min(good, data.size());
        st.torn_bytes_cut += cut;
        spdlog::warn("spool: {}: cut {} bytes of torn or corrupt records at offset {}", path.string(), cut, good);
        if (good < kMagicLen) {
          if (::ftruncate(fd, 0) != 0) return io_err("cannot truncate", path, errno);
          if (auto w = write_all(fd, kMagic2, sizeof kMagic2, path); !w) return w;
          good = kMagicLen;
          s.format = kFormatCurrent;
        } else if (::ftruncate(fd, static_cast<off_t>(good)) != 0) {
          return io_err("cannot truncate", path, errno);
        }
        ::fdatasync(fd);
      }
      s.bytes = good;
      if (s.count == 0 && &path != &files.back().second) {
        fs::remove(path, ec);  // an empty segment that is not the last one
        continue;
      }
      total_bytes += s.bytes;
      segs.push_back(std::move(s));
    }
    last = std::max(prev, acked);
    // Drop segments that are fully acked (a crash between ack and delete leaves them).
    while (segs.size() > 1 && segs.front().last_seq <= acked) delete_segment_front();
    if (!segs.empty() && segs.back().bytes < opts.segment_bytes) {
      int fd = ::open(segs.back().path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
      if (fd < 0) return io_err("cannot open", segs.back().path, errno);
      active = std::make_shared<Fd>(fd);
    } else {
      if (auto s = new_segment(last + 1); !s) return s;
    }
    st.torn_bytes_cut += 0;
    return {};
  }

  // Under mu. Makes room for n bytes per the overflow policy.
  Status make_room(size_t n) {
    while (total_bytes + n > opts.max_bytes) {
      if (opts.overflow == OverflowPolicy::drop_newest) {
        ++st.dropped_newest;
        return make_error(ErrorCode::resource_exhausted,
                          "spool: full (" + std::to_string(total_bytes) + " of " + std::to_string(opts.max_bytes) +
                              " bytes); alert dropped (overflow policy keeps the oldest)");
      }
      if (segs.size() < 2) {
        if (segs.back().count == 0)
          return make_error(ErrorCode::resource_exhausted, "spool: a single alert is larger than the spool cap");
        if (auto s = new_segment(last + 1); !s) return s;
      }
      delete_segment_front();
    }
    return {};
  }

  Status append_locked(Alert& a, uint64_t* seq_out) {
    uint64_t seq = last + 1;
    a.seq = seq;
    a.id = a.agent.id + ":" + std::to_string(seq);
    std::string json = to_json_string(a);
    if (json.size() > kMaxRecord) return make_error(ErrorCode::invalid_argument, "spool: alert of " + std::to_string(json.size()) + " bytes is too large");
    const size_t rec_size = kHeader + json.size();
    if (auto s = make_room(rec_size); !s) return s;
    if (segs.back().count > 0 && segs.back().bytes + rec_size > opts.segment_bytes)
      if (auto s = new_segment(seq); !s) return s;
    Segment& cur = segs.back();
    std::string& rec = scratch;  // the record in the active segment's format
    rec.clear();
    encode_record(cur.format, seq, json, rec);
    if (auto s = write_all(active->fd, rec.data(), rec.size(), cur.path); !s) {
      // A partial write would leave a torn record: cut it back so later appends stay readable.
      if (::ftruncate(active->fd, static_cast<off_t>(cur.bytes)) != 0) {}
      return s;
    }
    last = seq;
    cur.last_seq = seq;
    ++cur.count;
    cur.bytes += rec.size();
    total_bytes += rec.size();
    ++st.appended;
    *seq_out = seq;
    return {};
  }

  Status sync_upto(uint64_t seq, bool force) {
    std::lock_guard sl(sync_mu);
    if (synced >= seq && !force) return {};
    std::shared_ptr<Fd> f;
    uint64_t target;
    {
      std::lock_guard lk(mu);
      f = active;
      target = last;
    }
    if (opts.fsync == FsyncPolicy::interval && !force) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_sync < opts.fsync_interval) return {};
    }
    if (::fdatasync(f->fd) != 0) return make_error(ErrorCode::io_error, std::string("spool: fdatasync: ") + std::strerror(errno));
    last_sync = std::chrono::steady_clock::now();
    synced = target;
    std::lock_guard lk(mu);
    ++st.fsyncs;
    return {};
  }

  Status after_append(uint64_t seq) {
    if (opts.fsync == FsyncPolicy::never) return {};
    return sync_upto(seq, false);
  }
};

Spool::Spool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Spool::~Spool() {
  if (!impl_) return;
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->acked_dirty) (void)impl_->write_acked_file();
  }
  if (impl_->opts.fsync != FsyncPolicy::never) (void)sync();
}

Result<std::unique_ptr<Spool>> Spool::open(const SpoolOptions& opts) {
  if (opts.dir.empty()) return make_error(ErrorCode::invalid_argument, "spool: dir is empty");
  if (opts.max_bytes < (64u << 10)) return make_error(ErrorCode::invalid_argument, "spool: max_bytes must be at least 64 KiB");
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  if (impl->opts.segment_bytes > opts.max_bytes / 4) {
    impl->opts.segment_bytes = opts.max_bytes / 4;
    spdlog::info("spool: segment size set to {} bytes (a quarter of max_bytes {})", impl->opts.segment_bytes, opts.max_bytes);
  }
  if (auto s = impl->open(); !s) return s.error();
  return std::unique_ptr<Spool>(new Spool(std::move(impl)));
}

Result<uint64_t> Spool::append(Alert& a) {
  uint64_t seq = 0;
  {
    std::lock_guard lk(impl_->mu);
    if (auto s = impl_->append_locked(a, &seq); !s) return s.error();
  }
  if (auto s = impl_->after_append(seq); !s) return s.error();
  return seq;
}

Status Spool::append_many(std::vector<Alert>& alerts) {
  uint64_t seq = 0;
  {
    std::lock_guard lk(impl_->mu);
    for (auto& a : alerts)
      if (auto s = impl_->append_locked(a, &seq); !s) return s;
  }
  if (seq) return impl_->after_append(seq);
  return {};
}

Result<std::vector<SpoolRecord>> Spool::read(uint64_t from_seq, size_t max_records, size_t max_bytes) const {
  std::vector<SpoolRecord> out;
  auto r = visit(from_seq, max_records, max_bytes,
                 [&](uint64_t seq, std::string_view json) { out.push_back(SpoolRecord{seq, std::string(json)}); });
  if (!r) return r.error();
  return out;
}

Result<size_t> Spool::visit(uint64_t from_seq, size_t max_records, size_t max_bytes,
                            const std::function<void(uint64_t seq, std::string_view json)>& f) const {
  std::lock_guard lk(impl_->mu);
  size_t count = 0;
  size_t bytes = 0;
  auto& segs = impl_->segs;
  // The last segment whose first_seq <= from_seq (or the first one).
  size_t i = 0;
  for (size_t k = 0; k < segs.size(); ++k)
    if (segs[k].first_seq <= from_seq) i = k;
  for (; i < segs.size() && count < max_records; ++i) {
    const Segment& s = segs[i];
    if (s.count == 0 || s.last_seq < from_seq) continue;
    if (!impl_->read_fd || impl_->read_fd_first != s.first_seq) {
      impl_->read_fd.reset();
      int f = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (f < 0) return io_err("cannot open", s.path, errno);
      impl_->read_fd = std::make_unique<Fd>(f);
      impl_->read_fd_first = s.first_seq;
    }
    const int fd = impl_->read_fd->fd;
    uint64_t off = kMagicLen;
    std::string& buf = impl_->read_buf;  // kept from read to read (under mu)
    uint64_t prev = 0;
    auto& hint = impl_->hint;
    if (hint.prev_seq && hint.seg_first == s.first_seq && hint.prev_seq < from_seq && hint.offset <= s.bytes) {
      off = hint.offset;
      prev = hint.prev_seq;
    }
    bool done = false;
    while (off < s.bytes && !done) {
      // Read about what is asked for (records of this segment's average size), at most 1 MiB.
      uint64_t avg = (s.bytes - kMagicLen) / std::max<uint64_t>(1, s.count) + 1;
      uint64_t left = max_records - count;
      uint64_t guess = left > (1u << 20) / avg ? (1u << 20) : left * avg + avg + kHeader;
      size_t want = static_cast<size_t>(std::min<uint64_t>(s.bytes - off, std::max<uint64_t>(guess, 64u << 10)));
      buf.resize(want);
      ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(off));
      if (n <= 0) return io_err("cannot read", s.path, n < 0 ? errno : EIO);
      size_t got = static_cast<size_t>(n);
      if (got >= kHeader) {
        uint32_t len = get32(buf.data());
        if (len <= kMaxRecord && got < kHeader + len && off + kHeader + len <= s.bytes) {
          // One record larger than the chunk: read it whole.
          buf.resize(kHeader + len);
          n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(off));
          if (n != static_cast<ssize_t>(buf.size())) return io_err("short read", s.path, EIO);
          got = buf.size();
        }
      }
      bool corrupt = false;
      size_t used = parse_records(s.format, buf.data(), got, prev, [&](uint64_t seq, std::string_view payload, size_t end) {
        prev = seq;
        hint = Impl::ReadHint{s.first_seq, off + end, seq};
        if (seq < from_seq) return true;
        f(seq, payload);
        ++count;
        bytes += payload.size();
        if (count >= max_records || bytes >= max_bytes) done = true;
        return !done;  // stop checking records nobody asked for
      }, &corrupt);
      if (corrupt || used == 0)
        return make_error(ErrorCode::io_error, "spool: " + s.path.string() + ": corrupt record at offset " + std::to_string(off + used));
      off += used;
    }
    if (done) break;
  }
  return count;
}

Status Spool::ack(uint64_t upto) {
  std::lock_guard lk(impl_->mu);
  auto& m = *impl_;
  upto = std::min(upto, m.last);
  if (upto <= m.acked) return {};
  m.acked = upto;
  bool deleted = false;
  while (m.segs.size() > 1 && m.segs.front().last_seq <= m.acked) {
    m.delete_segment_front();
    deleted = true;
  }
  // The "acked" file is a hint (the collector's welcome is the truth, see write_acked_file):
  // rewritten at most every 100 ms (and when a segment goes, at close, at sync), not per
  // ack — with many small batches its tmp+rename was a large share of the agent's CPU.
  auto now = std::chrono::steady_clock::now();
  if (!deleted && now - m.acked_written < std::chrono::milliseconds(100)) {
    m.acked_dirty = true;
    return {};
  }
  return m.write_acked_file();
}

Result<uint64_t> Spool::rebase(uint64_t highest) {
  std::vector<SpoolRecord> pending;
  {
    std::lock_guard lk(impl_->mu);
    if (highest <= impl_->last) return uint64_t{0};
  }
  auto r = read(impl_->acked + 1, SIZE_MAX, SIZE_MAX);
  if (!r) return r.error();
  pending = std::move(*r);
  std::lock_guard lk(impl_->mu);
  auto& m = *impl_;
  spdlog::warn("spool: the collector has stored up to seq {} but this spool only reached {}; renumbering {} unsent alerts",
               highest, m.last, pending.size());
  m.read_fd.reset();
  while (!m.segs.empty()) {
    std::error_code ec;
    fs::remove(m.segs.front().path, ec);
    m.total_bytes -= m.segs.front().bytes;
    m.segs.erase(m.segs.begin());
  }
  m.active.reset();
  m.hint = {};
  m.last = highest;
  m.acked = highest;
  if (auto s = m.write_acked_file(); !s) return s.error();
  if (auto s = m.new_segment(highest + 1); !s) return s.error();
  for (auto& rec : pending) {
    auto a = alert_from_json_string(rec.json);
    if (!a) continue;  // cannot happen: we wrote it
    uint64_t seq;
    if (auto s = m.append_locked(*a, &seq); !s) return s.error();
  }
  if (m.opts.fsync != FsyncPolicy::never) ::fdatasync(m.active->fd);
  return static_cast<uint64_t>(pending.size());
}

Status Spool::sync() {
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->acked_dirty)
      if (auto s = impl_->write_acked_file(); !s) return s;
  }
  return impl_->sync_upto(0, true);
}

uint64_t Spool::last_seq() const {
  std::lock_guard lk(impl_->mu);
  return impl_->last;
}
uint64_t Spool::acked_seq() const {
  std::lock_guard lk(impl_->mu);
  return impl_->acked;
}
const SpoolOptions& Spool::options() const { return impl_->opts; }
uint64_t Spool::dropped() const {
  std::lock_guard lk(impl_->mu);
  return impl_->st.dropped_oldest + impl_->st.dropped_newest;
}

SpoolStats Spool::stats() const {
  std::lock_guard lk(impl_->mu);
  auto& m = *impl_;
  SpoolStats s = m.st;
  s.last_seq = m.last;
  s.acked_seq = m.acked;
  s.bytes = m.total_bytes;
  s.segments = m.segs.size();
  uint64_t depth = 0;
  for (auto& g : m.segs) {
    if (g.count == 0 || g.last_seq <= m.acked) continue;
    if (m.acked >= g.first_seq) depth += g.count - std::min(g.count, m.acked - g.first_seq + 1);
    else depth += g.count;
  }
  s.depth = depth;
  return s;
}

}  // namespace halong::agent
