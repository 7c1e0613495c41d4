#include "http/http_types.hpp"

#include <fmt/format.h>

#include "progressista/ingest.hpp"

namespace progressista::daemon {

void set_error(HttpResponse& response, int status, std::string_view detail) {
  response.status = status;
  response.content_type = "application/json";
  fmt::memory_buffer out;
  append_detail(out, detail);
  response.body.assign(out.data(), out.size());
}

}  // namespace progressista::daemon
