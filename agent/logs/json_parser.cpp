// JSON lines -> fields with dotted paths ({"a":{"b":1}} -> "a.b" = "1"; arrays -> "a.0").
#include <boost/json.hpp>
#include <string>

#include "agent/logs/parser.hpp"
#include "agent/logs/parsers_internal.hpp"
#include "core/alert.hpp"

namespace halong::agent::logs {

using halong::logs::LogEvent;
namespace json = boost::json;

namespace {

constexpr int kMaxDepth = 32;
constexpr size_t kMaxFields = 1024;

class JsonParser final : public Parser {
 public:
  explicit JsonParser(const ParserOptions& o) : opts_(o) {}
  std::string_view name() const override { return "json"; }

  bool parse(std::string_view line, LogEvent& ev) override {
    ev.clear_parsed();
    ev.raw = line;
    ev.format = "json";
    json::parse_options po;
    po.max_depth = kMaxDepth + 2;
    boost::system::error_code ec;
    json::monotonic_resource mr(buf_, sizeof buf_);
    json::value v = json::parse(json::string_view(line.data(), line.size()), ec, &mr, po);
    if (ec || !v.is_object()) return false;
    path_.clear();
    flatten(v, ev, 0);
    const auto& obj = v.get_object();
    for (std::string_view k : {"@timestamp", "timestamp", "time", "ts"}) {
      auto it = obj.find(json::string_view(k.data(), k.size()));
      if (it == obj.end()) continue;
      if (set_time(it->value(), ev)) break;
    }
    return true;
  }

 private:
  static bool set_time(const json::value& t, LogEvent& ev) {
    if (t.is_string()) {
      auto r = halong::parse_timestamp(std::string_view(t.get_string().data(), t.get_string().size()));
      if (!r) return false;
      ev.ts_us = *r;
      return true;
    }
    double d = 0;
    if (t.is_int64()) d = static_cast<double>(t.get_int64());
    else if (t.is_uint64()) d = static_cast<double>(t.get_uint64());
    else if (t.is_double()) d = t.get_double();
    else return false;
    if (d <= 0 || d > 9e18) return false;
    if (d < 1e11) ev.ts_us = static_cast<int64_t>(d * 1e6);       // seconds
    else if (d < 1e14) ev.ts_us = static_cast<int64_t>(d * 1e3);  // milliseconds
    else ev.ts_us = static_cast<int64_t>(d);                      // microseconds
    return true;
  }

  void flatten(const json::value& v, LogEvent& ev, int depth) {
    if (ev.fields.size() >= kMaxFields || depth > kMaxDepth) return;
    switch (v.kind()) {
      case json::kind::object:
        for (const auto& kv : v.get_object()) {
          size_t mark = path_.size();
          if (!path_.empty()) path_.push_back('.');
          path_.append(kv.key().data(), kv.key().size());
          flatten(kv.value(), ev, depth + 1);
          path_.resize(mark);
        }
        return;
      case json::kind::array: {
        size_t i = 0;
        for (const auto& e : v.get_array()) {
          size_t mark = path_.size();
          if (!path_.empty()) path_.push_back('.');
          path_ += std::to_string(i++);
          flatten(e, ev, depth + 1);
          path_.resize(mark);
        }
        return;
      }
      case json::kind::string:
        ev.add(path_, std::string_view(v.get_string().data(), v.get_string().size()));
        return;
      case json::kind::bool_:
        ev.add(path_, v.get_bool() ? "true" : "false");
        return;
      case json::kind::null:
        return;  // null: the field is absent (Sigma's "field: null" matches it)
      default:
        ev.add(path_, json::serialize(v));
        return;
    }
  }

  ParserOptions opts_;
  std::string path_;
  unsigned char buf_[4096];
};

class RawParser final : public Parser {
 public:
  std::string_view name() const override { return "raw"; }
  bool parse(std::string_view line, LogEvent& ev) override {
    ev.clear_parsed();
    ev.raw = line;
    ev.format = "raw";
    return true;
  }
};

}  // namespace

std::unique_ptr<Parser> make_json_parser(const ParserOptions& opts) { return std::make_unique<JsonParser>(opts); }
std::unique_ptr<Parser> make_raw_parser() { return std::make_unique<RawParser>(); }

}  // namespace halong::agent::logs
