#include "http/http_types.hpp"

#include <fmt/format.h>

#include "progressista/ingest.hpp"

namespace progressista::daemon {

std::string_view HttpRequest::header(std::string_view name) const {
  return lookup ? lookup(fields, name) : std::string_view{};
}

void set_error(HttpResponse& response, int status, std::string_view detail) {
  response.status = status;
  response.content_type = "application/json";
  fmt::memory_buffer out;
  append_detail(out, detail);
  response.body.assign(out.data(), out.size());
}

}  // namespace progressista::daemon
