#include "core/wire.hpp"

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
            {"agent", json::object{{"id", h.agent.id}, {"hostname", h.agent.hostname}, {"agency", h.agent.agency}}}};
  }
  json::object operator()(const Welcome& w) const {
    return {{"type", "welcome"}, {"agent_id", w.agent_id}, {"highest_seq", w.highest_seq}};
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

std::string encode(const Message& m) { return json::serialize(std::visit(Encoder{}, m)); }

Result<Message> decode(std::string_view frame) {
  if (frame.size() > kMaxFrameBytes) return bad("frame of " + std::to_string(frame.size()) + " bytes is over the limit");
  boost::system::error_code ec;
  auto v = json::parse(frame, ec);
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
    auto p = get_u64(o, "protocol", "hello");
    if (!p) return p.error();
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
  return bad("unknown message type '" + t + "'");
}

}  // namespace halong::wire
