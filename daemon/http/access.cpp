#include "http/access.hpp"

#include <algorithm>

#include "progressista/bookkeeping.hpp"

namespace progressista::daemon {

Access access_of(const TokenSet& tokens, const HttpRequest& request) {
  return Access::of(&tokens, request.header("authorization"), request.query);
}

std::string_view ShareLinks::reason_name(std::size_t i) noexcept {
  static constexpr std::array<std::string_view, kReasons> kNames = {
      "malformed", "signature", "revoked", "expired", "disabled"};
  return i < kNames.size() ? kNames[i] : "malformed";
}

ShareAccess ShareLinks::of(const HttpRequest& request) const {
  ShareAccess access;
  std::string token;
  if (!query_param(request.query, "share", token)) return access;
  access.kind = ShareAccess::Kind::kRefused;
  if (!enabled()) {
    refused_[4].fetch_add(1, std::memory_order_relaxed);
    access.detail = "Invalid share link: share links are not enabled on this server (no share "
                    "secret configured)";
    return access;
  }
  ShareVerdict verdict = verify_share_token(token, secret_, key_id_, now_seconds());
  if (!verdict.ok()) {
    refused_[static_cast<std::size_t>(verdict.error) - 1].fetch_add(1, std::memory_order_relaxed);
    access.detail = verdict.detail();
    return access;
  }
  access.kind = ShareAccess::Kind::kScoped;
  access.scope = std::move(verdict.claims.scope);
  return access;
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
