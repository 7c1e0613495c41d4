// What the routes of every role share: the context, one authorization rule, one way to refuse
// a request (counted), /health, and the handler that composes a role's route groups.
#pragma once

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "http/access.hpp"
#include "http/http_types.hpp"
#include "progressista/ingest.hpp"
#include "progressista/store.hpp"

namespace progressista::daemon {

// What every thread's routes share (read-only after start).
struct ApiContext {
  Store& store;
  TokenSet tokens;
  Cors cors;
  Role role;
  // The share links' secret, key id and counters (default: none configured).
  std::shared_ptr<const ShareLinks> share = std::make_shared<const ShareLinks>();
};

// Answers {"detail": ...} with `status` and counts the refusal in the segment.
void refuse(ApiContext& ctx, Counter counter, int status, std::string_view detail,
            HttpResponse& response);
// 405 with `Allow` for a known path asked with another method (counted as rejected_method).
void method_not_allowed(ApiContext& ctx, std::string_view allow, HttpResponse& response);

// True when access_of(ctx.tokens, request) is open; else answers 401 with `WWW-Authenticate:
// Bearer` (counted as rejected_auth). Every route that needs a token asks here.
[[nodiscard]] bool authorize(ApiContext& ctx, const HttpRequest& request, HttpResponse& response);

// A read route's check: a valid share link lets the request through with its scope in `scope`
// (the route shows nothing outside it); a refused one answers 401; without one, authorize().
[[nodiscard]] bool authorize_read(ApiContext& ctx, const HttpRequest& request,
                                  HttpResponse& response, std::optional<ShareScope>& scope);

// One group of routes (the write API, the read side, ...).
class Routes {
 public:
  virtual ~Routes() = default;
  // Answers and returns true when the request's path belongs to this group.
  virtual bool handle(const HttpRequest& request, HttpResponse& response) = 0;
  // The taker of this group's long-lived connections (WebSocket, SSE), if it has any.
  virtual StreamTaker* streams() { return nullptr; }
};

// A role's handler on one I/O thread: CORS, the share link's gate (a refused link 401, a write
// or a route a link does not reach 403), GET /health, then each group in order, then 404.
class RoleHandler final : public HttpHandler {
 public:
  RoleHandler(ApiContext& ctx, std::vector<std::unique_ptr<Routes>> groups);
  void handle(const HttpRequest& request, HttpResponse& response) override;
  StreamTaker* streams() override { return streams_; }

 private:
  ApiContext& ctx_;
  std::vector<std::unique_ptr<Routes>> groups_;
  StreamTaker* streams_ = nullptr;
};

}  // namespace progressista::daemon
