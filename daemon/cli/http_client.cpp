#include "cli/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace progressista::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kAnswerLimit = 1 << 20;  // our daemons answer in bytes, not megabytes

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string seconds(std::chrono::milliseconds d) {
  return fmt::format("{:g} s", static_cast<double>(d.count()) / 1000.0);
}

HttpResult failure(HttpResult::Failure kind, std::string error) {
  HttpResult r;
  r.failure = kind;
  r.error = std::move(error);
  return r;
}

}  // namespace

std::optional<Url> parse_http_url(std::string_view text, std::string& error) {
  const std::size_t scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) {
    error = fmt::format("'{}' is not a URL; write it as http://HOST[:PORT][/PATH]", text);
    return std::nullopt;
  }
  const std::string scheme = lowercase(text.substr(0, scheme_end));
  if (scheme == "https") {
    error =
        "https:// is not supported: progressista speaks plain HTTP. Put a reverse proxy that "
        "terminates TLS (e.g. nginx, see conf/) in front of the server and post to it over "
        "http:// on a trusted network";
    return std::nullopt;
  }
  if (scheme != "http") {
    error = fmt::format("'{}://' is not supported; write the URL as http://HOST[:PORT][/PATH]",
                        text.substr(0, scheme_end));
    return std::nullopt;
  }
  if (std::any_of(text.begin(), text.end(),
                  [](unsigned char c) { return c <= 0x20 || c == 0x7f; })) {
    error = fmt::format("'{}' contains a space or a control character; percent-encode it", text);
    return std::nullopt;
  }

  std::string_view rest = text.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('#'));
  const std::size_t authority_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, authority_end);
  const std::string_view path_and_query =
      authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    error =
        "credentials in the URL are not supported; pass the API token with --token or "
        "PROGRESSISTA_API_TOKEN";
    return std::nullopt;
  }

  Url url;
  url.text = std::string(text);
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = fmt::format("'{}' has an unclosed '[' in its host", text);
      return std::nullopt;
    }
    url.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') {
      error = fmt::format("'{}' has something other than :PORT after its host", text);
      return std::nullopt;
    }
    has_port = !after.empty();
    port_text = has_port ? after.substr(1) : std::string_view{};
  } else {
    const std::size_t colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    has_port = colon != std::string_view::npos;
    port_text = has_port ? authority.substr(colon + 1) : std::string_view{};
  }
  if (url.host.empty()) {
    error = fmt::format("'{}' has no host", text);
    return std::nullopt;
  }
  if (has_port) {
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      error = fmt::format("'{}' has an invalid port '{}' (1-65535)", text, port_text);
      return std::nullopt;
    }
    url.port = static_cast<std::uint16_t>(port);
  }
  const std::size_t question = path_and_query.find('?');
  url.path = std::string(path_and_query.substr(0, question));
  if (url.path.empty()) url.path = "/";
  if (question != std::string_view::npos)
    url.query = std::string(path_and_query.substr(question + 1));
  return url;
}

std::string Url::authority() const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return port == 80 ? h : fmt::format("{}:{}", h, port);
}

struct HttpClient::Impl {
  Impl(Url u, std::chrono::milliseconds t) : url(std::move(u)), timeout(t), stream(ioc) {}

  // Beast's timeouts apply to asynchronous operations only, so each step runs asynchronously
  // on this client's own io_context until it completes: blocking for the caller, yet bounded.
  template <class Start>
  boost::system::error_code await(Start&& start) {
    boost::system::error_code result = asio::error::would_block;
    start([&result](boost::system::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  std::optional<HttpResult> connect() {
    tcp::resolver resolver(ioc);
    boost::system::error_code ec;
    // Resolved synchronously: a name lookup cannot be cancelled anyway, and the names given
    // here are almost always addresses or local names.
    const auto endpoints = resolver.resolve(url.host, std::to_string(url.port), ec);
    if (ec) {
      return failure(HttpResult::Failure::kUnreachable,
                     fmt::format("cannot resolve '{}': {}", url.host, ec.message()));
    }
    stream.expires_after(timeout);
    ec = await([&](auto handler) { stream.async_connect(endpoints, std::move(handler)); });
    if (ec == beast::error::timeout) {
      return failure(HttpResult::Failure::kUnreachable,
                     fmt::format("no connection within {}", seconds(timeout)));
    }
    if (ec) return failure(HttpResult::Failure::kUnreachable, ec.message());
    stream.socket().set_option(tcp::no_delay(true), ec);
    connected = true;
    return std::nullopt;
  }

  // One request and its answer (HttpClient::post and get).
  HttpResult exchange(http::verb verb, std::string_view body, std::string_view content_type,
                      const HttpHeaders& headers);

  void close() {
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
    buffer.clear();
    connected = false;
  }

  Url url;
  std::chrono::milliseconds timeout;
  asio::io_context ioc;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  bool connected = false;
};

HttpClient::HttpClient(Url url, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(std::move(url), timeout)) {}

HttpClient::~HttpClient() = default;

const Url& HttpClient::url() const noexcept {
  return impl_->url;
}

HttpResult HttpClient::post(std::string_view body, std::string_view content_type,
                            const HttpHeaders& headers) {
  return impl_->exchange(http::verb::post, body, content_type, headers);
}

HttpResult HttpClient::get(const HttpHeaders& headers) {
  return impl_->exchange(http::verb::get, {}, {}, headers);
}

HttpResult HttpClient::Impl::exchange(http::verb verb, std::string_view body,
                                      std::string_view content_type, const HttpHeaders& headers) {
  Impl& c = *this;
  http::request<http::string_body> req{verb, c.url.target(), 11};
  req.set(http::field::host, c.url.authority());
  req.set(http::field::user_agent, "progressista/" PROGRESSISTA_VERSION);
  req.set(http::field::accept, "application/json");
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  for (const auto& [name, value] : headers) req.set(name, value);
  if (verb != http::verb::get) {
    req.body() = std::string(body);
    req.prepare_payload();
  }

  for (int attempt = 0;; ++attempt) {
    const bool reused = c.connected;
    if (!c.connected) {
      if (auto failed = c.connect()) return *std::move(failed);
    }
    c.stream.expires_after(c.timeout);
    boost::system::error_code ec =
        c.await([&](auto handler) { http::async_write(c.stream, req, std::move(handler)); });
    if (!ec) {
      http::response_parser<http::string_body> parser;
      parser.body_limit(kAnswerLimit);
      ec = c.await(
          [&](auto handler) { http::async_read(c.stream, c.buffer, parser, std::move(handler)); });
      if (!ec) {
        c.stream.expires_never();
        auto res = parser.release();
        HttpResult r;
        r.answer.status = static_cast<int>(res.result_int());
        r.answer.reason = std::string(res.reason());
        if (r.answer.reason.empty())
          r.answer.reason = std::string(http::obsolete_reason(res.result()));
        r.answer.body = std::move(res.body());
        if (!res.keep_alive()) c.close();
        return r;
      }
    }
    c.close();
    // A server may close a kept-alive connection just as we reuse it: the request then fails
    // at once, unanswered. Sending it again on a new connection is safe for GETs and progress events,
    // which carry absolute values (applying one twice leaves the same task).
    const bool closed_under_us = ec == http::error::end_of_stream || ec == asio::error::eof ||
                                 ec == asio::error::connection_reset ||
                                 ec == asio::error::broken_pipe;
    if (reused && attempt == 0 && closed_under_us) continue;
    if (ec == beast::error::timeout) {
      return failure(HttpResult::Failure::kTimeout,
                     fmt::format("no answer within {}", seconds(c.timeout)));
    }
    return failure(HttpResult::Failure::kBroken,
                   closed_under_us
                       ? fmt::format("the server closed the connection ({})", ec.message())
                       : ec.message());
  }
}

}  // namespace progressista::daemon
