// A deliberately small HTTP/1.1 client over a raw loopback socket, for tests that need
// control over bytes and timing (pipelining, slow clients, oversize bodies).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace progressista::testing {

struct HttpReply {
  int status = 0;                              // 0: no answer (connection closed or timed out)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  [[nodiscard]] std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class Connection {
 public:
  // `receive_buffer` (bytes, 0: the system's default): SO_RCVBUF, set before connecting.
  explicit Connection(std::uint16_t port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (receive_buffer > 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    const int one = 1;
    if (fd_ >= 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  [[nodiscard]] bool connected() const { return fd_ >= 0; }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads one response (Content-Length framed, as the daemons send them).
  HttpReply read_reply(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    HttpReply r;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) return r;
    }
    const std::string head = buf_.substr(0, header_end);
    buf_.erase(0, header_end + 4);
    std::size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.size() >= 12) r.status = std::stoi(status_line.substr(9, 3));
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line =
          head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[name] = value;
    }
    const std::size_t length =
        r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    while (buf_.size() < length) {
      if (!fill(deadline)) return HttpReply{};
    }
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }

  // True when the server closed the connection (EOF) within `timeout`.
  bool closed_by_peer(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto before = buf_.size();
      if (!fill(deadline)) return eof_;
      if (buf_.size() == before) return eof_;
    }
  }

  int fd() const { return fd_; }

  // Raw bytes, for a protocol after the HTTP exchange (raw_ws_client.hpp): what was received
  // and not yet read (the caller erases what it used), and one more receive within `timeout`
  // (false: nothing came, or the connection ended: eof()).
  std::string& received() { return buf_; }
  bool receive(std::chrono::milliseconds timeout) {
    return fill(std::chrono::steady_clock::now() + timeout);
  }
  [[nodiscard]] bool eof() const { return eof_; }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char tmp[65536];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool eof_ = false;
  std::string buf_;
};

// Formats a request; Content-Length is added for a body.
inline std::string http_request(std::string_view method, std::string_view target,
                                std::string_view body = {}, std::string_view extra_headers = {},
                                std::string_view content_type = "application/json") {
  std::string r = fmt::format("{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\n", method, target);
  if (!body.empty() || method == "POST") {
    if (!content_type.empty()) r += fmt::format("Content-Type: {}\r\n", content_type);
    r += fmt::format("Content-Length: {}\r\n", body.size());
  }
  r += extra_headers;
  r += "\r\n";
  r += body;
  return r;
}

// One request on a fresh connection.
inline HttpReply http(std::uint16_t port, std::string_view method, std::string_view target,
                      std::string_view body = {}, std::string_view extra_headers = {},
                      std::string_view content_type = "application/json") {
  Connection c(port);
  if (!c.connected() || !c.send(http_request(method, target, body, extra_headers, content_type)))
    return {};
  return c.read_reply();
}

}  // namespace progressista::testing
