#include "collector/app/config.hpp"

#include <charconv>
#include <filesystem>

#include "core/yaml_config.hpp"

namespace halong::collector {

namespace fs = std::filesystem;

Result<std::pair<std::string, uint16_t>> split_host_port(const std::string& s) {
  auto bad = [&] { return make_error(ErrorCode::invalid_argument, "'" + s + "' is not HOST:PORT"); };
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad();
  std::string host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  const char* b = s.data() + colon + 1;
  const char* e = s.data() + s.size();
  auto r = std::from_chars(b, e, port);
  if (r.ec != std::errc() || r.ptr != e || port > 65535) return bad();
  return std::make_pair(host, static_cast<uint16_t>(port));
}

namespace {

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

Result<CollectorConfig> finish(YAML::Node root, const std::string& name, const std::vector<std::string>& overrides,
                               const std::string& base_dir) {
  if (!root || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0)
      return make_error(ErrorCode::invalid_argument, "--set '" + o + "': expected KEY=VALUE (for example api.listen=127.0.0.1:9000)");
    std::string key = o.substr(0, eq), val = o.substr(eq + 1);
    auto dot = key.find('.');
    if (dot == std::string::npos) {
      root[key] = val;
    } else {
      YAML::Node sec = root[key.substr(0, dot)];
      if (!sec || sec.IsNull()) root[key.substr(0, dot)] = YAML::Node(YAML::NodeType::Map);
      YAML::Node sec2 = root[key.substr(0, dot)];
      sec2[key.substr(dot + 1)] = val;
    }
  }
  config::Errors errs(name);
  CollectorConfig c;
  c.source_file = name;
  if (!root.IsMap()) return make_error(ErrorCode::invalid_argument, name + ": the top level must be a map");
  config::check_known_keys(root, "", {"data_dir", "log_level", "api", "gateway", "enrollment", "retention", "store"}, errs);
  config::get_string(root, "data_dir", "", c.data_dir, errs);
  config::get_string(root, "log_level", "", c.log_level, errs);
  if (auto a = root["api"]) {
    config::check_known_keys(a, "api", {"listen", "tls"}, errs);
    config::get_string(a, "listen", "api", c.api_listen, errs);
    config::get_bool(a, "tls", "api", c.api_tls, errs);
  }
  if (auto g = root["gateway"]) {
    config::check_known_keys(g, "gateway", {"listen", "min_free_mb"}, errs);
    config::get_string(g, "listen", "gateway", c.gateway_listen, errs);
    config::get_uint(g, "min_free_mb", "gateway", c.min_free_mb, errs, 16, 1u << 20);
  }
  if (auto e = root["enrollment"]) {
    config::check_known_keys(e, "enrollment", {"token"}, errs);
    config::get_string(e, "token", "enrollment", c.enroll_token, errs);
  }
  if (auto st = root["store"]) {
    config::check_known_keys(st, "store", {"memtable_mb"}, errs);
    config::get_uint(st, "memtable_mb", "store", c.store_memtable_mb, errs, 16, 1u << 16);
  }
  if (auto r = root["retention"]) {
    config::check_known_keys(r, "retention", {"days"}, errs);
    config::get_uint(r, "days", "retention", c.retention_days, errs, 0, 36500);
  }
  auto api = split_host_port(c.api_listen);
  if (!api) errs.add(root["api"] ? root["api"]["listen"] : root, "api.listen", api.error().message);
  else if (!c.api_tls && !is_loopback(api->first))
    errs.add(root["api"] ? root["api"]["listen"] : root, "api.listen",
             "plain HTTP is only allowed on a loopback address; set api.tls: true to listen on " + api->first);
  auto gw = split_host_port(c.gateway_listen);
  if (!gw) errs.add(root["gateway"] ? root["gateway"]["listen"] : root, "gateway.listen", gw.error().message);
  if (!fs::path(c.data_dir).is_absolute()) c.data_dir = (fs::path(base_dir) / c.data_dir).lexically_normal().string();
  if (!errs.empty()) return make_error(ErrorCode::invalid_argument, errs.joined());
  return c;
}

}  // namespace

Result<CollectorConfig> load_collector_config(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty()) return finish(YAML::Node(YAML::NodeType::Map), "(defaults)", overrides, ".");
  auto doc = config::load_file(path);
  if (!doc) return doc.error();
  auto base = fs::path(path).parent_path().string();
  return finish(*doc, path, overrides, base.empty() ? "." : base);
}

Result<CollectorConfig> load_collector_config_string(const std::string& yaml, const std::string& name,
                                                     const std::vector<std::string>& overrides,
                                                     const std::string& base_dir) {
  auto doc = config::load_string(yaml, name);
  if (!doc) return doc.error();
  return finish(*doc, name, overrides, base_dir);
}

}  // namespace halong::collector
