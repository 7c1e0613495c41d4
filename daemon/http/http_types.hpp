// A request and a response as the route handlers see them: plain types, so that only
// http_server.cpp pays Beast's compile cost.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "progressista/query.hpp"

namespace progressista::daemon {

// A request's header fields by case-insensitive name (the server's Beast container is behind
// it: http/stream.hpp).
class HeaderFields {
 public:
  [[nodiscard]] virtual std::string_view value(std::string_view name) const = 0;

 protected:
  ~HeaderFields() = default;
};

struct HttpRequest {
  std::string_view method;  // "GET", "POST", ...
  std::string_view target;  // as sent: path and query, still percent-encoded
  std::string_view path;    // target before '?'
  std::string_view query;   // target after '?', or empty
  std::string_view remote;  // peer address, for logs
  // The body, with at least kParsePadding spare bytes of capacity (for the JSON parser).
  std::string* body = nullptr;

  const HeaderFields* fields = nullptr;

  // Header value by case-insensitive name, or empty.
  [[nodiscard]] std::string_view header(std::string_view name) const {
    return fields != nullptr ? fields->value(name) : std::string_view{};
  }
};

class Deferred;

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  void set_header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
  }

  // Set by a handler whose answer comes later from another thread (a federated write is
  // answered once this node has applied it from the log): the session waits for it, keeps the
  // headers set here (CORS) and sends the deferred answer's status, body and headers.
  std::shared_ptr<Deferred> deferred;
};

// An answer completed once, from any thread.
class Deferred {
 public:
  void complete(HttpResponse answer) {
    std::function<void()> wake;
    {
      std::lock_guard lock(mu_);
      if (done_) return;
      done_ = true;
      answer_ = std::move(answer);
      wake = std::move(wake_);
    }
    if (wake) wake();
  }
  // The session's side: `wake` runs once the answer is in (at once when it already is), on
  // the completing thread.
  void when_complete(std::function<void()> wake) {
    {
      std::lock_guard lock(mu_);
      if (!done_) {
        wake_ = std::move(wake);
        return;
      }
    }
    wake();
  }
  [[nodiscard]] HttpResponse take() {
    std::lock_guard lock(mu_);
    return std::move(answer_);
  }

 private:
  std::mutex mu_;
  bool done_ = false;
  HttpResponse answer_;
  std::function<void()> wake_;
};

class StreamTaker;  // stream.hpp

// Handles requests on one I/O thread (one instance per thread, so it may keep per-thread
// state such as a JSON parser without locks).
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual void handle(const HttpRequest& request, HttpResponse& response) = 0;
  // The taker of long-lived connections (WebSocket, SSE) on this thread, if the role has any.
  virtual StreamTaker* streams() { return nullptr; }
};

// Query-string helpers shared by the routes (the store's, shared with the nginx module).
using progressista::query_param;
using progressista::url_decode;

// Progressista's (FastAPI's) error body, {"detail": "..."}, with the status.
void set_error(HttpResponse& response, int status, std::string_view detail);

}  // namespace progressista::daemon
