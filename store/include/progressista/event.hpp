// One parsed progress event. String views point into the request body or the parser's
// buffers and stay valid only until the parser moves to the next event: apply, then forget.
#pragma once

#include <optional>
#include <string_view>

#include "progressista/status.hpp"

namespace progressista {

struct Event {
  std::string_view task_id;
  std::optional<std::string_view> desc;
  std::optional<std::string_view> unit;
  std::optional<std::string_view> project;
  std::optional<std::string_view> phase;
  std::optional<std::string_view> message;
  std::optional<std::string_view> error;
  std::optional<std::string_view> meta;  // minified JSON object text, `_token` removed
  // The task this one counts towards: the `parent` field, else meta.parent; "" detaches.
  std::optional<std::string_view> parent;
  std::optional<double> n;
  std::optional<double> total;
  std::optional<double> progress;  // 0..100; stands in for n/total when those are absent
  std::optional<double> timestamp;
  std::optional<Status> status;    // absent means `update`, as in Progressista
  std::optional<std::string_view> meta_token;  // meta._token, for authentication only
};

}  // namespace progressista
