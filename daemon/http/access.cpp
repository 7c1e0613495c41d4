#include "http/access.hpp"

#include <algorithm>

namespace progressista::daemon {

Access access_of(const TokenSet& tokens, const HttpRequest& request) {
  return Access::of(&tokens, request.header("authorization"), request.query);
}

bool Cors::allowed(std::string_view origin) const {
  if (origin.empty()) return false;
  return std::any_of(origins_.begin(), origins_.end(),
                     [&](const std::string& o) { return o == "*" || o == origin; });
}

bool Cors::preflight(const HttpRequest& request, HttpResponse& response) const {
  if (request.method != "OPTIONS") return false;
  const std::string_view origin = request.header("origin");
  const std::string_view method = request.header("access-control-request-method");
  if (origin.empty() || method.empty()) return false;
  if (!allowed(origin)) {
    set_error(response, 400, "Disallowed CORS origin");
    return true;
  }
  response.status = 200;
  response.content_type = "text/plain";
  response.body = "OK";
  decorate(request, response);
  response.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
  const std::string_view asked = request.header("access-control-request-headers");
  response.set_header("Access-Control-Allow-Headers",
                      asked.empty() ? "Authorization, Content-Type" : std::string(asked));
  response.set_header("Access-Control-Max-Age", "600");
  return true;
}

void Cors::decorate(const HttpRequest& request, HttpResponse& response) const {
  const std::string_view origin = request.header("origin");
  if (!allowed(origin)) return;
  response.set_header("Access-Control-Allow-Origin", std::string(origin));
  response.set_header("Access-Control-Allow-Credentials", "true");
  response.set_header("Vary", "Origin");
}

}  // namespace progressista::daemon
