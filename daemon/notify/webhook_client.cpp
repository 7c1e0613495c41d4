#include "notify/webhook_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>

namespace progressista::daemon::notify {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string host_header(const Url& url) {
  const bool v6 = url.host.find(':') != std::string::npos;
  const std::string host = v6 ? "[" + url.host + "]" : url.host;
  const bool default_port = url.port == (url.tls ? "443" : "80");
  return default_port ? host : host + ":" + url.port;
}

// Runs the exchange on `stream` (a tcp_stream or an ssl_stream over one), its deadline set.
template <typename Stream>
PostResult exchange(Stream& stream, const Url& url, const Headers& headers,
                    const std::string& body) {
  http::request<http::string_body> req{http::verb::post, url.target, 11};
  req.set(http::field::host, host_header(url));
  req.set(http::field::user_agent, "progressista-notify");
  req.set(http::field::connection, "close");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  beast::error_code ec;
  http::write(stream, req, ec);
  if (ec) return {0, fmt::format("sending: {}", ec.message())};
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);  // the answer is not read, only its status
  http::read(stream, buffer, parser, ec);
  if (ec && ec != http::error::body_limit) return {0, fmt::format("reading the answer: {}", ec.message())};
  const int status = static_cast<int>(parser.get().result_int());
  PostResult r{status, {}};
  if (!r.acknowledged()) r.error = fmt::format("HTTP {}", status);
  return r;
}

}  // namespace

PostResult post_message(const Url& url, const std::string& ca_file, const Headers& headers,
                        const std::string& body, std::chrono::milliseconds timeout) {
  asio::io_context io;
  beast::error_code ec;
  tcp::resolver resolver(io);
  const auto endpoints = resolver.resolve(url.host, url.port, ec);
  if (ec) return {0, fmt::format("resolving {}: {}", url.host, ec.message())};
  beast::tcp_stream tcp_stream(io);
  tcp_stream.expires_after(timeout);
  tcp_stream.connect(endpoints, ec);
  if (ec) return {0, fmt::format("connecting to {}:{}: {}", url.host, url.port, ec.message())};
  if (!url.tls) return exchange(tcp_stream, url, headers, body);

  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  if (ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.load_verify_file(ca_file, ec);
  }
  if (ec) return {0, fmt::format("loading the CA {}: {}", ca_file.empty() ? "store" : ca_file, ec.message())};
  ctx.set_verify_callback(asio::ssl::host_name_verification(url.host));
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), ctx);
  // SNI, for a name only (RFC 6066 forbids addresses).
  boost::system::error_code addr_ec;
  (void)asio::ip::make_address(url.host, addr_ec);
  if (addr_ec) SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str());
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) return {0, fmt::format("TLS handshake with {}: {}", url.host, ec.message())};
  PostResult r = exchange(stream, url, headers, body);
  stream.shutdown(ec);  // the answer is in; a peer that just closes is fine
  return r;
}

}  // namespace progressista::daemon::notify
