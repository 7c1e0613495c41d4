#include "federation/federated_writes.hpp"

#include "ingest/ingest_api.hpp"

namespace progressista::daemon::federation {

bool FederatedWrites::handle(const HttpRequest& request, HttpResponse& response) {
  if (!IngestRoutes::writes(request)) return false;
  LogEntry entry;
  if (request.path == "/progress") {
    // Events may authenticate one by one (meta._token): that is judged where they are applied.
    entry.authenticated = access_of(ctx_.tokens, request).open();
  } else {
    // The other writes need a token in the request: refused here, never logged.
    if (!authorize(ctx_, request, response)) return true;
    entry.authenticated = true;
  }
  entry.method = std::string(request.method);
  entry.target = without_token(request.target);
  entry.content_type = std::string(request.header("content-type"));
  if (request.body != nullptr) entry.body = *request.body;
  auto deferred = std::make_shared<Deferred>();
  if (federation_.submit(std::move(entry), deferred, response)) response.deferred = deferred;
  return true;
}

}  // namespace progressista::daemon::federation
