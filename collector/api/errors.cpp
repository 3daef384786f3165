#include "collector/api/errors.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>

namespace halong::collector::api {

namespace http = boost::beast::http;

http::status http_status(ErrorCode c) {
  switch (c) {
    case ErrorCode::invalid_argument: return http::status::bad_request;
    case ErrorCode::parse_error: return http::status::bad_request;
    case ErrorCode::unsupported: return http::status::unprocessable_entity;
    case ErrorCode::not_found: return http::status::not_found;
    case ErrorCode::already_exists: return http::status::conflict;
    case ErrorCode::unauthorized: return http::status::unauthorized;
    case ErrorCode::forbidden: return http::status::forbidden;
    case ErrorCode::conflict: return http::status::conflict;
    case ErrorCode::io_error: return http::status::internal_server_error;
    case ErrorCode::storage_error: return http::status::internal_server_error;
    case ErrorCode::unavailable: return http::status::service_unavailable;
    case ErrorCode::resource_exhausted: return http::status::too_many_requests;
    case ErrorCode::internal: return http::status::internal_server_error;
  }
  return http::status::internal_server_error;
}

Response json_response(const Request& req, http::status s, std::string body) {
  Response res{s, req.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response error_response(const Request& req, const Error& e) {
  boost::json::object o{{"error", boost::json::object{{"code", to_string(e.code)}, {"message", e.message}}}};
  auto res = json_response(req, http_status(e.code), boost::json::serialize(o));
  if (e.code == ErrorCode::unauthorized) res.set(http::field::www_authenticate, "Bearer realm=\"halong\"");
  return res;
}

}  // namespace halong::collector::api
