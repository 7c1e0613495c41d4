// Cross-cutting request policy shared by every route: API tokens and CORS.
#pragma once

#include <string>
#include <vector>

#include "http/http_types.hpp"
#include "progressista/ingest.hpp"
#include "progressista/tokens.hpp"

namespace progressista::daemon {

// Who is asking: open when no tokens are configured or the request carries a valid one in
// `Authorization: Bearer <t>` or `?token=<t>` (Progressista's two places). The daemons' one
// token check; writes may still authenticate event by event (meta._token) when not open.
[[nodiscard]] Access access_of(const TokenSet& tokens, const HttpRequest& request);

// CORS for an allow-list of origins ("*" allows any). Origins not on the list get no CORS
// headers at all, so the browser blocks them.
class Cors {
 public:
  explicit Cors(std::vector<std::string> origins) : origins_(std::move(origins)) {}

  // Answers a preflight (OPTIONS with Origin and Access-Control-Request-Method) and returns
  // true; false for any other request.
  bool preflight(const HttpRequest& request, HttpResponse& response) const;
  // Adds the CORS headers to an ordinary response when its Origin is allowed.
  void decorate(const HttpRequest& request, HttpResponse& response) const;

 private:
  [[nodiscard]] bool allowed(std::string_view origin) const;
  std::vector<std::string> origins_;
};

}  // namespace progressista::daemon
