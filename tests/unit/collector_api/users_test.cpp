#include <catch2/catch.hpp>

#include "api_fixture.hpp"
#include "collector/api/users.hpp"

#include <rocksdb/db.h>

using namespace halong;
using namespace halong::collector;
using namespace halong::collector::test;
namespace json = boost::json;

namespace {

// ApiFixture plus a user directory (cheap Argon2 parameters), login-capable handler.
struct PeopleFixture : ApiFixture {
  std::unique_ptr<api::UserDirectory> users;
  std::unique_ptr<api::DirectoryAuthenticator> dauth;
  std::unique_ptr<api::ApiHandler> web;

  PeopleFixture() : ApiFixture(60) {
    api::UserOptions uo;
    uo.argon2_m_cost_kib = 256;
    uo.argon2_t_cost = 1;
    users = std::make_unique<api::UserDirectory>(*store, [this] { return now; }, uo);
    dauth = std::make_unique<api::DirectoryAuthenticator>(*users, auth);
    api::ApiOptions ao;
    ao.now_us = [this] { return now; };
    ao.users = users.get();
    web = std::make_unique<api::ApiHandler>(*store, *dauth, audit.get(), ao);
    REQUIRE(users->add_user("lan", "correct horse battery", api::Role::analyst, std::vector<std::string>{"so-tttt"}).ok());
    REQUIRE(users->add_user("kiem", "auditor password 1", api::Role::auditor, std::nullopt).ok());
  }
  api::Response req(http::verb v, const std::string& target, const std::string& body = "",
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    api::Request r{v, target, 11};
    for (auto& [k, val] : headers) r.set(k, val);
    r.body() = body;
    r.prepare_payload();
    return web->handle(r);
  }
  // Logs in; returns {cookie header value, csrf token}.
  std::pair<std::string, std::string> login(const std::string& user, const std::string& pw) {
    auto r = req(http::verb::post, "/api/v1/login", json::serialize(json::object{{"user", user}, {"password", pw}}));
    REQUIRE(r.result() == http::status::ok);
    std::string set = std::string(r[http::field::set_cookie]);
    CHECK(set.find("HttpOnly") != std::string::npos);
    CHECK(set.find("SameSite=Strict") != std::string::npos);
    return {set.substr(0, set.find(';')), std::string(ApiFixture::body(r).at("csrf_token").as_string())};
  }
};

}  // namespace

TEST_CASE("users log in with their password and a session cookie scoped to their agencies", "[collector][api][users]") {
  PeopleFixture f;
  auto [cookie, csrf] = f.login("lan", "correct horse battery");
  auto who = f.req(http::verb::get, "/api/v1/whoami", "", {{"Cookie", cookie}});
  REQUIRE(who.result() == http::status::ok);
  auto w = ApiFixture::body(who);
  CHECK(w.at("user") == "lan");
  CHECK(w.at("role") == "analyst");
  auto list = f.req(http::verb::get, "/api/v1/alerts?limit=1000", "", {{"Cookie", cookie}});
  REQUIRE(list.result() == http::status::ok);
  auto lv = ApiFixture::body(list);
  for (auto& a : lv.at("alerts").as_array()) CHECK(a.at("agent").at("agency") == "so-tttt");
  auto bad = f.req(http::verb::post, "/api/v1/login", R"({"user":"lan","password":"wrong password!"})");
  CHECK(bad.result() == http::status::unauthorized);
  auto nouser = f.req(http::verb::post, "/api/v1/login", R"({"user":"ghost","password":"wrong password!"})");
  CHECK(nouser.result() == http::status::unauthorized);
  CHECK(ApiFixture::body(bad).at("error").at("message") == ApiFixture::body(nouser).at("error").at("message"));
  // Logout ends the session.
  CHECK(f.req(http::verb::post, "/api/v1/logout", "", {{"Cookie", cookie}, {"X-CSRF-Token", csrf}}).result() == http::status::ok);
  CHECK(f.req(http::verb::get, "/api/v1/whoami", "", {{"Cookie", cookie}}).result() == http::status::unauthorized);
}

TEST_CASE("state-changing calls with a session cookie but without the CSRF token are refused", "[collector][api][users]") {
  PeopleFixture f;
  auto [cookie, csrf] = f.login("lan", "correct horse battery");
  const Alert* own = nullptr;
  for (auto& a : f.alerts)
    if (a.agent.agency == "so-tttt") own = &a;
  REQUIRE(own);
  const std::string target = "/api/v1/alerts/" + own->id;
  auto no = f.req(http::verb::patch, target, R"({"status":"acknowledged"})", {{"Cookie", cookie}});
  CHECK(no.result() == http::status::forbidden);
  auto wrong = f.req(http::verb::patch, target, R"({"status":"acknowledged"})", {{"Cookie", cookie}, {"X-CSRF-Token", std::string(64, '0')}});
  CHECK(wrong.result() == http::status::forbidden);
  CHECK(f.store->get_triage(own->id).value().status == TriageStatus::fresh);
  auto ok = f.req(http::verb::patch, target, R"({"status":"acknowledged"})", {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
  CHECK(ok.result() == http::status::ok);
  CHECK(f.store->get_triage(own->id).value().status == TriageStatus::acknowledged);
  auto rec = f.audit->list({});
  REQUIRE(!rec.value().empty());
  CHECK(rec.value().front().actor == "lan");
}

TEST_CASE("logins are rate-limited per user name and the limit lifts after the window", "[collector][api][users]") {
  PeopleFixture f;
  for (int i = 0; i < 5; ++i)
    CHECK(f.req(http::verb::post, "/api/v1/login", R"({"user":"lan","password":"guess guess guess"})").result() ==
          http::status::unauthorized);
  auto limited = f.req(http::verb::post, "/api/v1/login", R"({"user":"lan","password":"correct horse battery"})");
  CHECK(limited.result() == http::status::too_many_requests);
  CHECK(error_code(limited) == "resource_exhausted");
  f.now += 301'000'000;  // the injected clock passes the 5-minute window
  f.login("lan", "correct horse battery");
}

TEST_CASE("sessions expire after the idle time by the injected clock", "[collector][api][users]") {
  PeopleFixture f;
  auto [cookie, csrf] = f.login("kiem", "auditor password 1");
  CHECK(f.req(http::verb::get, "/api/v1/whoami", "", {{"Cookie", cookie}}).result() == http::status::ok);
  f.now += 9LL * 3600 * 1'000'000;
  CHECK(f.req(http::verb::get, "/api/v1/whoami", "", {{"Cookie", cookie}}).result() == http::status::unauthorized);
}

TEST_CASE("admins add users; passwords are stored as Argon2id hashes; others cannot", "[collector][api][users]") {
  PeopleFixture f;
  auto add = f.req(http::verb::post, "/api/v1/users",
                   R"({"name":"minh","password":"a long enough pass","role":"analyst","agencies":["so-yte"]})",
                   {{"Authorization", "Bearer " + kAdmin}});
  REQUIRE(add.result() == http::status::created);
  auto u = f.users->get_user("minh");
  REQUIRE(u.ok());
  CHECK(u->password_hash.rfind("$argon2id$", 0) == 0);
  CHECK(u->password_hash.find("a long enough pass") == std::string::npos);
  CHECK(f.req(http::verb::post, "/api/v1/users", R"({"name":"minh","password":"a long enough pass","role":"analyst"})",
              {{"Authorization", "Bearer " + kAdmin}})
            .result() == http::status::conflict);
  CHECK(f.req(http::verb::post, "/api/v1/users", R"({"name":"x","password":"short","role":"analyst"})",
              {{"Authorization", "Bearer " + kAdmin}})
            .result() == http::status::bad_request);
  auto [cookie, csrf] = f.login("lan", "correct horse battery");
  CHECK(f.req(http::verb::post, "/api/v1/users", R"({"name":"evil","password":"a long enough pass","role":"admin"})",
              {{"Cookie", cookie}, {"X-CSRF-Token", csrf}})
            .result() == http::status::forbidden);
  auto log = f.audit->list({});
  REQUIRE(log.ok());
  bool found = false;
  for (auto& r : *log) found |= r.action == "user.add" && r.target == "minh" && r.actor == "root";
  CHECK(found);
  CHECK(f.audit->verify().value().ok);
}

TEST_CASE("API tokens work for scripts until revoked and carry their user's role", "[collector][api][users]") {
  PeopleFixture f;
  auto [cookie, csrf] = f.login("kiem", "auditor password 1");
  auto mk = f.req(http::verb::post, "/api/v1/tokens", R"({"label":"monthly report"})", {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
  REQUIRE(mk.result() == http::status::created);
  auto mv = ApiFixture::body(mk);
  std::string token(mv.at("token").as_string()), id(mv.at("id").as_string());
  auto bearer = std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer " + token}};
  CHECK(f.req(http::verb::get, "/api/v1/alerts", "", bearer).result() == http::status::ok);
  // still an auditor: read-only
  CHECK(f.req(http::verb::patch, "/api/v1/alerts/" + f.alerts[0].id, R"({"status":"resolved"})", bearer).result() ==
        http::status::forbidden);
  CHECK(f.req(http::verb::delete_, "/api/v1/tokens/" + id, "", {{"Cookie", cookie}, {"X-CSRF-Token", csrf}}).result() ==
        http::status::ok);
  CHECK(f.req(http::verb::get, "/api/v1/alerts", "", bearer).result() == http::status::unauthorized);
  CHECK(f.req(http::verb::get, "/api/v1/alerts", "", {{"Authorization", "Bearer hlt_" + std::string(64, 'f')}}).result() ==
        http::status::unauthorized);
}

TEST_CASE("a session survives a restart of the collector; logout, idle time and user deletion end it there too",
          "[collector][api][users]") {
  PeopleFixture f;
  auto [cookie, csrf] = f.login("lan", "correct horse battery");
  const std::string sid = cookie.substr(cookie.find('=') + 1);
  // A new directory and handler on the same store: what a restarted collector has.
  auto restarted = [&] {
    api::UserOptions uo;
    uo.argon2_m_cost_kib = 256;
    uo.argon2_t_cost = 1;
    f.users = std::make_unique<api::UserDirectory>(*f.store, [&f] { return f.now; }, uo);
    f.dauth = std::make_unique<api::DirectoryAuthenticator>(*f.users, f.auth);
    api::ApiOptions ao;
    ao.now_us = [&f] { return f.now; };
    ao.users = f.users.get();
    f.web = std::make_unique<api::ApiHandler>(*f.store, *f.dauth, f.audit.get(), ao);
  };
  restarted();
  auto who = f.req(http::verb::get, "/api/v1/whoami", "", {{"Cookie", cookie}});
  REQUIRE(who.result() == http::status::ok);
  CHECK(ApiFixture::body(who).at("user") == "lan");
  // The CSRF token came back with it: a change without it is still refused.
  CHECK(f.req(http::verb::post, "/api/v1/logout", "", {{"Cookie", cookie}}).result() == http::status::forbidden);
  // Logout deletes the stored session: it does not come back after another restart.
  CHECK(f.req(http::verb::post, "/api/v1/logout", "", {{"Cookie", cookie}, {"X-CSRF-Token", csrf}}).result() ==
        http::status::ok);
  restarted();
  CHECK(f.req(http::verb::get, "/api/v1/whoami", "", {{"Cookie", cookie}}).result() == http::status::unauthorized);

  // Idle past the limit across a restart: expired.
  auto [c2, csrf2] = f.login("lan", "correct horse battery");
  f.now += 9LL * 3600 * 1000000;
  restarted();
  CHECK(f.req(http::verb::get, "/api/v1/whoami", "", {{"Cookie", c2}}).result() == http::status::unauthorized);

  // Deleting the user ends its stored sessions.
  auto [c3, csrf3] = f.login("lan", "correct horse battery");
  restarted();
  REQUIRE(f.users->delete_user("lan").ok());
  CHECK(f.req(http::verb::get, "/api/v1/whoami", "", {{"Cookie", c3}}).result() == http::status::unauthorized);
  // ...in the store too: kiem's session is the only one left.
  auto [c4, csrf4] = f.login("kiem", "auditor password 1");
  size_t stored = 0;
  std::unique_ptr<rocksdb::Iterator> it(f.store->db()->NewIterator(rocksdb::ReadOptions(), f.store->family("sessions")));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ++stored;
    CHECK(it->value().ToString().find("\"kiem\"") != std::string::npos);
    CHECK(it->key().ToString().find(sid) == std::string::npos);  // keyed by a hash, never the cookie value
  }
  CHECK(stored == 1);
}
