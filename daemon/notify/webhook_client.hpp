// One POST to a notification target, blocking, over http:// or https:// (Beast + OpenSSL:
// the peer verified against `ca_file` or the system store, its name or address checked).
// Beast stays inside webhook_client.cpp.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "notify/rules.hpp"

namespace progressista::daemon::notify {

struct PostResult {
  int status = 0;     // the HTTP status, 0 when none came
  std::string error;  // what went wrong when status is 0 (or not 2xx: "HTTP 500")
  [[nodiscard]] bool acknowledged() const noexcept { return status >= 200 && status < 300; }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// POSTs `body` to `url`; connecting, the TLS handshake and the exchange share `timeout`.
[[nodiscard]] PostResult post_message(const Url& url, const std::string& ca_file,
                                      const Headers& headers, const std::string& body,
                                      std::chrono::milliseconds timeout);

}  // namespace progressista::daemon::notify
