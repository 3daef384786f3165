// The request/response types of the transport-free API handler (Boost.Beast string bodies).
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace halong::collector::api {
using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
}  // namespace halong::collector::api
