#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>

#include "../collector_api/api_fixture.hpp"
#include "collector/api/http_server.hpp"
#include "collector/web/web_assets.hpp"

using namespace halong;
using namespace halong::collector;
using namespace halong::collector::test;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

const std::string kAssetsDir = std::string(HALONG_SOURCE_DIR) + "/collector/web/assets/";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The source files of the page's JavaScript, as the browser gets them (index.html order).
std::vector<std::string> script_paths(const std::string& html) {
  std::vector<std::string> out;
  std::regex re("<script[^>]*\\ssrc=\"([^\"]+)\"");
  for (std::sregex_iterator it(html.begin(), html.end(), re), end; it != end; ++it) out.push_back((*it)[1]);
  return out;
}

// Every "/ui/..." a src= or href= of index.html names.
std::set<std::string> referenced_assets(const std::string& html) {
  std::set<std::string> out;
  std::regex re("(?:src|href)=\"(/ui/[^\"]+)\"");
  for (std::sregex_iterator it(html.begin(), html.end(), re), end; it != end; ++it) out.insert((*it)[1]);
  return out;
}

// "METHOD /path" pairs of docs/api/openapi.yaml (the same reading as the API's router test).
std::set<std::string> openapi_routes() {
  std::ifstream in(std::string(HALONG_SOURCE_DIR) + "/docs/api/openapi.yaml");
  std::set<std::string> doc;
  std::string line, path;
  bool in_paths = false;
  std::regex path_re("^  (/[^:]*):\\s*$"), method_re("^    (get|post|patch|put|delete):\\s*$");
  std::smatch m;
  while (std::getline(in, line)) {
    if (line.rfind("paths:", 0) == 0) { in_paths = true; continue; }
    if (in_paths && !line.empty() && line[0] != ' ' && line[0] != '#') in_paths = false;
    if (!in_paths) continue;
    if (std::regex_match(line, m, path_re)) path = m[1];
    else if (std::regex_match(line, m, method_re)) {
      std::string meth = m[1];
      for (auto& c : meth) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      doc.insert(meth + " " + path);
    }
  }
  return doc;
}

// The query parameters docs/api/openapi.yaml lists for GET /api/v1/alerts ($ref names).
std::set<std::string> openapi_alert_filters() {
  std::ifstream in(std::string(HALONG_SOURCE_DIR) + "/docs/api/openapi.yaml");
  std::set<std::string> out;
  std::string line;
  bool in_alerts = false;
  std::regex ref_re("^\\s*- \\$ref: \"#/components/parameters/([a-z_]+)\"\\s*$");
  std::smatch m;
  while (std::getline(in, line)) {
    if (line == "  /api/v1/alerts:") { in_alerts = true; continue; }
    if (in_alerts && line.rfind("  /", 0) == 0) break;
    if (in_alerts && std::regex_match(line, m, ref_re)) out.insert(m[1]);
  }
  return out;
}

api::Response get(ApiFixture& f, const std::string& target, http::verb v = http::verb::get) {
  return f.call(v, target, "");  // the page needs no credentials
}

void check_security_headers(const api::Response& r) {
  CHECK(r["Content-Security-Policy"] == web::content_security_policy());
  CHECK(std::string(r["Content-Security-Policy"]).find("default-src 'self'") != std::string::npos);
  CHECK(r["X-Content-Type-Options"] == "nosniff");
  CHECK(r["X-Frame-Options"] == "DENY");
}

api::Response fetch(uint16_t port, const std::string& target) {
  net::io_context ioc;
  boost::beast::tcp_stream s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  api::Request req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.prepare_payload();
  http::write(s, req);
  boost::beast::flat_buffer buf;
  api::Response res;
  boost::beast::error_code ec;
  http::read(s, buf, res, ec);
  s.socket().shutdown(tcp::socket::shutdown_both, ec);
  return res;
}

}  // namespace

TEST_CASE("GET / returns the web page as HTML with CSP and nosniff headers, without credentials", "[collector][web]") {
  ApiFixture f(0);
  auto r = get(f, "/");
  REQUIRE(r.result() == http::status::ok);
  CHECK(r[http::field::content_type] == "text/html; charset=utf-8");
  check_security_headers(r);
  CHECK(r.body() == read_text(kAssetsDir + "index.html"));
  CHECK(r.body().find("<title>Halong") != std::string::npos);
  auto idx = get(f, "/index.html?x=1");
  CHECK(idx.result() == http::status::ok);
  CHECK(idx.body() == r.body());
  // The page itself is static: the data routes still need credentials.
  CHECK(get(f, "/api/v1/alerts").result() == http::status::unauthorized);
}

TEST_CASE("every asset index.html references is served with its content type and the embedded bytes of its source",
          "[collector][web]") {
  ApiFixture f(0);
  const std::string html = read_text(kAssetsDir + "index.html");
  auto refs = referenced_assets(html);
  REQUIRE(refs.size() >= 5);  // favicon, css and three scripts
  const std::map<std::string, std::string> types = {{".js", "text/javascript; charset=utf-8"},
                                                    {".css", "text/css; charset=utf-8"},
                                                    {".svg", "image/svg+xml"},
                                                    {".html", "text/html; charset=utf-8"}};
  for (const auto& ref : refs) {
    INFO(ref);
    auto r = get(f, ref);
    REQUIRE(r.result() == http::status::ok);
    auto ext = ref.substr(ref.rfind('.'));
    REQUIRE(types.count(ext));
    CHECK(r[http::field::content_type] == types.at(ext));
    check_security_headers(r);
    CHECK(!r[http::field::etag].empty());
    CHECK(r.body() == read_text(kAssetsDir + ref.substr(4)));
  }
  // Every embedded file is referenced by the page or is the page (nothing stale embedded).
  for (const auto& a : web::assets()) {
    INFO(a.path);
    CHECK((refs.count(std::string(a.path)) || a.path == "/ui/index.html"));
  }
}

TEST_CASE("an unknown /ui/ path is a JSON 404 and methods other than GET are refused", "[collector][web]") {
  ApiFixture f(0);
  auto r = get(f, "/ui/nope.js");
  CHECK(r.result() == http::status::not_found);
  CHECK(r[http::field::content_type] == "application/json");
  CHECK(error_code(r) == "not_found");
  CHECK(get(f, "/ui/").result() == http::status::not_found);
  CHECK(get(f, "/ui").result() == http::status::not_found);
  auto post = get(f, "/", http::verb::post);
  CHECK(post.result() == http::status::method_not_allowed);
  CHECK(error_code(post) == "invalid_argument");
  CHECK(post[http::field::allow] == "GET, HEAD");
  auto del = get(f, "/ui/app.js", http::verb::delete_);
  CHECK(del.result() == http::status::method_not_allowed);
}

TEST_CASE("path traversal attempts under /ui/ are refused and never reach a file", "[collector][web]") {
  ApiFixture f(0);
  const std::string secret = read_text(std::string(HALONG_SOURCE_DIR) + "/CMakeLists.txt");
  REQUIRE(!secret.empty());
  for (const std::string t : {"/ui/../CMakeLists.txt", "/ui/../../CMakeLists.txt", "/ui/%2e%2e/%2e%2e/CMakeLists.txt",
                              "/ui/..%2f..%2fCMakeLists.txt", "/ui/%2E%2E/index.html", "/ui//etc/passwd",
                              "/ui/./app.js", "/ui/.\\app.js", "/ui/..\\..\\CMakeLists.txt", "/ui/app.js%00.html",
                              "/ui/../api/v1/alerts", "/ui/.."}) {
    INFO(t);
    auto r = get(f, t);
    CHECK(r.result() == http::status::bad_request);
    CHECK(r[http::field::content_type] == "application/json");
    CHECK(error_code(r) == "invalid_argument");
    CHECK(r.body().find("cmake_minimum_required") == std::string::npos);
  }
}

TEST_CASE("an asset whose ETag the browser already has is answered 304 without a body", "[collector][web]") {
  ApiFixture f(0);
  auto first = get(f, "/ui/app.js");
  REQUIRE(first.result() == http::status::ok);
  CHECK(first[http::field::cache_control] == "no-cache");
  api::Request req{http::verb::get, "/ui/app.js", 11};
  req.set(http::field::if_none_match, first[http::field::etag]);
  auto again = f.handler->handle(req);
  CHECK(again.result() == http::status::not_modified);
  CHECK(again.body().empty());
  req.set(http::field::if_none_match, "\"0000000000000000\"");
  CHECK(f.handler->handle(req).result() == http::status::ok);
  CHECK(get(f, "/ui/app.css", http::verb::head).body().empty());
}

TEST_CASE("every /api/v1 path the JavaScript calls is in the OpenAPI document with the method it uses", "[collector][web]") {
  const auto doc = openapi_routes();
  REQUIRE(doc.count("GET /api/v1/alerts"));
  std::set<std::string> doc_paths;
  for (const auto& r : doc) doc_paths.insert(r.substr(r.find(' ') + 1));
  const std::string html = read_text(kAssetsDir + "index.html");
  auto scripts = script_paths(html);
  REQUIRE(scripts.size() >= 3);
  std::string all_js;
  for (const auto& s : scripts) all_js += read_text(kAssetsDir + s.substr(4)) + "\n";

  // 1. Every '/api/v1/...' string literal is a documented path.
  std::regex lit_re("['\"`](/api/v1/[^'\"`?#\\s]*)['\"`]");
  std::map<std::string, std::string> table;  // API.<key> -> path
  std::regex table_re("\\b([A-Za-z]+): '(/api/v1/[^']*)'");
  size_t literals = 0;
  for (std::sregex_iterator it(all_js.begin(), all_js.end(), lit_re), end; it != end; ++it) {
    INFO((*it)[1]);
    CHECK(doc_paths.count((*it)[1]));
    ++literals;
  }
  for (std::sregex_iterator it(all_js.begin(), all_js.end(), table_re), end; it != end; ++it) table[(*it)[1]] = (*it)[2];
  CHECK(literals >= 10);
  REQUIRE(table.size() == literals);  // every path is in the one API table

  // 2. Every api('METHOD', API.key ...) call uses a documented method on that path.
  std::regex call_re("api\\('([A-Z]+)', API\\.([A-Za-z]+)");
  std::set<std::string> used;
  for (std::sregex_iterator it(all_js.begin(), all_js.end(), call_re), end; it != end; ++it) {
    std::string key = (*it)[2];
    INFO("API." << key);
    REQUIRE(table.count(key));
    std::string route = std::string((*it)[1]) + " " + table.at(key);
    INFO(route);
    CHECK(doc.count(route));
    used.insert(route);
  }
  // The page exercises the routes it is meant to (a renamed key would silently drop one).
  for (const char* r : {"POST /api/v1/login", "POST /api/v1/logout", "GET /api/v1/whoami", "GET /api/v1/alerts",
                        "GET /api/v1/alerts/stats", "POST /api/v1/alerts/bulk", "GET /api/v1/alerts/{id}",
                        "PATCH /api/v1/alerts/{id}", "GET /api/v1/incidents", "GET /api/v1/incidents/{id}",
                        "PATCH /api/v1/incidents/{id}", "GET /api/v1/agents"}) {
    INFO(r);
    CHECK(used.count(r));
  }
  // The live stream is opened as a WebSocket on the documented stream path.
  CHECK(table.count("stream"));
  CHECK(table["stream"] == "/api/v1/stream");
  CHECK(all_js.find("new WebSocket(streamUrl(") != std::string::npos);
}

TEST_CASE("the alert filter form offers every filter GET /api/v1/alerts documents", "[collector][web]") {
  auto filters = openapi_alert_filters();
  filters.erase("limit");
  filters.erase("cursor");
  REQUIRE(filters.size() >= 15);
  const std::string html = read_text(kAssetsDir + "index.html");
  auto b = html.find("<form id=\"alert-filters\"");
  auto e = html.find("</form>", b);
  REQUIRE(b != std::string::npos);
  const std::string form = html.substr(b, e - b);
  for (const auto& name : filters) {
    INFO(name);
    CHECK(std::regex_search(form, std::regex("<(input|select)[^>]* name=\"" + name + "\"")));
  }
}

TEST_CASE("the page never builds HTML from data and has nothing inline the CSP would block", "[collector][web]") {
  const std::string html = read_text(kAssetsDir + "index.html");
  // Inline scripts, inline styles and on* handler attributes are refused by default-src 'self'.
  CHECK(!std::regex_search(html, std::regex("<script(?![^>]*\\ssrc=)[^>]*>")));
  CHECK(!std::regex_search(html, std::regex("<style")));
  CHECK(!std::regex_search(html, std::regex("\\sstyle=")));
  CHECK(!std::regex_search(html, std::regex("\\son[a-z]+=", std::regex::icase)));
  CHECK(!std::regex_search(html, std::regex("(src|href)=\"(https?:)?//")));  // nothing external
  for (const auto& s : script_paths(html)) {
    INFO(s);
    const std::string js = read_text(kAssetsDir + s.substr(4));
    for (const char* bad : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                            "DOMParser", "createContextualFragment", "http://", "https://"}) {
      INFO(bad);
      CHECK(js.find(bad) == std::string::npos);
    }
    CHECK(js.find("'use strict';") != std::string::npos);
  }
  // The CSRF header the page sends is the one the API checks (users.cpp / docs/api.md).
  CHECK(read_text(kAssetsDir + "api.js").find("headers['X-CSRF-Token'] = session.csrf") != std::string::npos);
  CHECK(read_text(kAssetsDir + "app.js").find("session.save(r.csrf_token)") != std::string::npos);
}

TEST_CASE("the collector's HTTP server serves the page and its assets over loopback", "[collector][web][http]") {
  ApiFixture f(0);
  api::ServerOptions so;
  so.address = "127.0.0.1";
  so.port = 0;
  api::HttpServer server(*f.handler, so);
  REQUIRE(server.start().ok());
  auto page = fetch(server.port(), "/");
  REQUIRE(page.result() == http::status::ok);
  CHECK(page[http::field::content_type] == "text/html; charset=utf-8");
  check_security_headers(page);
  for (const auto& s : script_paths(page.body())) {
    INFO(s);
    auto js = fetch(server.port(), s);
    CHECK(js.result() == http::status::ok);
    CHECK(js[http::field::content_type] == "text/javascript; charset=utf-8");
    CHECK(js.body().size() == read_text(kAssetsDir + s.substr(4)).size());
  }
  auto trav = fetch(server.port(), "/ui/../../CMakeLists.txt");
  CHECK(trav.result() == http::status::bad_request);
  CHECK(fetch(server.port(), "/ui/missing.css").result() == http::status::not_found);
  server.stop();
}

TEST_CASE("in Chromium the page's scripts run under its own CSP and show the login form", "[collector][web][browser]") {
  std::string browser;
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (std::filesystem::exists(p)) browser = p;
  if (browser.empty()) {
    WARN("SKIPPED: no Chromium (/usr/bin/chromium); the page was not checked in a browser");
    return;
  }
  ApiFixture f(0);
  api::ServerOptions so;
  so.address = "127.0.0.1";
  so.port = 0;
  api::HttpServer server(*f.handler, so);
  REQUIRE(server.start().ok());
  TempDir profile;
  const std::string err = (profile.path / "stderr.txt").string();
  const std::string cmd = "timeout 60 " + browser +
                          " --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run"
                          " --user-data-dir=" + (profile.path / "profile").string() +
                          " --enable-logging=stderr --v=0 --virtual-time-budget=3000 --dump-dom http://127.0.0.1:" +
                          std::to_string(server.port()) + "/ 2>" + err;
  std::string dom;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) dom.append(buf, n);
    ::pclose(p);
  }
  server.stop();
  const std::string log = read_text(err);
  INFO("chromium stderr: " << log.substr(0, 4000));
  REQUIRE(dom.find("<title>Halong") != std::string::npos);
  // index.html ships the login form hidden: only app.js (if the CSP let it run) shows it.
  CHECK(dom.find("<div id=\"login-view\" class=\"login\">") != std::string::npos);
  CHECK(dom.find("data-csp-violation") == std::string::npos);    // app.js marks any CSP violation
  CHECK(log.find("Refused to") == std::string::npos);
  CHECK(log.find("Content Security Policy") == std::string::npos);
  CHECK(log.find("Uncaught") == std::string::npos);              // a script error
}
