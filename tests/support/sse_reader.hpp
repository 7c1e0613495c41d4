// A Server-Sent Events reader over a raw loopback connection (GET /events, or another
// stream's target): one event at a time, as its id, data and event name.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "support/http_client.hpp"

namespace progressista::testing {

// Reads SSE events from a raw connection: (id, data) pairs.
struct SseReader {
  explicit SseReader(std::uint16_t port, std::string_view extra_headers = {},
                     std::string_view target = "/events")
      : c(port) {
    ok = c.send(fmt::format("GET {} HTTP/1.1\r\nHost: x\r\n{}\r\n", target, extra_headers));
  }
  // The next event's data, with its id.
  bool next(std::string& id, std::string& data, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const std::size_t end = buf.find("\n\n");
      if (end != std::string::npos) {
        const std::string block = buf.substr(0, end);
        buf.erase(0, end + 2);
        id.clear();
        data.clear();
        event.clear();
        std::size_t pos = 0;
        while (pos < block.size()) {
          std::size_t nl = block.find('\n', pos);
          if (nl == std::string::npos) nl = block.size();
          const std::string line = block.substr(pos, nl - pos);
          pos = nl + 1;
          if (line.rfind("id: ", 0) == 0) id = line.substr(4);
          if (line.rfind("data: ", 0) == 0) data = line.substr(6);
          if (line.rfind("event: ", 0) == 0) event = line.substr(7);
        }
        if (!data.empty()) return true;
        if (!id.empty()) last_id = id;  // an `id:` alone moves the stream's last event id
        continue;  // headers, retry:, comments
      }
      if (std::chrono::steady_clock::now() >= deadline || !receive()) return false;
    }
  }
  // True once the response head has arrived (the server has taken the request), within
  // `timeout`.
  bool opened(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!headers_seen) {
      if (std::chrono::steady_clock::now() >= deadline || !receive()) return false;
    }
    return true;
  }
  // Reads what arrived within 100 ms; false when the connection ended.
  bool receive() {
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) return true;
    char tmp[65536];
    const ssize_t n = ::recv(c.fd(), tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<std::size_t>(n));
    // Drop the HTTP header block once.
    if (!headers_seen) {
      const std::size_t h = buf.find("\r\n\r\n");
      if (h == std::string::npos) return true;
      head = buf.substr(0, h);
      buf.erase(0, h + 4);
      headers_seen = true;
    }
    return true;
  }
  Connection c;
  bool ok = false;
  std::string event;    // the `event:` of the last event returned (empty: none)
  std::string last_id;  // the last `id:` seen in a block without data
  bool headers_seen = false;
  std::string head;
  std::string buf;
};

}  // namespace progressista::testing
