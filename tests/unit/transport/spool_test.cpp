#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include <boost/crc.hpp>
#include <catch2/catch.hpp>

#include "core/crc32c.hpp"
#include "agent/spool/spool.hpp"
#include "transport_fixture.hpp"

using namespace halong;
using namespace halong::testing;
using agent::Spool;
using agent::SpoolOptions;

namespace {
SpoolOptions opts(const fs::path& dir) {
  SpoolOptions o;
  o.dir = dir;
  o.max_bytes = 4u << 20;
  o.segment_bytes = 64u << 10;
  o.fsync = agent::FsyncPolicy::never;
  return o;
}
std::unique_ptr<Spool> open_spool(const SpoolOptions& o) {
  auto s = Spool::open(o);
  REQUIRE(s.ok());
  return std::move(*s);
}
Alert alert_for(uint64_t sid) {
  Alert a = make_alert(sid);
  a.agent.id = "ag";
  return a;
}
std::vector<fs::path> segments(const fs::path& dir) {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".seg") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

TEST_CASE("spool assigns increasing seqs and reads them back in order", "[agent][spool]") {
  TempDir d("spool");
  auto s = open_spool(opts(d.path));
  for (uint64_t i = 1; i <= 50; ++i) {
    Alert a = alert_for(1000 + i);
    auto seq = s->append(a);
    REQUIRE(seq.ok());
    REQUIRE(*seq == i);
    REQUIRE(a.id == "ag:" + std::to_string(i));
  }
  auto r = s->read(11, 5);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 5);
  for (size_t k = 0; k < 5; ++k) {
    REQUIRE((*r)[k].seq == 11 + k);
    auto a = alert_from_json_string((*r)[k].json);
    REQUIRE(a.ok());
    REQUIRE(a->alert.signature_id == 1011 + k);
    REQUIRE(a->seq == 11 + k);
  }
  REQUIRE(s->stats().depth == 50);
}

TEST_CASE("spool keeps unacked alerts and the seq counter across reopen", "[agent][spool]") {
  TempDir d("spool");
  {
    auto s = open_spool(opts(d.path));
    for (int i = 0; i < 300; ++i) {
      Alert a = alert_for(7);
      REQUIRE(s->append(a).ok());
    }
    REQUIRE(s->ack(120).ok());
  }
  auto s = open_spool(opts(d.path));
  REQUIRE(s->last_seq() == 300);
  REQUIRE(s->acked_seq() == 120);
  REQUIRE(s->stats().depth == 180);
  auto r = s->read(s->acked_seq() + 1, 1000);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 180);
  REQUIRE(r->front().seq == 121);
  Alert a = alert_for(8);
  REQUIRE(*s->append(a) == 301);
}

TEST_CASE("spool removes fully acked segments but never loses the last seq", "[agent][spool]") {
  TempDir d("spool");
  {
    auto s = open_spool(opts(d.path));
    for (int i = 0; i < 2000; ++i) {
      Alert a = alert_for(7);
      REQUIRE(s->append(a).ok());
    }
    size_t before = segments(d.path).size();
    REQUIRE(before > 3);
    REQUIRE(s->ack(2000).ok());
    REQUIRE(segments(d.path).size() == 1);
    REQUIRE(s->stats().depth == 0);
  }
  fs::remove(d.path / "acked");  // even without the ack file, seqs do not go back
  auto s = open_spool(opts(d.path));
  Alert a = alert_for(9);
  REQUIRE(*s->append(a) > 2000);
}

TEST_CASE("spool cuts a torn tail record on open instead of replaying it", "[agent][spool]") {
  TempDir d("spool");
  {
    auto s = open_spool(opts(d.path));
    for (int i = 0; i < 10; ++i) {
      Alert a = alert_for(7);
      REQUIRE(s->append(a).ok());
    }
  }
  auto seg = segments(d.path).back();
  auto size = fs::file_size(seg);
  fs::resize_file(seg, size - 7);  // power loss in the middle of the 10th record
  auto s = open_spool(opts(d.path));
  REQUIRE(s->last_seq() == 9);
  REQUIRE(s->stats().torn_bytes_cut > 0);
  auto r = s->read(1, 100);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 9);
  Alert a = alert_for(7);
  REQUIRE(*s->append(a) == 10);  // the cut seq is reused: it never reached anyone
  auto r2 = s->read(1, 100);
  REQUIRE(r2.ok());
  REQUIRE(r2->size() == 10);
}

TEST_CASE("spool detects a corrupted record by checksum and cuts from there", "[agent][spool]") {
  TempDir d("spool");
  {
    auto s = open_spool(opts(d.path));
    for (int i = 0; i < 10; ++i) {
      Alert a = alert_for(7);
      REQUIRE(s->append(a).ok());
    }
  }
  auto seg = segments(d.path).back();
  auto size = fs::file_size(seg);
  int fd = ::open(seg.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  char c = 'X';
  REQUIRE(::pwrite(fd, &c, 1, static_cast<off_t>(size / 2)) == 1);  // flip a byte in the middle
  ::close(fd);
  auto s = open_spool(opts(d.path));
  REQUIRE(s->last_seq() < 10);
  REQUIRE(s->last_seq() >= 3);
  auto r = s->read(1, 100);
  REQUIRE(r.ok());
  REQUIRE(r->size() == s->last_seq());
  for (auto& rec : *r) REQUIRE(alert_from_json_string(rec.json).ok());
}

TEST_CASE("spool full with keep-newest policy drops the oldest segment and counts it", "[agent][spool]") {
  TempDir d("spool");
  auto o = opts(d.path);
  o.max_bytes = 256u << 10;
  o.segment_bytes = 32u << 10;
  auto s = open_spool(o);
  for (int i = 0; i < 3000; ++i) {
    Alert a = alert_for(7);
    REQUIRE(s->append(a).ok());
  }
  auto st = s->stats();
  REQUIRE(st.bytes <= o.max_bytes);
  REQUIRE(st.dropped_oldest > 0);
  REQUIRE(st.depth + st.dropped_oldest == 3000);
  auto r = s->read(1, 1);
  REQUIRE(r.ok());
  REQUIRE(r->front().seq == st.dropped_oldest + 1);  // the oldest kept one
}

TEST_CASE("spool full with keep-oldest policy refuses new alerts and counts them", "[agent][spool]") {
  TempDir d("spool");
  auto o = opts(d.path);
  o.max_bytes = 128u << 10;
  o.segment_bytes = 32u << 10;
  o.overflow = agent::OverflowPolicy::drop_newest;
  auto s = open_spool(o);
  int refused = 0;
  for (int i = 0; i < 2000; ++i) {
    Alert a = alert_for(7);
    auto r = s->append(a);
    if (!r) {
      REQUIRE(r.error().code == ErrorCode::resource_exhausted);
      ++refused;
    }
  }
  REQUIRE(refused > 0);
  REQUIRE(s->stats().dropped_newest == static_cast<uint64_t>(refused));
  auto r = s->read(1, 1);
  REQUIRE(r->front().seq == 1);
  REQUIRE(s->ack(s->last_seq()).ok());  // room again after the ack
  Alert a = alert_for(7);
  REQUIRE(s->append(a).ok());
}

TEST_CASE("spool rebases unsent alerts above a collector that has seen higher seqs", "[agent][spool]") {
  TempDir d("spool");
  auto s = open_spool(opts(d.path));
  for (int i = 0; i < 5; ++i) {
    Alert a = alert_for(100 + static_cast<uint64_t>(i));
    REQUIRE(s->append(a).ok());
  }
  auto n = s->rebase(1000);
  REQUIRE(n.ok());
  REQUIRE(*n == 5);
  REQUIRE(s->acked_seq() == 1000);
  auto r = s->read(1001, 10);
  REQUIRE(r->size() == 5);
  auto a = alert_from_json_string(r->at(2).json);
  REQUIRE(a->seq == 1003);
  REQUIRE(a->id == "ag:1003");
  REQUIRE(a->alert.signature_id == 102);
}

TEST_CASE("spool directory and files are private to the agent", "[agent][spool]") {
  TempDir d("spool");
  auto dir = d.path / "sp";
  auto s = open_spool(opts(dir));
  Alert a = alert_for(1);
  REQUIRE(s->append(a).ok());
  struct stat st{};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  REQUIRE((st.st_mode & 077) == 0);
  REQUIRE(::stat(segments(dir).front().c_str(), &st) == 0);
  REQUIRE((st.st_mode & 077) == 0);
}

TEST_CASE("spool checksum is CRC-32C: the CPU instruction and the portable table agree with the standard check value",
          "[agent][spool][crc]") {
  // "123456789" -> 0xE3069283 is CRC-32C's published check value (RFC 3720 family).
  const char* check = "123456789";
  REQUIRE(halong::crc32c(0, check, 9) == 0xE3069283u);
  REQUIRE(halong::crc32c_portable(0, check, 9) == 0xE3069283u);
  WARN("CRC-32C in hardware (SSE4.2): " << (halong::crc32c_hardware() ? "yes" : "no"));
  std::mt19937 rng(42);
  std::vector<unsigned char> buf(4096 + 16);
  for (auto& b : buf) b = static_cast<unsigned char>(rng());
  for (size_t off : {0, 1, 3, 7}) {
    for (size_t n : {0, 1, 7, 8, 9, 63, 64, 65, 1000, 4096}) {
      uint32_t whole = halong::crc32c(0, buf.data() + off, n);
      REQUIRE(whole == halong::crc32c_portable(0, buf.data() + off, n));
      size_t cut = n / 3;  // continuing a checksum equals checksumming the whole
      REQUIRE(halong::crc32c(halong::crc32c(0, buf.data() + off, cut), buf.data() + off + cut, n - cut) == whole);
    }
  }
}

namespace {
// A segment as agents before format 2 wrote it: "HLSPOOL1", records with CRC-32 (IEEE).
void write_format1_segment(const fs::path& file, uint64_t first_seq, const std::vector<std::string>& payloads) {
  std::string data = "HLSPOOL1";
  uint64_t seq = first_seq;
  for (const auto& p : payloads) {
    char h[16];
    auto put = [&](int at, uint64_t v, int n) {
      for (int i = 0; i < n; ++i) h[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
    };
    put(0, p.size(), 4);
    put(8, seq, 8);
    boost::crc_32_type crc;
    crc.process_bytes(h + 8, 8);
    crc.process_bytes(p.data(), p.size());
    put(4, crc.checksum(), 4);
    data.append(h, 16);
    data += p;
    ++seq;
  }
  std::ofstream(file, std::ios::binary) << data;
}
}  // namespace

TEST_CASE("spool reads segments written in format 1 (CRC-32) by older agents and keeps appending after them", "[agent][spool][crc]") {
  TempDir d("spool");
  fs::create_directories(d.path);
  std::vector<std::string> old;
  for (uint64_t i = 1; i <= 5; ++i) {
    Alert a = alert_for(500 + i);
    a.seq = i;
    a.id = "ag:" + std::to_string(i);
    old.push_back(to_json_string(a));
  }
  write_format1_segment(d.path / "00000000000000000001.seg", 1, old);
  {
    auto s = open_spool(opts(d.path));
    REQUIRE(s->last_seq() == 5);
    REQUIRE(s->stats().torn_bytes_cut == 0);
    for (int i = 0; i < 3; ++i) {
      Alert a = alert_for(600);
      REQUIRE(s->append(a).ok());
    }
  }
  auto s = open_spool(opts(d.path));  // reopen: the old records and the new ones all check out
  REQUIRE(s->stats().torn_bytes_cut == 0);
  auto r = s->read(1, 100);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 8);
  for (size_t k = 0; k < 5; ++k) REQUIRE((*r)[k].json == old[k]);
  REQUIRE(alert_from_json_string((*r)[7].json)->alert.signature_id == 600);
  // A flipped byte in an old-format record is still caught by its CRC-32.
  s.reset();
  auto seg = d.path / "00000000000000000001.seg";
  int fd = ::open(seg.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  char c = '#';
  REQUIRE(::pwrite(fd, &c, 1, static_cast<off_t>(8 + 16 + old[0].size() + 16 + 10)) == 1);  // inside record 2
  ::close(fd);
  auto s2 = open_spool(opts(d.path));
  REQUIRE(s2->stats().torn_bytes_cut > 0);
  REQUIRE(s2->last_seq() == 1);
}

TEST_CASE("spool refuses a segment format from a newer agent instead of cutting it as torn", "[agent][spool][crc]") {
  TempDir d("spool");
  fs::create_directories(d.path);
  auto seg = d.path / "00000000000000000001.seg";
  std::ofstream(seg, std::ios::binary) << "HLSPOOL7" << std::string(100, 'z');
  auto s = Spool::open(opts(d.path));
  REQUIRE_FALSE(s.ok());
  REQUIRE(s.error().code == ErrorCode::unsupported);
  REQUIRE_THAT(s.error().message, Catch::Contains("format 7") && Catch::Contains(seg.string()));
  REQUIRE(fs::file_size(seg) == 108);  // untouched
}

TEST_CASE("spool writes new segments in format 2", "[agent][spool][crc]") {
  TempDir d("spool");
  {
    auto s = open_spool(opts(d.path));
    Alert a = alert_for(1);
    REQUIRE(s->append(a).ok());
  }
  std::ifstream in(segments(d.path).front(), std::ios::binary);
  std::string magic(8, '\0');
  in.read(magic.data(), 8);
  REQUIRE(magic == "HLSPOOL2");
}
