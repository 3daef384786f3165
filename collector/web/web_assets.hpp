// The analysts' web page: static assets (collector/web/assets/) embedded into the binary at
// build time and served at "/", "/index.html" and "/ui/<name>". No data passes through here:
// the page calls the JSON API (/api/v1/...) from the browser with the session cookie.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "collector/api/http_types.hpp"

namespace halong::collector::web {

struct Asset {
  std::string_view path;          // "/ui/app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view body;
  std::string etag;               // strong validator of the body: "\"<16 hex digits>\""
};

// Every embedded asset, sorted by path (index.html is also served at "/" and "/index.html").
const std::vector<Asset>& assets();
// The asset at `path` ("/ui/app.js"), or null.
const Asset* find_asset(std::string_view path);

// True when the request target (query string ignored) belongs to the web page: "/",
// "/index.html" or anything under "/ui/". ApiHandler routes these to serve() before auth.
bool is_web_path(std::string_view target);

// Answers a request for a web path: the asset with its content type, Content-Security-Policy
// (default-src 'self'), X-Content-Type-Options: nosniff, X-Frame-Options: DENY,
// Referrer-Policy and an ETag (If-None-Match -> 304). GET and HEAD only (else 405). A target
// with dot segments, percent-escapes or backslashes is refused (400); an unknown name is 404.
// Errors are JSON {"error":{"code","message"}} like the API's. Never throws.
api::Response serve(const api::Request& req);

// The Content-Security-Policy sent with every asset.
std::string_view content_security_policy();

namespace detail {
struct EmbeddedFile {
  const char* path;
  const char* content_type;
  const unsigned char* data;
  std::size_t size;
};
extern const EmbeddedFile kFiles[];
extern const std::size_t kFileCount;
}  // namespace detail

}  // namespace halong::collector::web
