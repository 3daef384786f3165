// Error codes -> HTTP statuses, in one place; every API error body is
// {"error":{"code":"<stable code>","message":"..."}}.
#pragma once

#include <boost/beast/http/status.hpp>

#include "collector/api/http_types.hpp"
#include "core/result.hpp"

namespace halong::collector::api {

boost::beast::http::status http_status(ErrorCode c);
// A JSON error response for the request (keeps its HTTP version and keep-alive).
Response error_response(const Request& req, const Error& e);
Response json_response(const Request& req, boost::beast::http::status s, std::string body);

}  // namespace halong::collector::api
