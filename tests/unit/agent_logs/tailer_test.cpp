#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "agent/logs/file_reader.hpp"
#include "agent/logs/file_tailer.hpp"
#include "agent/logs/log_inputs.hpp"
#include "helpers.hpp"

using namespace halong::agent::logs;
using halong::test::append;
using halong::test::FakeClock;
using halong::test::TempDir;

namespace {

struct Got {
  std::string path, text;
  uint64_t offset;
  bool truncated;
};

struct Harness {
  TempDir dir;
  FakeClock clock;
  std::vector<LogInputConfig> inputs;
  TailerOptions opts;
  std::unique_ptr<FileTailer> tailer;
  std::vector<Got> got;
  bool autocommit = true;

  explicit Harness(std::vector<std::string> globs = {"*.log"}, bool from_start = true) {
    LogInputConfig in;
    for (auto& g : globs) in.paths.push_back(dir.path + "/" + g);
    in.format = "raw";
    in.from_start = from_start;
    in.max_line = 16;
    inputs.push_back(in);
    opts.state_dir = dir / "state";
    opts.rotate_wait_us = 1'000'000;
    opts.rescan_interval_us = 0;  // rescan at every poll: no waiting on inotify in tests
    opts.fsync = false;
    opts.clock = clock.fn();
  }
  void open() {
    tailer.reset();
    auto t = FileTailer::open(inputs, opts);
    REQUIRE(t.ok());
    tailer = std::move(*t);
  }
  std::vector<std::string> poll() {
    std::vector<std::string> texts;
    tailer->poll([&](const TailLine& l) {
      got.push_back(Got{std::string(l.path), std::string(l.text), l.offset, l.truncated});
      texts.emplace_back(l.text);
      if (autocommit) tailer->commit(l.next);
    });
    return texts;
  }
  void sync() { REQUIRE(tailer->sync().ok()); }
  std::string f(const std::string& name) { return dir / name; }
};

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("tailer reads an existing file from its start with byte offsets", "[agent][logs][tailer]") {
  Harness h;
  append(h.f("a.log"), "one\ntwo\r\nthree\n");
  h.open();
  CHECK(h.poll() == V{"one", "two", "three"});
  REQUIRE(h.got.size() == 3);
  CHECK(h.got[0].offset == 0);
  CHECK(h.got[1].offset == 4);
  CHECK(h.got[2].offset == 9);
  CHECK(h.got[2].path == h.f("a.log"));
  CHECK(h.poll().empty());
}

TEST_CASE("tailer with from_start=false skips what existed at the first start, not later files",
          "[agent][logs][tailer]") {
  Harness h({"*.log"}, false);
  append(h.f("a.log"), "old1\nold2\nhalf");
  h.open();
  CHECK(h.poll().empty());
  append(h.f("a.log"), "-line\nnew\n");  // the cut line's tail is not a line of its own
  CHECK(h.poll() == V{"new"});
  append(h.f("b.log"), "b1\n");
  CHECK(h.poll() == V{"b1"});
}

TEST_CASE("tailer holds a partial last line until its newline arrives", "[agent][logs][tailer]") {
  Harness h;
  append(h.f("a.log"), "complete\npart");
  h.open();
  CHECK(h.poll() == V{"complete"});
  append(h.f("a.log"), "ial");
  CHECK(h.poll().empty());
  append(h.f("a.log"), " line\n");
  CHECK(h.poll() == V{"partial line"});
}

TEST_CASE("tailer cuts lines longer than max_line, counts them, and keeps the next line whole",
          "[agent][logs][tailer]") {
  Harness h;  // max_line 16
  append(h.f("a.log"), std::string(40, 'x'));
  h.open();
  CHECK(h.poll().empty());
  append(h.f("a.log"), std::string(100000, 'y') + "\nshort\n");
  CHECK(h.poll() == V{std::string(16, 'x'), "short"});
  CHECK(h.got[0].truncated);
  CHECK_FALSE(h.got[1].truncated);
  CHECK(h.got[1].offset == 100041);
  CHECK(h.tailer->stats().lines_truncated == 1);
}

TEST_CASE("tailer follows rotation by rename: drains the old file, then reads the new one",
          "[agent][logs][tailer]") {
  Harness h({"app.log"});
  append(h.f("app.log"), "1\n2\n");
  h.open();
  CHECK(h.poll() == V{"1", "2"});
  append(h.f("app.log"), "3\n");
  REQUIRE(::rename(h.f("app.log").c_str(), h.f("app.log.1").c_str()) == 0);
  append(h.f("app.log.1"), "4\n");  // the writer still has the old file open
  append(h.f("app.log"), "5\n");
  CHECK(h.poll() == V{"3", "4", "5"});
  CHECK(h.tailer->open_files() == 2);
  append(h.f("app.log.1"), "6\n");
  CHECK(h.poll() == V{"6"});
  h.clock.now_us += 2'000'000;  // rotate_wait passes without data: the old file is closed
  CHECK(h.poll().empty());
  CHECK(h.tailer->open_files() == 1);
  CHECK(h.tailer->stats().files_closed == 1);
  CHECK(h.tailer->stats().rotations == 1);
}

TEST_CASE("tailer follows copy-truncate: reads the file again from its start", "[agent][logs][tailer]") {
  Harness h({"app.log"});
  append(h.f("app.log"), "first-1\nfirst-2\n");
  h.open();
  CHECK(h.poll() == V{"first-1", "first-2"});
  halong::test::overwrite(h.f("app.log.1"), halong::test::slurp(h.f("app.log")));
  REQUIRE(::truncate(h.f("app.log").c_str(), 0) == 0);
  append(h.f("app.log"), "x\n");
  CHECK(h.poll() == V{"x"});
  CHECK(h.tailer->stats().truncations == 1);
}

TEST_CASE("tailer notices a truncation that was rewritten past the old offset (first bytes differ)",
          "[agent][logs][tailer]") {
  Harness h({"app.log"});
  append(h.f("app.log"), "aaaa\n");
  h.open();
  CHECK(h.poll() == V{"aaaa"});
  halong::test::overwrite(h.f("app.log"), "bbbbbbbbbb\ncc\n");  // same inode, longer than before
  CHECK(h.poll() == V{"bbbbbbbbbb", "cc"});
}

TEST_CASE("tailer delivers a deleted file's last line without newline after rotate_wait",
          "[agent][logs][tailer]") {
  Harness h({"app.log"});
  append(h.f("app.log"), "a\nlast-no-newline");
  h.open();
  CHECK(h.poll() == V{"a"});
  REQUIRE(::unlink(h.f("app.log").c_str()) == 0);
  CHECK(h.poll().empty());
  h.clock.now_us += 1'000'001;
  CHECK(h.poll() == V{"last-no-newline"});
  CHECK(h.tailer->open_files() == 0);
  h.sync();  // the fully committed, closed file leaves the state
  CHECK(halong::test::slurp(h.opts.state_dir + "/tail.state").find("app.log") == std::string::npos);
}

TEST_CASE("tailer picks up new files that match the glob", "[agent][logs][tailer]") {
  Harness h({"*.log"});
  h.open();
  CHECK(h.poll().empty());
  append(h.f("x.log"), "x1\n");
  append(h.f("y.txt"), "not matched\n");
  CHECK(h.poll() == V{"x1"});
}

TEST_CASE("tailer resumes after restart at the last synced commit: nothing skipped or repeated",
          "[agent][logs][tailer]") {
  Harness h({"app.log"});
  append(h.f("app.log"), "1\n2\n3\n");
  h.open();
  h.autocommit = false;
  std::vector<TailPosition> pos;
  h.tailer->poll([&](const TailLine& l) { pos.push_back(l.next); });
  REQUIRE(pos.size() == 3);
  h.tailer->commit(pos[0]);
  h.tailer->commit(pos[1]);  // "3" handed over but not handled when we "crash"
  REQUIRE(h.tailer->sync("spool-seq=41").ok());
  h.tailer->commit(pos[2]);  // committed but never synced: lost in the crash
  append(h.f("app.log"), "4\n");
  h.open();  // restart
  CHECK(h.tailer->restored_app_state() == "spool-seq=41");
  h.autocommit = true;
  CHECK(h.poll() == V{"3", "4"});
}

TEST_CASE("tailer finds a file renamed away while the agent was down and drains it first",
          "[agent][logs][tailer]") {
  Harness h({"app.log"});
  append(h.f("app.log"), "1\n2\n");
  h.open();
  CHECK(h.poll() == V{"1", "2"});
  h.sync();
  h.tailer.reset();  // agent stops
  append(h.f("app.log"), "3\n");
  REQUIRE(::rename(h.f("app.log").c_str(), h.f("app.log.1").c_str()) == 0);
  append(h.f("app.log"), "4\n");
  h.open();
  CHECK(h.poll() == V{"3", "4"});
  CHECK(h.tailer->stats().files_lost == 0);
}

TEST_CASE("tailer starts over when the stored inode now holds other content", "[agent][logs][tailer]") {
  Harness h({"app.log"});
  append(h.f("app.log"), "original line\n");
  h.open();
  CHECK(h.poll() == V{"original line"});
  h.sync();
  h.tailer.reset();
  halong::test::overwrite(h.f("app.log"), "rewritten!!!!!!\nz\n");  // same inode, other bytes
  h.open();
  CHECK(h.poll() == V{"rewritten!!!!!!", "z"});
}

TEST_CASE("tailer ignores commits of lines from before a truncation", "[agent][logs][tailer]") {
  Harness h({"app.log"});
  append(h.f("app.log"), "aaaaaaaaaa\n");
  h.open();
  h.autocommit = false;
  TailPosition old;
  h.tailer->poll([&](const TailLine& l) { old = l.next; });
  REQUIRE(::truncate(h.f("app.log").c_str(), 0) == 0);
  append(h.f("app.log"), "b\n");
  CHECK(h.poll() == V{"b"});  // not committed
  h.tailer->commit(old);      // late commit of the pre-truncation line
  h.sync();
  h.open();
  CHECK(h.poll() == V{"b"});  // offset 11 was not applied to the new content
}

TEST_CASE("tailer reports a corrupt state file with its path and line", "[agent][logs][tailer]") {
  Harness h;
  std::filesystem::create_directories(h.opts.state_dir);
  halong::test::overwrite(h.opts.state_dir + "/tail.state", "halong-tail-state 1\nfile 1 2 x\n");
  auto t = FileTailer::open(h.inputs, h.opts);
  REQUIRE_FALSE(t.ok());
  CHECK_THAT(t.error().message, Catch::Contains("tail.state:2"));
}

TEST_CASE("tailer rejects relative paths and an empty state directory", "[agent][logs][tailer]") {
  Harness h;
  auto in = h.inputs;
  in[0].paths = {"relative/*.log"};
  auto t = FileTailer::open(in, h.opts);
  REQUIRE_FALSE(t.ok());
  CHECK_THAT(t.error().message, Catch::Contains("relative/*.log"));
  TailerOptions o;
  CHECK_FALSE(FileTailer::open(h.inputs, o).ok());
}

TEST_CASE("tailer wakes on inotify when a watched file grows, well before the timeout",
          "[agent][logs][tailer]") {
  Harness h({"app.log"});
  h.opts.rescan_interval_us = 1'000'000'000;
  append(h.f("app.log"), "a\n");
  h.open();
  REQUIRE(h.tailer->wait_fd() >= 0);
  CHECK(h.poll() == V{"a"});
  append(h.f("app.log"), "b\n");
  auto t0 = std::chrono::steady_clock::now();
  h.tailer->wait(5000);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK(h.poll() == V{"b"});
  // a new file in the directory triggers a rescan although the interval has not passed
  REQUIRE(::rename(h.f("app.log").c_str(), h.f("app.log.1").c_str()) == 0);
  append(h.f("app.log"), "c\n");
  CHECK(h.poll() == V{"c"});
}

TEST_CASE("tailer without inotify finds new files by polling", "[agent][logs][tailer]") {
  Harness h({"*.log"});
  h.opts.use_inotify = false;
  h.opts.rescan_interval_us = 500'000;
  h.open();
  CHECK(h.tailer->wait_fd() == -1);
  append(h.f("n.log"), "n\n");
  CHECK(h.poll().empty());  // the interval has not passed
  h.clock.now_us += 500'000;
  CHECK(h.poll() == V{"n"});
}

TEST_CASE("read_log_file reads every line, the last without newline, and cuts long ones",
          "[agent][logs][reader]") {
  TempDir d;
  append(d / "r.log", "a\r\n" + std::string(70000, 'z') + "\nlast");
  std::vector<std::pair<uint64_t, std::string>> got;
  auto st = read_log_file(d / "r.log", 1000, [&](uint64_t off, std::string_view t, bool) {
    got.emplace_back(off, std::string(t));
  });
  REQUIRE(st.ok());
  REQUIRE(got.size() == 3);
  CHECK(got[0].second == "a");
  CHECK(got[1].second.size() == 1000);
  CHECK(got[2] == std::make_pair(uint64_t(70004), std::string("last")));
  CHECK(st->lines_truncated == 1);
  auto missing = read_log_file(d / "nope.log", 10, [](uint64_t, std::string_view, bool) {});
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message, Catch::Contains("nope.log"));
}

TEST_CASE("EventBuilder gives every line an event with the input's source, path and offset",
          "[agent][logs][reader]") {
  LogInputConfig in;
  in.paths = {"/x"};
  in.format = "sshd";
  in.source = {"linux", "sshd", ""};
  auto b = EventBuilder::make({in});
  REQUIRE(b.ok());
  std::vector<std::string> users;
  std::vector<int64_t> ts;
  auto on = [&](const halong::logs::LogEvent& ev) {
    CHECK(ev.source->service == "sshd");
    CHECK(ev.path == "/var/log/auth.log");
    const std::string* u = ev.field("user");
    users.push_back(u ? *u : "-");
    ts.push_back(ev.ts_us);
  };
  b->handle(0, "/var/log/auth.log", 10, "Nov 23 12:00:01 h sshd[1]: Invalid user bob from 1.2.3.4", 77, on);
  b->handle(0, "/var/log/auth.log", 20, "garbage", 77, on);
  CHECK(users == std::vector<std::string>{"bob", "-"});
  CHECK(ts[1] == 77);
  CHECK(b->stats().unparsed == 1);
  in.format = "xml";
  CHECK_FALSE(EventBuilder::make({in}).ok());
}

TEST_CASE("LogInputs turns appended auditd records into events and a joined process_creation event",
          "[agent][logs][inputs]") {
  TempDir d;
  LogInputConfig in;
  in.paths = {d / "audit.log"};
  in.format = "auditd";
  in.source = {"linux", "auditd", ""};
  TailerOptions o;
  o.state_dir = d / "state";
  o.fsync = false;
  o.rescan_interval_us = 0;
  append(d / "audit.log",
         "type=SYSCALL msg=audit(1795435200.000:7): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=5 uid=0 "
         "comm=\"id\" exe=\"/usr/bin/id\"\n"
         "type=EXECVE msg=audit(1795435200.000:7): argc=1 a0=\"id\"\n");
  auto li = LogInputs::open({in}, o);
  REQUIRE(li.ok());
  std::vector<std::string> kinds;
  auto on = [&](const halong::logs::LogEvent& ev) {
    kinds.push_back(ev.source->category.empty() ? *ev.field("type") : ev.source->category + ":" + *ev.field("Image"));
  };
  CHECK((*li)->poll(on) > 0);
  CHECK(kinds == std::vector<std::string>{"SYSCALL", "EXECVE"});
  CHECK((*li)->poll(on) == 0);  // idle: the pending event is completed
  CHECK(kinds.back() == "process_creation:/usr/bin/id");
  REQUIRE((*li)->sync("7").ok());
  CHECK((*li)->parse_stats().derived == 1);
}

TEST_CASE("tailer gets through a 10 MB line and binary garbage without stalling", "[agent][logs][tailer]") {
  Harness h({"app.log"});
  std::string garbage;
  for (int i = 0; i < 256; ++i) garbage.push_back(static_cast<char>(i == '\n' ? 0 : i));
  append(h.f("app.log"), std::string(10 << 20, 'A') + "\n" + garbage + "\n\xff\xfe invalid utf-8 \xc3\x28\nok\n");
  h.open();
  std::vector<std::string> all;
  int polls = 0;
  while ((all.empty() || all.back() != "ok") && polls < 10) {
    auto v = h.poll();
    all.insert(all.end(), v.begin(), v.end());
    ++polls;
  }
  REQUIRE(all.size() == 4);
  CHECK(all[0] == std::string(16, 'A'));
  CHECK(all[1] == garbage.substr(0, 16));
  CHECK(all[3] == "ok");
  CHECK(polls <= 4);  // 4 MiB per file per poll
  CHECK(h.tailer->stats().lines_truncated == 3);
}
