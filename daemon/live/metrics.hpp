// GET /metrics: the segment's counters and the broadcaster's own statistics in Prometheus'
// text exposition format 0.0.4, written by hand (no client library in Debian 12).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include <fmt/format.h>

#include "http/http_types.hpp"
#include "http/routes.hpp"
#include "live/broadcast_stats.hpp"
#include "progressista/store.hpp"

namespace progressista::daemon {

inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Appends metric families to a buffer: family() writes # HELP and # TYPE, then sample()
// writes that family's lines. Names are the caller's constants; label values and help text
// are escaped as the format requires.
class PromText {
 public:
  struct Label {
    std::string_view name;
    std::string_view value;
  };

  explicit PromText(fmt::memory_buffer& out) : out_(out) {}
  void family(std::string_view name, std::string_view type, std::string_view help);
  // `name` is the family's name plus any suffix (_bucket, _sum, _count).
  void sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value);
  // NaN and infinities are written as NaN, +Inf and -Inf.
  void sample(std::string_view name, std::initializer_list<Label> labels, double value);

 private:
  void start(std::string_view name, std::initializer_list<Label> labels);
  fmt::memory_buffer& out_;
};

// The whole exposition (families listed in README.md, "GET /metrics"). `stats` null: the
// broadcaster's families are left out (the ingest daemon has none). O(capacity): the task
// gauges count statuses over the whole table.
void metrics_response(const Store& store, const BroadcastStats* stats, HttpResponse& response);

// The share links' families (refused by reason, forbidden), appended to a /metrics body.
void append_share_metrics(const ShareLinks& share, HttpResponse& response);

// GET/HEAD /metrics behind the API token (when tokens are configured).
class MetricsRoutes final : public Routes {
 public:
  explicit MetricsRoutes(ApiContext& ctx, const BroadcastStats* stats = nullptr)
      : ctx_(ctx), stats_(stats) {}
  // True when the path is /metrics.
  bool handle(const HttpRequest& request, HttpResponse& response) override;

 private:
  ApiContext& ctx_;
  const BroadcastStats* stats_;
};

}  // namespace progressista::daemon
