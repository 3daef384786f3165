// The one translation unit that compiles Boost.JSON, Boost.URL, Asio and Beast.
// Everything else includes their headers only (BOOST_*_SEPARATE_COMPILATION), which
// keeps each of our translation units fast to build.
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
