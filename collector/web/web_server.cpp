#include <algorithm>
#include <cstdint>
#include <cstdio>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/json.hpp>

#include "collector/web/web_assets.hpp"

namespace halong::collector::web {

namespace http = boost::beast::http;

namespace {

constexpr std::string_view kCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

std::string etag_of(std::string_view body) {  // FNV-1a 64: a validator, not a security property
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : body) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "\"%016llx\"", static_cast<unsigned long long>(h));
  return buf;
}

std::string_view path_of(std::string_view target) {
  auto q = target.find_first_of("?#");
  return q == std::string_view::npos ? target : target.substr(0, q);
}

void common_headers(api::Response& res) {
  res.set("Content-Security-Policy", kCsp);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  res.set("Cross-Origin-Opener-Policy", "same-origin");
}

api::Response error(const api::Request& req, http::status s, std::string_view code, std::string message) {
  api::Response res{s, req.version()};
  boost::json::object o{{"error", boost::json::object{{"code", code}, {"message", std::move(message)}}}};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  common_headers(res);
  res.keep_alive(req.keep_alive());
  res.body() = boost::json::serialize(o);
  res.prepare_payload();
  return res;
}

// A request path we never map to a file, whatever the table holds: dot segments, escapes
// (%2e%2e, %2f), backslashes, empty segments, control characters.
bool suspicious(std::string_view path) {
  if (path.find("..") != std::string_view::npos) return true;
  if (path.find("//") != std::string_view::npos) return true;
  if (path.find("/./") != std::string_view::npos || path.ends_with("/.")) return true;
  for (unsigned char c : path)
    if (c == '%' || c == '\\' || c < 0x20 || c >= 0x7f) return true;
  return false;
}

}  // namespace

std::string_view content_security_policy() { return kCsp; }

const std::vector<Asset>& assets() {
  static const std::vector<Asset> all = [] {
    std::vector<Asset> v;
    for (std::size_t i = 0; i < detail::kFileCount; ++i) {
      const auto& f = detail::kFiles[i];
      std::string_view body(reinterpret_cast<const char*>(f.data), f.size);
      v.push_back(Asset{f.path, f.content_type, body, etag_of(body)});
    }
    std::sort(v.begin(), v.end(), [](const Asset& a, const Asset& b) { return a.path < b.path; });
    return v;
  }();
  return all;
}

const Asset* find_asset(std::string_view path) {
  const auto& all = assets();
  auto it = std::lower_bound(all.begin(), all.end(), path, [](const Asset& a, std::string_view p) { return a.path < p; });
  return it != all.end() && it->path == path ? &*it : nullptr;
}

bool is_web_path(std::string_view target) {
  auto p = path_of(target);
  return p == "/" || p == "/index.html" || p.starts_with("/ui/") || p == "/ui";
}

api::Response serve(const api::Request& req) {
  try {
    auto path = path_of(req.target());
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      auto res = error(req, http::status::method_not_allowed, "invalid_argument",
                       "method " + std::string(req.method_string()) + " not allowed on " + std::string(path) +
                           " (the web page is read-only: GET)");
      res.set(http::field::allow, "GET, HEAD");
      return res;
    }
    if (suspicious(path))
      return error(req, http::status::bad_request, "invalid_argument",
                   "refused web path (dot segments, escapes or backslashes are not served)");
    if (path == "/" || path == "/index.html") path = "/ui/index.html";
    const Asset* a = find_asset(path);
    if (!a) return error(req, http::status::not_found, "not_found", "no web asset " + std::string(path));
    auto inm = req[http::field::if_none_match];
    bool fresh = !inm.empty() && (inm == a->etag || inm == "*");
    api::Response res{fresh ? http::status::not_modified : http::status::ok, req.version()};
    res.set(http::field::content_type, a->content_type);
    res.set(http::field::etag, a->etag);
    // Revalidate every time (cheap: 304), so a collector upgrade never leaves a stale page.
    res.set(http::field::cache_control, "no-cache");
    common_headers(res);
    res.keep_alive(req.keep_alive());
    if (fresh) {
      res.prepare_payload();
      return res;
    }
    if (req.method() == http::verb::head) {
      res.content_length(a->body.size());
      return res;
    }
    res.body().assign(a->body.data(), a->body.size());
    res.prepare_payload();
    return res;
  } catch (const std::exception& e) {  // allocation failure: never let it escape
    return error(req, http::status::internal_server_error, "internal", std::string("internal error: ") + e.what());
  }
}

}  // namespace halong::collector::web
