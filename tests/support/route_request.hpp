// Requests for calling route classes directly, as http_server.cpp would: a target split into
// path and query, and headers behind the same HeaderFields interface.
#pragma once

#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <string_view>

#include "http/http_types.hpp"

namespace progressista::testing {

class RouteRequest final : private daemon::HeaderFields {
 public:
  RouteRequest(std::string method, std::string target,
               std::map<std::string, std::string> headers = {})
      : method_(std::move(method)), target_(std::move(target)) {
    for (auto& [name, value] : headers) headers_[lower(name)] = std::move(value);
  }
  RouteRequest(const RouteRequest&) = delete;
  RouteRequest& operator=(const RouteRequest&) = delete;

  // Valid as long as this object is.
  [[nodiscard]] daemon::HttpRequest get() const {
    daemon::HttpRequest r;
    const std::string_view target = target_;
    const std::size_t q = target.find('?');
    r.method = method_;
    r.target = target;
    r.path = target.substr(0, q);
    r.query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    r.remote = "127.0.0.1";
    r.body = &body_;
    r.fields = this;
    return r;
  }

 private:
  [[nodiscard]] std::string_view value(std::string_view name) const override {
    const auto it = headers_.find(lower(name));
    return it == headers_.end() ? std::string_view{} : std::string_view(it->second);
  }

  static std::string lower(std::string_view s) {
    std::string out;
    for (char c : s) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    return out;
  }

  std::string method_;
  std::string target_;
  std::map<std::string, std::string> headers_;
  mutable std::string body_;
};

// What a route class did with a request: whether it took it, and its answer.
struct RouteAnswer {
  bool handled = false;
  daemon::HttpResponse response;
};

// Calls `routes.handle` (ReadRoutes, StaticFiles, ...) as http_server.cpp would.
template <class Routes>
RouteAnswer call_route(Routes& routes, std::string method, std::string target,
                       std::map<std::string, std::string> headers = {}) {
  const RouteRequest request(std::move(method), std::move(target), std::move(headers));
  RouteAnswer a;
  a.handled = routes.handle(request.get(), a.response);
  return a;
}

// The value of the first response header called `name` (case-insensitive), or empty.
inline std::string response_header(const daemon::HttpResponse& response, std::string_view name) {
  for (const auto& [n, v] : response.headers) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return {};
}

}  // namespace progressista::testing
