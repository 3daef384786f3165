// Spool: the agent's durable, append-only queue of alerts waiting for the collector's ack.
//
// Layout in `dir`: segment files "<first seq, 20 digits>.seg", each an 8-byte magic
// "HLSPOOL2" followed by records
//     u32 payload length | u32 CRC-32C of (seq, payload) | u64 seq | payload (alert JSON)
// (little-endian), plus "acked" (the highest seq the collector acknowledged + CRC,
// overwritten in place at most every 100 ms and at close/sync: a hint, the collector's
// welcome is the truth). Segments of format 1 ("HLSPOOL1", CRC-32) from older agents are read and appended
// to in their format; an unknown newer format refuses to open (unsupported). An alert gets the next sequence number when it is appended; the acked prefix
// is removed a whole segment at a time. On open every record is checked: a torn or corrupt
// tail is cut (truncated) and counted, never replayed. Sequence numbers never go back:
// the active segment is kept even when fully acked, so the last seq survives.
//
// Durability (SpoolOptions::fsync): `always` = append returns after fdatasync (concurrent
// appends share one fdatasync); `interval` = at most every fsync_interval; `never` = the OS
// decides. A process kill (kill -9) loses nothing in any mode once append returned;
// power loss loses at most the unsynced tail.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/alert.hpp"
#include "core/result.hpp"

namespace halong::agent {

enum class FsyncPolicy { always, interval, never };
enum class OverflowPolicy { drop_oldest, drop_newest };  // keep newest / keep oldest

struct SpoolOptions {
  std::filesystem::path dir;
  uint64_t max_bytes = 1ull << 30;         // cap on all segment files
  uint64_t segment_bytes = 16ull << 20;    // roll to a new segment after this (clamped to max_bytes/4 with a log line)
  FsyncPolicy fsync = FsyncPolicy::always;
  std::chrono::milliseconds fsync_interval{200};
  OverflowPolicy overflow = OverflowPolicy::drop_oldest;
};

struct SpoolRecord {
  uint64_t seq = 0;
  std::string json;  // the alert's JSON (to_json_string), id and seq filled in
};

struct SpoolStats {
  uint64_t last_seq = 0;        // highest seq assigned
  uint64_t acked_seq = 0;       // highest seq the collector acknowledged
  uint64_t depth = 0;           // records appended and not acked (dropped ones excluded)
  uint64_t bytes = 0;           // size of all segment files
  uint64_t segments = 0;
  uint64_t appended = 0;        // since open
  uint64_t dropped_oldest = 0;  // unacked records deleted to make room (since open)
  uint64_t dropped_newest = 0;  // appends refused because full (since open)
  uint64_t torn_bytes_cut = 0;  // bytes truncated on open (torn tail / corruption)
  uint64_t fsyncs = 0;
};

class Spool {
 public:
  // Opens (creating `dir` 0700 when missing), checks every segment, cuts torn tails.
  static Result<std::unique_ptr<Spool>> open(const SpoolOptions& opts);
  ~Spool();

  // Assigns the next seq to `a` (a.seq, a.id = "<a.agent.id>:<seq>") and appends it.
  // Durable per the fsync policy when it returns. When full: drop_oldest deletes the
  // oldest segment(s) (counted); drop_newest refuses with resource_exhausted (counted).
  Result<uint64_t> append(Alert& a);
  // Same for several alerts with one fsync; stops at the first error.
  Status append_many(std::vector<Alert>& alerts);

  // Up to max_records records with seq >= from_seq, in seq order, at most ~max_bytes of
  // payload (at least one record when any). Records deleted by overflow are skipped.
  Result<std::vector<SpoolRecord>> read(uint64_t from_seq, size_t max_records, size_t max_bytes = 8u << 20) const;
  // The same records handed to `f` (seq, alert JSON) without a copy each: the views are
  // valid during the call only. Returns how many. `f` runs under the spool's lock: it
  // must not call the spool.
  Result<size_t> visit(uint64_t from_seq, size_t max_records, size_t max_bytes,
                       const std::function<void(uint64_t seq, std::string_view json)>& f) const;

  // Everything <= upto is stored by the collector: fully acked segments are deleted.
  Status ack(uint64_t upto);

  // Makes the seq space continue after `highest` when the collector has stored more than
  // this spool ever assigned (spool directory lost, agent id reused): unacked records are
  // renumbered from highest+1 so the collector does not ignore them as duplicates.
  // Returns how many records were renumbered.
  Result<uint64_t> rebase(uint64_t highest);

  Status sync();  // fdatasync now (used by the interval policy and at stop)

  uint64_t last_seq() const;
  uint64_t acked_seq() const;
  uint64_t dropped() const;  // dropped_oldest + dropped_newest since open (cheap)
  SpoolStats stats() const;
  const SpoolOptions& options() const;

 private:
  class Impl;
  explicit Spool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace halong::agent
