#include "core/wire.hpp"
#include "core/utf8.hpp"

#include <cctype>

#include <boost/json.hpp>

namespace halong::wire {

namespace json = boost::json;

namespace {
struct Encoder {
  json::object operator()(const Hello& h) const {
    return {{"type", "hello"},
            {"protocol", h.protocol},
            {"token", h.token},
            {"version", h.version},
            {"ruleset_version", h.ruleset_version},
            {"agent", json::object{{"id", h.agent.id}, {"hostname", h.agent.hostname}, {"agency", h.agent.agency}}}};
  }
  json::object operator()(const Welcome& w) const {
    return {{"type", "welcome"}, {"agent_id", w.agent_id}, {"highest_seq", w.highest_seq},
            {"agency", w.agency}, {"ruleset_version", w.ruleset_version}};
  }
  json::object operator()(const EnrollRequest& e) const {
    return {{"type", "enroll"}, {"token", e.token}, {"hostname", e.hostname}, {"csr", e.csr_pem}};
  }
  json::object operator()(const Enrolled& e) const {
    return {{"type", "enrolled"}, {"agent_id", e.agent_id}, {"agency", e.agency}, {"cert", e.cert_pem}, {"ca", e.ca_pem}};
  }
  json::object operator()(const RulesetPush& r) const {
    json::array files;
    for (const auto& [name, text] : r.files) files.emplace_back(json::object{{"name", name}, {"text", text}});
    return {{"type", "ruleset"}, {"version", r.version}, {"files", std::move(files)}};
  }
  json::object operator()(const RulesetStatus& r) const {
    return {{"type", "ruleset_status"}, {"version", r.version}, {"ok", r.ok}, {"message", r.message}};
  }
  json::object operator()(const AlertBatch& b) const {
    json::array arr;
    arr.reserve(b.alerts.size());
    for (const auto& a : b.alerts) arr.emplace_back(to_json(a));
    return {{"type", "alerts"}, {"batch", b.batch}, {"alerts", std::move(arr)}};
  }
  json::object operator()(const Ack& a) const {
    return {{"type", "ack"}, {"batch", a.batch}, {"highest_seq", a.highest_seq}};
  }
  json::object operator()(const Heartbeat& h) const {
    boost::system::error_code ec;
    auto v = json::parse(h.stats_json, ec);
    return {{"type", "heartbeat"}, {"stats", ec ? json::value(json::object{}) : v}};
  }
  json::object operator()(const ErrorMsg& e) const {
    return {{"type", "error"}, {"code", e.code}, {"message", e.message}, {"retry_after_ms", e.retry_after_ms}};
  }
};

Error bad(const std::string& what) { return make_error(ErrorCode::parse_error, "wire: " + what); }

Result<std::string> get_str(const json::object& o, std::string_view k, const std::string& ctx) {
  auto it = o.find(k);
  if (it == o.end() || !it->value().is_string()) return bad(ctx + "." + std::string(k) + " must be a string");
  return std::string(it->value().get_string());
}
Result<uint64_t> get_u64(const json::object& o, std::string_view k, const std::string& ctx) {
  auto it = o.find(k);
  if (it != o.end()) {
    if (it->value().is_uint64()) return it->value().get_uint64();
    if (it->value().is_int64() && it->value().get_int64() >= 0) return static_cast<uint64_t>(it->value().get_int64());
  }
  return bad(ctx + "." + std::string(k) + " must be a non-negative integer");
}
}  // namespace

// Boost.JSON writes a string's bytes as they are; the peer refuses a frame that is not
// UTF-8, so a stray byte (a hostname, an error message quoting a file) is replaced here
// (core/utf8.hpp). Outside strings the text is ASCII, so this touches strings only.
std::string encode(const Message& m) {
  std::string text = json::serialize(std::visit(Encoder{}, m));
  if (is_valid_utf8(text)) return text;
  return valid_utf8(text);
}

std::string encode_alert_batch_raw(uint64_t batch, const std::vector<std::string_view>& alert_json) {
  size_t n = 64;
  for (auto a : alert_json) n += a.size() + 1;
  std::string out;
  out.reserve(n);
  begin_alert_batch(out, batch);
  for (size_t i = 0; i < alert_json.size(); ++i) append_alert_raw(out, alert_json[i], i == 0);
  end_alert_batch(out);
  return out;
}

void begin_alert_batch(std::string& out, uint64_t batch) {
  out.clear();
  out += R"({"type":"alerts","batch":)";
  out += std::to_string(batch);
  out += R"(,"alerts":[)";
}

void append_alert_raw(std::string& out, std::string_view alert_json, bool first) {
  if (!first) out += ',';
  // append_json writes UTF-8 only; a record spooled by an older agent may hold raw bytes.
  append_valid_utf8(out, alert_json);
}

void end_alert_batch(std::string& out) { out += "]}"; }

bool is_ruleset_file_name(std::string_view n) {
  if (n.empty() || n[0] == '.' || n.find_first_of("/\\") != std::string_view::npos) return false;
  for (std::string_view ext : {".rules", ".yml", ".yaml"})
    if (n.size() > ext.size() && n.ends_with(ext)) return true;
  return false;
}

Result<Message> decode(std::string_view frame, json::storage_ptr sp) {
  if (frame.size() > kMaxFrameBytes) return bad("frame of " + std::to_string(frame.size()) + " bytes is over the limit");
  boost::system::error_code ec;
  auto v = json::parse(frame, ec, std::move(sp));
  if (ec) return bad("not JSON: " + ec.message());
  if (!v.is_object()) return bad("message is not a JSON object");
  const auto& o = v.get_object();
  auto type = get_str(o, "type", "message");
  if (!type) return type.error();
  const std::string& t = *type;
  if (t == "hello") {
    Hello h;
    auto tok = get_str(o, "token", "hello");
    if (!tok) return tok.error();
    h.token = *tok;
    if (auto ver = get_str(o, "version", "hello")) h.version = *ver;
    if (auto rv = get_str(o, "ruleset_version", "hello")) h.ruleset_version = *rv;
    auto p = get_u64(o, "protocol", "hello");
    if (!p) return p.error();
    if (*p > 1000) return bad("hello.protocol " + std::to_string(*p) + " is not a protocol version");
    h.protocol = static_cast<int>(*p);
    auto it = o.find("agent");
    if (it == o.end() || !it->value().is_object()) return bad("hello.agent must be an object");
    const auto& ag = it->value().get_object();
    auto id = get_str(ag, "id", "hello.agent");
    if (!id) return id.error();
    h.agent.id = *id;
    if (auto hn = get_str(ag, "hostname", "hello.agent")) h.agent.hostname = *hn;
    if (auto ay = get_str(ag, "agency", "hello.agent")) h.agent.agency = *ay;
    return Message{h};
  }
  if (t == "welcome") {
    Welcome w;
    auto id = get_str(o, "agent_id", "welcome");
    if (!id) return id.error();
    w.agent_id = *id;
    auto hs = get_u64(o, "highest_seq", "welcome");
    if (!hs) return hs.error();
    w.highest_seq = *hs;
    if (auto ag = get_str(o, "agency", "welcome")) w.agency = *ag;
    if (auto rv = get_str(o, "ruleset_version", "welcome")) w.ruleset_version = *rv;
    return Message{w};
  }
  if (t == "alerts") {
    AlertBatch b;
    auto n = get_u64(o, "batch", "alerts");
    if (!n) return n.error();
    b.batch = *n;
    auto it = o.find("alerts");
    if (it == o.end() || !it->value().is_array()) return bad("alerts.alerts must be an array");
    const auto& arr = it->value().get_array();
    if (arr.size() > kMaxBatchAlerts)
      return bad("batch of " + std::to_string(arr.size()) + " alerts is over the limit of " +
                 std::to_string(kMaxBatchAlerts));
    b.alerts.reserve(arr.size());
    for (size_t i = 0; i < arr.size(); ++i) {
      auto a = alert_from_json(arr[i]);
      if (!a) return bad("alerts.alerts[" + std::to_string(i) + "]: " + a.error().message);
      b.alerts.push_back(std::move(*a));
    }
    return Message{std::move(b)};
  }
  if (t == "ack") {
    Ack a;
    auto n = get_u64(o, "batch", "ack");
    if (!n) return n.error();
    a.batch = *n;
    auto hs = get_u64(o, "highest_seq", "ack");
    if (!hs) return hs.error();
    a.highest_seq = *hs;
    return Message{a};
  }
  if (t == "heartbeat") {
    Heartbeat h;
    auto it = o.find("stats");
    if (it == o.end() || !it->value().is_object()) return bad("heartbeat.stats must be an object");
    h.stats_json = json::serialize(it->value());
    return Message{h};
  }
  if (t == "error") {
    ErrorMsg e;
    auto c = get_str(o, "code", "error");
    if (!c) return c.error();
    e.code = *c;
    if (auto m = get_str(o, "message", "error")) e.message = *m;
    if (auto r = get_u64(o, "retry_after_ms", "error")) e.retry_after_ms = *r;
    return Message{e};
  }
  if (t == "enroll") {
    EnrollRequest e;
    auto tok = get_str(o, "token", "enroll");
    if (!tok) return tok.error();
    e.token = *tok;
    auto csr = get_str(o, "csr", "enroll");
    if (!csr) return csr.error();
    e.csr_pem = *csr;
    if (auto hn = get_str(o, "hostname", "enroll")) e.hostname = *hn;
    return Message{std::move(e)};
  }
  if (t == "enrolled") {
    Enrolled e;
    for (auto [key, dst] : {std::pair{"agent_id", &e.agent_id}, std::pair{"cert", &e.cert_pem}, std::pair{"ca", &e.ca_pem}}) {
      auto v = get_str(o, key, "enrolled");
      if (!v) return v.error();
      *dst = *v;
    }
    if (auto ag = get_str(o, "agency", "enrolled")) e.agency = *ag;
    return Message{std::move(e)};
  }
  if (t == "ruleset") {
    RulesetPush r;
    auto v = get_str(o, "version", "ruleset");
    if (!v) return v.error();
    r.version = *v;
    auto it = o.find("files");
    if (it == o.end() || !it->value().is_array()) return bad("ruleset.files must be an array");
    const auto& arr = it->value().get_array();
    for (size_t i = 0; i < arr.size(); ++i) {
      if (!arr[i].is_object()) return bad("ruleset.files[" + std::to_string(i) + "] must be an object");
      std::string ctx = "ruleset.files[" + std::to_string(i) + "]";
      auto name = get_str(arr[i].get_object(), "name", ctx);
      if (!name) return name.error();
      auto text = get_str(arr[i].get_object(), "text", ctx);
      if (!text) return text.error();
      r.files.emplace_back(*name, *text);
    }
    return Message{std::move(r)};
  }
  if (t == "ruleset_status") {
    RulesetStatus r;
    auto v = get_str(o, "version", "ruleset_status");
    if (!v) return v.error();
    r.version = *v;
    auto it = o.find("ok");
    if (it == o.end() || !it->value().is_bool()) return bad("ruleset_status.ok must be a boolean");
    r.ok = it->value().get_bool();
    if (auto m = get_str(o, "message", "ruleset_status")) r.message = *m;
    return Message{std::move(r)};
  }
  return bad("unknown message type '" + t + "'");
}

Result<EnrollmentToken> parse_enrollment_token(std::string_view token) {
  auto fail = [] {
    return make_error(ErrorCode::invalid_argument,
                      "enrollment token is malformed (expected hlt1.<secret>.<64 hex digits of the collector fingerprint>)");
  };
  if (token.substr(0, 5) != "hlt1.") return fail();
  token.remove_prefix(5);
  auto dot = token.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return fail();
  EnrollmentToken t{std::string(token.substr(0, dot)), std::string(token.substr(dot + 1))};
  if (t.fingerprint.size() != 64 || t.secret.size() < 16) return fail();
  for (char c : t.fingerprint)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return fail();
  for (char c : t.secret)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return fail();
  return t;
}

std::string format_enrollment_token(const EnrollmentToken& t) { return "hlt1." + t.secret + "." + t.fingerprint; }

}  // namespace halong::wire
