// The write API of a federated node: the requests IngestRoutes would answer (IngestRoutes::
// writes) go to the log instead, and are answered once this node has applied them from it.
// Placed before IngestRoutes in the role's groups; everything else passes through.
#pragma once

#include "federation/federation.hpp"
#include "http/routes.hpp"

namespace progressista::daemon::federation {

class FederatedWrites final : public Routes {
 public:
  FederatedWrites(ApiContext& ctx, Federation& federation) : ctx_(ctx), federation_(federation) {}
  bool handle(const HttpRequest& request, HttpResponse& response) override;

 private:
  ApiContext& ctx_;
  Federation& federation_;
};

}  // namespace progressista::daemon::federation
