// auditd records (audit.log lines, also with a "node=" prefix) -> fields, and the records
// of one event (same audit(ts:serial)) joined into a process_creation event when the
// event is an execve: Image, CommandLine, User, CurrentDirectory, ProcessId,
// ParentProcessId, ParentImage/ParentCommandLine (from the parent's own execve, when this
// parser saw it).
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/logs/parser.hpp"
#include "agent/logs/parsers_internal.hpp"
#include "agent/logs/text_util.hpp"

namespace halong::agent::logs {

using halong::logs::LogEvent;
using halong::logs::LogSource;
using namespace detail;

namespace {

constexpr size_t kMaxRecordsPerEvent = 64;
constexpr size_t kMaxPendingBytes = 1 << 20;
constexpr size_t kParentCacheSize = 4096;

struct SyscallName {
  int nr;
  std::string_view name;
};
// x86_64 (arch=c000003e) numbers of the syscalls Sigma rules name, and a few more.
constexpr SyscallName kX8664[] = {
    {2, "open"},        {41, "socket"},       {42, "connect"},    {43, "accept"},        {49, "bind"},
    {56, "clone"},      {57, "fork"},         {58, "vfork"},      {59, "execve"},        {62, "kill"},
    {82, "rename"},     {87, "unlink"},       {90, "chmod"},      {92, "chown"},         {99, "sysinfo"},
    {101, "ptrace"},    {103, "syslog"},      {105, "setuid"},    {106, "setgid"},       {133, "mknod"},
    {135, "personality"}, {156, "_sysctl"},   {165, "mount"},     {175, "init_module"},  {176, "delete_module"},
    {257, "openat"},    {259, "mknodat"},     {263, "unlinkat"},  {264, "renameat"},     {268, "fchmodat"},
    {313, "finit_module"}, {319, "memfd_create"}, {321, "bpf"},   {322, "execveat"},
};
// aarch64 (arch=c00000b7)
constexpr SyscallName kAarch64[] = {
    {33, "mknodat"},  {35, "unlinkat"},   {56, "openat"},       {92, "personality"},  {105, "init_module"},
    {106, "delete_module"}, {116, "syslog"}, {117, "ptrace"}, {129, "kill"},        {146, "setuid"},
    {144, "setgid"},  {179, "sysinfo"},   {198, "socket"},      {200, "bind"},        {203, "connect"},
    {220, "clone"},   {221, "execve"},    {273, "finit_module"}, {279, "memfd_create"}, {280, "bpf"},
    {281, "execveat"},
};

std::string_view syscall_name(std::string_view arch, std::string_view nr_s) {
  std::string_view t = nr_s;
  uint64_t nr = 0;
  if (!take_uint(t, 4, nr) || !t.empty()) return {};
  if (arch == "c000003e") {
    for (const auto& s : kX8664)
      if (uint64_t(s.nr) == nr) return s.name;
  } else if (arch == "c00000b7") {
    for (const auto& s : kAarch64)
      if (uint64_t(s.nr) == nr) return s.name;
  }
  return {};
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// auditd writes a string field either quoted ("...") or, when it holds spaces, quotes or
// control characters, as unquoted hex. NULs (proctitle) become spaces.
std::string decode_string(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return std::string(v.substr(1, v.size() - 2));
  if (v.empty() || v.size() % 2 != 0 || v == "(null)") return std::string(v);
  std::string out;
  out.reserve(v.size() / 2);
  for (size_t i = 0; i < v.size(); i += 2) {
    int a = hexval(v[i]), b = hexval(v[i + 1]);
    if (a < 0 || b < 0) return std::string(v);
    char c = static_cast<char>(a * 16 + b);
    out.push_back(c == '\0' ? ' ' : c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

struct Kv {
  std::string_view key, value;  // value as written (quotes kept)
};

// key=value tokens; value "quoted", 'single quoted' (nested kv, flattened) or bare.
void split_kv(std::string_view s, std::vector<Kv>& out, int depth = 0) {
  while (!s.empty()) {
    while (!s.empty() && (s[0] == ' ' || s[0] == '\x1d')) s.remove_prefix(1);
    size_t eq = s.find('=');
    if (eq == std::string_view::npos) return;
    std::string_view key = s.substr(0, eq);
    if (key.find(' ') != std::string_view::npos) {  // free text: skip a word
      size_t sp = s.find(' ');
      s.remove_prefix(sp == std::string_view::npos ? s.size() : sp);
      continue;
    }
    s.remove_prefix(eq + 1);
    std::string_view value;
    if (!s.empty() && (s[0] == '"' || s[0] == '\'')) {
      char q = s[0];
      size_t close = s.find(q, 1);
      if (close == std::string_view::npos) close = s.size() - 1;
      value = s.substr(0, close + 1);
      s.remove_prefix(close + 1);
      if (q == '\'' && depth == 0) {
        std::string_view inner = value.size() >= 2 ? value.substr(1, value.size() - 2) : std::string_view{};
        split_kv(inner, out, depth + 1);
        continue;
      }
    } else {
      size_t end = 0;
      while (end < s.size() && s[end] != ' ' && s[end] != '\x1d') ++end;
      value = s.substr(0, end);
      s.remove_prefix(end);
    }
    out.push_back({key, value});
  }
}

bool is_string_field(std::string_view type, std::string_view key) {
  if (type == "EXECVE") return key.size() >= 2 && key[0] == 'a' && is_digit(key[1]);
  return key == "exe" || key == "comm" || key == "name" || key == "cwd" || key == "proctitle" || key == "cmd" ||
         key == "acct" || key == "path";
}

struct Group {
  uint64_t serial = 0;
  int64_t ts_us = 0;
  bool active = false;
  bool has_syscall = false, has_execve = false;
  std::string syscall_name, exe, comm, pid, ppid, uid, auid, euid, user_name, key, success, cwd, proctitle;
  std::vector<std::string> args;  // EXECVE a0..aN, in order
  std::string raw;                // the records, newline-joined
  size_t records = 0;
};

class AuditdParser final : public Parser {
 public:
  explicit AuditdParser(const ParserOptions& o) : opts_(o) {
    derived_source_.product = "linux";
    derived_source_.category = "process_creation";
  }
  std::string_view name() const override { return "auditd"; }

  bool parse(std::string_view line, LogEvent& ev) override {
    ev.clear_parsed();
    ev.raw = line;
    ev.format = "auditd";
    std::string_view s = line;
    while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
    std::string_view node;
    if (consume(s, "node=")) {
      node = token(s);
      consume(s, " ");
    }
    if (!consume(s, "type=")) return false;
    std::string_view type = token(s);
    if (!consume(s, " msg=audit(")) return false;
    // audit(1364481363.243:24287):
    uint64_t sec = 0, ms = 0, serial = 0;
    std::string_view t = s;
    std::string_view msd;
    if (!take_uint(t, 12, sec) || !consume(t, ".")) return false;
    msd = t;
    if (!take_uint(t, 6, ms)) return false;
    size_t msdigits = msd.size() - t.size();
    if (!consume(t, ":") || !take_uint(t, 20, serial) || !consume(t, "):")) return false;
    for (size_t i = msdigits; i < 6; ++i) ms *= 10;
    for (size_t i = 6; i < msdigits; ++i) ms /= 10;
    int64_t ts = static_cast<int64_t>(sec) * 1000000 + static_cast<int64_t>(ms);
    ev.ts_us = ts;
    ev.add("type", type);
    if (!node.empty()) ev.add("node", node);
    kv_.clear();
    split_kv(t, kv_);

    std::string_view arch, sysnr;
    bool have_enriched_syscall = false;
    for (const auto& kv : kv_) {
      if (kv.key == "arch") arch = kv.value;
      if (kv.key == "syscall") sysnr = kv.value;
      if (kv.key == "SYSCALL") have_enriched_syscall = true;
      if (is_string_field(type, kv.key) || (kv.value.size() >= 2 && kv.value.front() == '"'))
        ev.add(kv.key, decode_string(kv.value));
      else
        ev.add(kv.key, kv.value);
    }
    if (type == "SYSCALL" && !have_enriched_syscall) {
      std::string_view n = syscall_name(arch, sysnr);
      if (!n.empty()) ev.add("SYSCALL", n);
    }

    // join
    if (group_.active && group_.serial != serial) finish_group();
    if (type == "EOE") {
      if (group_.active && group_.serial == serial) finish_group();
      return true;
    }
    add_to_group(type, serial, ts, line, ev);
    return true;
  }

  bool next_derived(LogEvent& ev) override {
    if (ready_.empty()) return false;
    derived_raw_ = std::move(ready_.front().raw);
    ev.clear_parsed();
    ev.fields = std::move(ready_.front().fields);
    ev.ts_us = ready_.front().ts_us;
    ready_.pop_front();
    ev.raw = derived_raw_;
    ev.format = "auditd";
    ev.source = &derived_source_;
    return true;
  }

  void flush() override {
    if (group_.active) finish_group();
  }

 private:
  struct Ready {
    std::vector<std::pair<std::string, std::string>> fields;
    std::string raw;
    int64_t ts_us = 0;
  };

  void add_to_group(std::string_view type, uint64_t serial, int64_t ts, std::string_view line, const LogEvent& ev) {
    Group& g = group_;
    if (!g.active) {
      g = Group{};
      g.active = true;
      g.serial = serial;
      g.ts_us = ts;
    }
    if (g.records >= kMaxRecordsPerEvent || g.raw.size() + line.size() > kMaxPendingBytes) return;
    ++g.records;
    if (!g.raw.empty()) g.raw.push_back('\n');
    g.raw.append(line);
    auto get = [&](std::string_view k) -> std::string {
      const std::string* v = ev.field(k);
      return v ? *v : std::string();
    };
    if (type == "SYSCALL") {
      g.has_syscall = true;
      g.syscall_name = get("SYSCALL");
      g.exe = get("exe");
      g.comm = get("comm");
      g.pid = get("pid");
      g.ppid = get("ppid");
      g.uid = get("uid");
      g.auid = get("auid");
      g.euid = get("euid");
      g.user_name = get("UID");
      g.key = get("key");
      g.success = get("success");
    } else if (type == "EXECVE") {
      g.has_execve = true;
      // a0..aN in order; long args come as aN_len + aN[0], aN[1]...
      for (const auto& [k, v] : ev.fields) {
        if (k.size() < 2 || k[0] != 'a' || !is_digit(k[1])) continue;
        size_t br = k.find('[');
        size_t us = k.find('_');
        if (us != std::string::npos) continue;  // aN_len
        uint64_t idx = 0;
        std::string_view ks = std::string_view(k).substr(1);
        if (!take_uint(ks, 5, idx) || idx > 4096) continue;
        if (g.args.size() <= idx) g.args.resize(idx + 1);
        if (br == std::string::npos) g.args[idx] = v;
        else g.args[idx] += v;
      }
    } else if (type == "CWD") {
      g.cwd = get("cwd");
    } else if (type == "PROCTITLE") {
      g.proctitle = get("proctitle");
    }
  }

  void finish_group() {
    Group& g = group_;
    g.active = false;
    bool is_exec = g.syscall_name == "execve" || g.syscall_name == "execveat";
    if (!g.has_syscall || !(is_exec || g.has_execve) || (!g.has_execve && g.proctitle.empty())) return;
    if (g.success == "no") return;
    Ready r;
    r.ts_us = g.ts_us;
    r.raw = std::move(g.raw);
    std::string cmd;
    if (g.has_execve) {
      for (size_t i = 0; i < g.args.size(); ++i) {
        if (i) cmd.push_back(' ');
        cmd += g.args[i];
      }
    } else {
      cmd = g.proctitle;
    }
    auto add = [&](std::string_view k, const std::string& v) {
      if (!v.empty()) r.fields.emplace_back(k, v);
    };
    add("Image", g.exe);
    add("CommandLine", cmd);
    add("User", g.user_name.empty() ? g.uid : g.user_name);
    add("ProcessId", g.pid);
    add("ParentProcessId", g.ppid);
    add("CurrentDirectory", g.cwd);
    auto parent = parents_.find(g.ppid);
    if (parent != parents_.end()) {
      add("ParentImage", parent->second.first);
      add("ParentCommandLine", parent->second.second);
    }
    add("comm", g.comm);
    add("uid", g.uid);
    add("euid", g.euid);
    add("auid", g.auid);
    add("key", g.key);
    if (!g.pid.empty()) remember(g.pid, g.exe, cmd);
    ready_.push_back(std::move(r));
  }

  void remember(const std::string& pid, const std::string& exe, const std::string& cmd) {
    auto [it, inserted] = parents_.insert_or_assign(pid, std::make_pair(exe, cmd));
    (void)it;
    if (inserted) {
      order_.push_back(pid);
      if (order_.size() > kParentCacheSize) {
        parents_.erase(order_.front());
        order_.pop_front();
      }
    }
  }

  ParserOptions opts_;
  LogSource derived_source_;
  std::vector<Kv> kv_;
  Group group_;
  std::deque<Ready> ready_;
  std::string derived_raw_;
  std::unordered_map<std::string, std::pair<std::string, std::string>> parents_;
  std::deque<std::string> order_;
};

}  // namespace

std::unique_ptr<Parser> make_auditd_parser(const ParserOptions& opts) { return std::make_unique<AuditdParser>(opts); }

}  // namespace halong::agent::logs
