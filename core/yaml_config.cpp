#include "core/yaml_config.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>

#include <yaml-cpp/eventhandler.h>
#include <sstream>

namespace halong::config {

void Errors::add(const YAML::Node& at, const std::string& key_path, const std::string& what) {
  std::string s = file_;
  auto mark = at.Mark();
  if (mark.line >= 0) s += ":" + std::to_string(mark.line + 1);
  s += ": " + key_path + ": " + what;
  list_.push_back(std::move(s));
}

std::string Errors::joined() const {
  std::string s;
  for (const auto& e : list_) {
    if (!s.empty()) s += "\n";
    s += e;
  }
  return s;
}

namespace {

// Counts documents without building nodes (see check_yaml_text).
class CountingHandler final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

Status check_yaml_text(const std::string& text, const std::string& name, size_t max_documents) {
  int line = 1;
  for (unsigned char c : text) {
    if (c == '\n') ++line;
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%02x", c);
      return make_error(ErrorCode::parse_error,
                        name + ":" + std::to_string(line) + ": control byte " + buf + " (not YAML text)");
    }
  }
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    CountingHandler counter;
    size_t docs = 0;
    while (parser.HandleNextDocument(counter))
      if (++docs > max_documents)
        return make_error(ErrorCode::parse_error, name + ": more than " + std::to_string(max_documents) +
                                                      " YAML document(s) (a '---' or a stray ',' at the top level)");
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::parse_error, name + ":" + std::to_string(e.mark.line + 1) + ":" +
                                                  std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  return {};
}

Result<YAML::Node> load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::io_error, path + ": cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  return load_string(ss.str(), path);
}

Result<YAML::Node> load_string(const std::string& text, const std::string& name) {
  auto ok = check_yaml_text(text, name, 1);
  if (!ok) return ok.error();
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::parse_error, name + ":" + std::to_string(e.mark.line + 1) + ":" +
                                                  std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

namespace {
std::string join(const std::string& path, const char* key) { return path.empty() ? key : path + "." + key; }
}  // namespace

void get_string(const YAML::Node& map, const char* key, const std::string& path, std::string& out, Errors& errs) {
  auto n = map[key];
  if (!n) return;
  if (!n.IsScalar()) return errs.add(n, join(path, key), "must be a string");
  out = n.Scalar();
}

void get_bool(const YAML::Node& map, const char* key, const std::string& path, bool& out, Errors& errs) {
  auto n = map[key];
  if (!n) return;
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) return errs.add(n, join(path, key), "must be true or false");
  out = v;
}

void get_uint(const YAML::Node& map, const char* key, const std::string& path, uint64_t& out, Errors& errs,
              uint64_t min, uint64_t max) {
  auto n = map[key];
  if (!n) return;
  const std::string range = " between " + std::to_string(min) + " and " + std::to_string(max);
  if (!n.IsScalar()) return errs.add(n, join(path, key), "must be an integer" + range);
  const auto& s = n.Scalar();
  uint64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v < min || v > max)
    return errs.add(n, join(path, key), "must be an integer" + range + " (got '" + s + "')");
  out = v;
}

void get_strings(const YAML::Node& map, const char* key, const std::string& path, std::vector<std::string>& out,
                 Errors& errs) {
  auto n = map[key];
  if (!n) return;
  if (n.IsScalar()) {
    out = {n.Scalar()};
    return;
  }
  if (!n.IsSequence()) return errs.add(n, join(path, key), "must be a list of strings");
  std::vector<std::string> v;
  for (const auto& e : n) {
    if (!e.IsScalar()) return errs.add(e, join(path, key), "must be a list of strings");
    v.push_back(e.Scalar());
  }
  out = std::move(v);
}

Result<uint64_t> parse_duration_ms(std::string_view t) {
  auto bad = [&] {
    return make_error(ErrorCode::invalid_argument,
                      "'" + std::string(t) + "' is not a duration (examples: 250ms, 30s, 5m, 24h, 7d)");
  };
  uint64_t n = 0;
  auto r = std::from_chars(t.data(), t.data() + t.size(), n);
  if (r.ec != std::errc()) return bad();
  std::string_view unit(r.ptr, static_cast<size_t>(t.data() + t.size() - r.ptr));
  uint64_t mul = 0;
  if (unit.empty() || unit == "s") mul = 1000;
  else if (unit == "ms") mul = 1;
  else if (unit == "m") mul = 60'000;
  else if (unit == "h") mul = 3'600'000;
  else if (unit == "d") mul = 86'400'000;
  else return bad();
  if (n > UINT64_MAX / mul) return bad();
  return n * mul;
}

void get_duration_ms(const YAML::Node& map, const char* key, const std::string& path, uint64_t& out_ms,
                     Errors& errs) {
  auto n = map[key];
  if (!n) return;
  if (!n.IsScalar()) return errs.add(n, join(path, key), "must be a duration such as 30s");
  auto d = parse_duration_ms(n.Scalar());
  if (!d) return errs.add(n, join(path, key), d.error().message);
  out_ms = *d;
}

Result<uint64_t> parse_size(std::string_view t) {
  auto bad = [&] {
    return make_error(ErrorCode::invalid_argument,
                      "'" + std::string(t) + "' is not a size (examples: 4096, 512KiB, 64MiB, 1GiB, 100MB)");
  };
  uint64_t n = 0;
  auto r = std::from_chars(t.data(), t.data() + t.size(), n);
  if (r.ec != std::errc()) return bad();
  std::string_view unit(r.ptr, static_cast<size_t>(t.data() + t.size() - r.ptr));
  uint64_t mul = 0;
  if (unit.empty() || unit == "B") mul = 1;
  else if (unit == "KiB") mul = 1ull << 10;
  else if (unit == "MiB") mul = 1ull << 20;
  else if (unit == "GiB") mul = 1ull << 30;
  else if (unit == "KB") mul = 1000;
  else if (unit == "MB") mul = 1000'000;
  else if (unit == "GB") mul = 1000'000'000;
  else return bad();
  if (n > UINT64_MAX / mul) return bad();
  return n * mul;
}

void get_size(const YAML::Node& map, const char* key, const std::string& path, uint64_t& out_bytes, Errors& errs) {
  auto n = map[key];
  if (!n) return;
  if (!n.IsScalar()) return errs.add(n, join(path, key), "must be a size such as 64MiB");
  auto d = parse_size(n.Scalar());
  if (!d) return errs.add(n, join(path, key), d.error().message);
  out_bytes = *d;
}

void check_known_keys(const YAML::Node& map, const std::string& path, const std::vector<std::string>& known,
                      Errors& errs) {
  if (!map.IsMap()) return;
  for (const auto& kv : map) {
    const auto k = kv.first.Scalar();
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      std::string list;
      for (const auto& s : known) list += (list.empty() ? "" : ", ") + s;
      errs.add(kv.first, path.empty() ? k : path + "." + k, "unknown key (known: " + list + ")");
    }
  }
}

}  // namespace halong::config
