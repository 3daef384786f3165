#include "collector/app/audit_inbox.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <spdlog/spdlog.h>

#include "collector/store/audit_log.hpp"

namespace halong::collector {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {
fs::path inbox_dir(const std::string& data_dir) { return fs::path(data_dir) / "audit-inbox"; }
}  // namespace

std::string cli_actor() {
  for (const char* var : {"SUDO_USER", "USER", "LOGNAME"})
    if (const char* v = std::getenv(var); v && *v) return std::string("cli:") + v;
  if (const passwd* pw = getpwuid(getuid())) return std::string("cli:") + pw->pw_name;
  return "cli:uid" + std::to_string(getuid());
}

Status queue_audit(const std::string& data_dir, int64_t time_us, const std::string& actor, const std::string& action,
                   const std::string& target, json::value before, json::value after) {
  const fs::path dir = inbox_dir(data_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorCode::io_error, "audit inbox " + dir.string() + ": " + ec.message());
  static std::atomic<unsigned> counter{0};
  // Names sort in the order the records were made: time, then pid and a counter.
  char name[96];
  std::snprintf(name, sizeof name, "%020lld-%08d-%04u", static_cast<long long>(time_us), static_cast<int>(getpid()),
                counter++ % 10000);
  const fs::path tmp = dir / (std::string(name) + ".tmp");
  const fs::path fin = dir / (std::string(name) + ".json");
  json::object rec{{"time_us", time_us}, {"actor", actor}, {"action", action},
                   {"target", target},   {"before", std::move(before)}, {"after", std::move(after)}};
  const std::string text = json::serialize(rec);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCode::io_error, "audit inbox: cannot create " + tmp.string());
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    fs::remove(tmp, ec);
    return make_error(ErrorCode::io_error, "audit inbox: cannot write " + tmp.string());
  }
  fs::rename(tmp, fin, ec);
  if (ec) return make_error(ErrorCode::io_error, "audit inbox: " + fin.string() + ": " + ec.message());
  return {};
}

Result<size_t> drain_audit_inbox(const std::string& data_dir, AuditLog& log) {
  const fs::path dir = inbox_dir(data_dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return size_t{0};
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".json") files.push_back(e.path());
  if (ec) return make_error(ErrorCode::io_error, "audit inbox " + dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  size_t n = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    boost::system::error_code jec;
    json::value v = json::parse(ss.str(), jec);
    const json::object* o = (!jec && v.is_object()) ? &v.as_object() : nullptr;
    auto str = [&](const char* k) -> std::string {
      const json::value* x = o ? o->if_contains(k) : nullptr;
      return x && x->is_string() ? std::string(x->as_string()) : std::string();
    };
    const json::value* t = o ? o->if_contains("time_us") : nullptr;
    if (!o || !t || !t->is_int64() || str("actor").empty() || str("action").empty()) {
      spdlog::error("audit inbox: {} is not an audit record; moved aside as .bad", f.string());
      fs::rename(f, fs::path(f).replace_extension(".bad"), ec);
      continue;
    }
    const json::value* before = o->if_contains("before");
    const json::value* after = o->if_contains("after");
    auto r = log.append(t->as_int64(), str("actor"), str("action"), str("target"), before ? *before : json::value(nullptr),
                        after ? *after : json::value(nullptr));
    if (!r) return r.error();  // leave the file: appended on the next round
    fs::remove(f, ec);
    ++n;
  }
  return n;
}

}  // namespace halong::collector
