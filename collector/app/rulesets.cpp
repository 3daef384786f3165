#include "collector/app/rulesets.hpp"

#include <openssl/evp.h>

#include <cstdio>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/detect/net/engine.hpp"
#include "core/detect/sigma/engine.hpp"
#include "core/utf8.hpp"

namespace halong::collector {

namespace fs = std::filesystem;

namespace {
bool is_net(const fs::path& p) { return p.extension() == ".rules"; }
bool is_sigma(const fs::path& p) { return p.extension() == ".yml" || p.extension() == ".yaml"; }

Result<std::string> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return make_error(ErrorCode::io_error, p.string() + ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status write_atomic(const fs::path& p, const std::string& text) {
  auto tmp = p.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return make_error(ErrorCode::io_error, tmp + ": cannot write");
  }
  std::error_code ec;
  fs::rename(tmp, p, ec);
  if (ec) return make_error(ErrorCode::io_error, p.string() + ": " + ec.message());
  return {};
}
}  // namespace

Result<RuleFiles> read_rule_files(const std::vector<std::string>& paths) {
  RuleFiles out;
  std::set<std::string> names;
  auto add = [&](const fs::path& p) -> Status {
    auto text = slurp(p);
    if (!text) return text.error();
    std::string name = p.filename().string();
    if (!names.insert(name).second)
      return make_error(ErrorCode::invalid_argument, p.string() + ": a second file named " + name + " in the ruleset");
    out.emplace_back(name, std::move(*text));
    return {};
  };
  for (const auto& s : paths) {
    fs::path p(s);
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> files;
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec))
        if (it->is_regular_file() && (is_net(it->path()) || is_sigma(it->path()))) files.push_back(it->path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files)
        if (auto st = add(f); !st) return st.error();
    } else if (fs::is_regular_file(p, ec) && (is_net(p) || is_sigma(p))) {
      if (auto st = add(p); !st) return st.error();
    } else {
      return make_error(ErrorCode::invalid_argument, s + ": not a *.rules, *.yml or *.yaml file or a directory");
    }
  }
  if (out.empty()) return make_error(ErrorCode::invalid_argument, "no rule files in the given paths");
  return out;
}

RulesetReport validate_ruleset(const RuleFiles& files) {
  RulesetReport r;
  std::ostringstream text;
  for (const auto& [name, content] : files) {
    // Rulesets travel to the agents as JSON, which is UTF-8: a file that is not would be
    // changed on the way (core/utf8.hpp), so it is refused here, where it can be mended.
    if (!is_valid_utf8(name)) {
      text << valid_utf8(name) << ": the file name is not valid UTF-8\n";
      ++r.errors;
      continue;
    }
    if (size_t at = find_invalid_utf8(content); at != std::string::npos) {
      const size_t line = 1 + static_cast<size_t>(std::count(content.begin(), content.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
      const size_t line_start = content.rfind('\n', at == 0 ? 0 : at - 1);
      const size_t column = at - (line_start == std::string::npos || at == 0 ? 0 : line_start + 1) + 1;
      char byte[8];
      std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(content[at]));
      text << name << ":" << line << ":" << column << ": byte " << byte
           << " is not valid UTF-8 (save the file as UTF-8; in a Suricata content, write other bytes as |hex|)\n";
      ++r.errors;
      continue;
    }
    if (is_net(name)) {
      detect::net::LoadReport rep;
      auto rs = detect::net::load_rules_from_string(content, name, detect::net::LoadOptions{}, rep);
      text << rep.to_text();
      if (!rs) {
        text << name << ": " << rs.error().message << "\n";
        ++r.errors;
      }
      r.loaded += rep.loaded();
      r.skipped += rep.skipped();
      r.errors += rep.error_count();
    } else {
      detect::sigma::LoadReport rep;
      auto rs = detect::sigma::load_sigma_from_string(content, name, rep);
      text << rep.to_text();
      if (!rs) {
        text << name << ": " << rs.error().message << "\n";
        ++r.errors;
      }
      r.loaded += rep.loaded;
      r.skipped += rep.skipped;
      r.errors += rep.file_errors.size();
    }
  }
  r.text = text.str();
  return r;
}

Result<std::string> store_ruleset(const std::string& data_dir, const RuleFiles& files) {
  std::string all;
  for (const auto& [n, c] : files) {
    all.append(n);
    all.push_back('\0');
    all.append(c);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_Digest(all.data(), all.size(), md, &md_len, EVP_sha256(), nullptr);
  char hex[13];
  for (int i = 0; i < 6; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string version = std::to_string(secs) + "-" + hex;
  fs::path dir = fs::path(data_dir) / "rulesets" / version;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorCode::io_error, dir.string() + ": " + ec.message());
  for (const auto& [n, c] : files)
    if (auto st = write_atomic(dir / n, c); !st) return st.error();
  if (auto st = write_atomic(fs::path(data_dir) / "rulesets" / "current", version + "\n"); !st) return st.error();
  return version;
}

Result<std::optional<wire::RulesetPush>> current_ruleset(const std::string& data_dir) {
  fs::path cur = fs::path(data_dir) / "rulesets" / "current";
  std::error_code ec;
  if (!fs::exists(cur, ec)) return std::optional<wire::RulesetPush>{};
  auto v = slurp(cur);
  if (!v) return v.error();
  std::string version = *v;
  while (!version.empty() && (version.back() == '\n' || version.back() == '\r')) version.pop_back();
  wire::RulesetPush push;
  push.version = version;
  fs::path dir = fs::path(data_dir) / "rulesets" / version;
  std::vector<fs::path> files;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->is_regular_file() && (is_net(it->path()) || is_sigma(it->path()))) files.push_back(it->path());
  if (ec) return make_error(ErrorCode::io_error, dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto t = slurp(f);
    if (!t) return t.error();
    push.files.emplace_back(f.filename().string(), std::move(*t));
  }
  return std::optional<wire::RulesetPush>{std::move(push)};
}

Result<std::vector<StoredRuleset>> list_rulesets(const std::string& data_dir) {
  std::vector<StoredRuleset> out;
  const fs::path root = fs::path(data_dir) / "rulesets";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  std::string current;
  if (fs::exists(root / "current", ec)) {
    auto v = slurp(root / "current");
    if (!v) return v.error();
    current = *v;
    while (!current.empty() && (current.back() == '\n' || current.back() == '\r')) current.pop_back();
  }
  for (auto it = fs::directory_iterator(root, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (!it->is_directory()) continue;
    StoredRuleset r;
    r.version = it->path().filename().string();
    r.current = r.version == current;
    std::error_code ec2;
    for (auto f = fs::directory_iterator(it->path(), ec2); !ec2 && f != fs::directory_iterator(); f.increment(ec2))
      if (f->is_regular_file() && (is_net(f->path()) || is_sigma(f->path()))) r.files.push_back(f->path().filename().string());
    std::sort(r.files.begin(), r.files.end());
    out.push_back(std::move(r));
  }
  if (ec) return make_error(ErrorCode::io_error, root.string() + ": " + ec.message());
  // Versions start with the storing time in seconds: newest first.
  std::sort(out.begin(), out.end(), [](const StoredRuleset& a, const StoredRuleset& b) { return a.version > b.version; });
  return out;
}

}  // namespace halong::collector
