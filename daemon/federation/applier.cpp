#include "federation/applier.hpp"

#include <cctype>

#include "ingest/janitor.hpp"
#include "progressista/event_parser.hpp"

namespace progressista::daemon::federation {

namespace {

// The one header a replayed write reads besides the token (which never enters the log).
class ReplayHeaders final : public HeaderFields {
 public:
  explicit ReplayHeaders(std::string_view content_type) : content_type_(content_type) {}
  [[nodiscard]] std::string_view value(std::string_view name) const override {
    constexpr std::string_view kName = "content-type";
    if (name.size() != kName.size()) return {};
    for (std::size_t i = 0; i < kName.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(name[i])) != kName[i]) return {};
    return content_type_;
  }

 private:
  std::string_view content_type_;
};

}  // namespace

Applier::Applier(const ApiContext& node)
    : open_{node.store, TokenSet{}, Cors({}), node.role},
      guarded_{node.store, node.tokens, Cors({}), node.role},
      open_routes_(open_),
      guarded_routes_(guarded_) {}

HttpResponse Applier::apply(const LogEntry& entry, double now) {
  HttpResponse response;
  if (entry.kind == LogEntry::Kind::kSweep) {
    JanitorOptions opt;
    opt.retention_seconds = entry.retention;
    opt.stale_seconds = entry.stale;
    opt.max_task_age = entry.max_age;
    Janitor janitor(open_.store, opt);  // its thread is never started: one sweep, here
    const Janitor::Sweep s = janitor.sweep(now);
    response.body = fmt::format(R"({{"removed_closed":{},"removed_old":{},"marked_stale":{}}})",
                                s.removed_closed, s.removed_old, s.marked_stale);
    return response;
  }
  body_.assign(entry.body);
  body_.reserve(body_.size() + kParsePadding);
  const ReplayHeaders headers(entry.content_type);
  HttpRequest request;
  request.method = entry.method;
  request.target = entry.target;
  const std::size_t q = request.target.find('?');
  request.path = request.target.substr(0, q);
  request.query = q == std::string_view::npos ? std::string_view{} : request.target.substr(q + 1);
  request.remote = entry.origin;
  request.body = &body_;
  request.fields = &headers;
  IngestRoutes& routes = entry.authenticated ? open_routes_ : guarded_routes_;
  if (!routes.handle_at(request, response, now)) set_error(response, 404, "Not Found");
  return response;
}

}  // namespace progressista::daemon::federation
