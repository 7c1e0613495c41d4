// A small blocking HTTP/1.1 client for the CLI verbs (`post`, `demo`, `watch`'s rule): plain http:// only,
// one keep-alive connection reused across requests and re-opened when the server closed it.
// Beast stays inside http_client.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace progressista::daemon {

struct Url {
  std::string host;  // a name or an address; an IPv6 address without its brackets
  std::uint16_t port = 80;
  std::string path;   // starts with '/'
  std::string query;  // after '?', or empty
  std::string text;   // the URL as given, for messages

  // What goes on the request line: path, then "?query" when there is one.
  [[nodiscard]] std::string target() const { return query.empty() ? path : path + "?" + query; }
  // HOST[:PORT] as the Host header wants it (brackets around IPv6, no port when 80).
  [[nodiscard]] std::string authority() const;
  // The URL requests actually go to, rebuilt from its parts (for messages).
  [[nodiscard]] std::string str() const { return "http://" + authority() + target(); }
};

// Parses "http://host[:port][/path][?query][#fragment]" (the fragment is dropped). Anything
// else returns nullopt and says why in `error`; https:// gets advice instead of a bare refusal.
[[nodiscard]] std::optional<Url> parse_http_url(std::string_view text, std::string& error);

struct HttpAnswer {
  int status = 0;
  std::string reason;  // the status line's phrase, or the standard one when the server sent none
  std::string body;
};

struct HttpResult {
  enum class Failure {
    kNone,         // `answer` holds the server's response, whatever its status
    kUnreachable,  // name not resolved, or no connection (refused, unreachable, timed out)
    kTimeout,      // connected, but no complete answer within the timeout
    kBroken,       // connected, but the connection failed or the answer was not HTTP
  };
  Failure failure = Failure::kNone;
  std::string error;  // what went wrong, when failure != kNone
  HttpAnswer answer;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
 public:
  // `timeout` bounds connecting, and separately each request from its first byte sent to
  // the last byte of the answer. Nothing is connected until the first request.
  HttpClient(Url url, std::chrono::milliseconds timeout);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `body` to the URL's target. A kept-alive connection that turns out to be closed
  // is re-opened and the request sent once more; a fresh connection is never retried.
  [[nodiscard]] HttpResult post(std::string_view body, std::string_view content_type,
                                const HttpHeaders& headers = {});
  // GETs the URL's target (retried on a reused connection found closed, as post).
  [[nodiscard]] HttpResult get(const HttpHeaders& headers = {});

  [[nodiscard]] const Url& url() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace progressista::daemon
