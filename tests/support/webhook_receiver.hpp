// A real HTTP(S) server on loopback that notification tests deliver to: it records every
// request (target, headers, body, arrival time) and answers with the status the test sets.
// One connection at a time, synchronous (Beast), on a thread of its own; TLS with a
// certificate and key from PEM files.
#pragma once

#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace progressista::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::chrono::system_clock::time_point at;
  [[nodiscard]] std::string header(const std::string& lower_name) const {
    const auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class WebhookReceiver {
 public:
  // Listens on 127.0.0.1:`port` (0: any free port). With cert/key files, speaks TLS.
  explicit WebhookReceiver(std::uint16_t port = 0, const std::string& cert_file = {},
                           const std::string& key_file = {})
      : acceptor_(io_) {
    namespace asio = boost::asio;
    const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    if (!cert_file.empty()) {
      tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      tls_->use_certificate_chain_file(cert_file);
      tls_->use_private_key_file(key_file, asio::ssl::context::pem);
    }
    thread_ = std::thread([this] { run(); });
  }
  ~WebhookReceiver() { stop(); }
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  void stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    // Wake the blocking accept with a connection of our own.
    try {
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket s(io);
      s.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
    } catch (const std::exception&) {
    }
    thread_.join();
    boost::system::error_code ec;
    acceptor_.close(ec);
  }

  [[nodiscard]] std::uint16_t port() const { return port_; }
  // The status every later request gets (200 by default).
  void answer(int status) { status_ = status; }
  [[nodiscard]] std::vector<ReceivedRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  [[nodiscard]] std::size_t count() const {
    std::lock_guard lock(mu_);
    return requests_.size();
  }
  // Requests answered with a 2xx.
  [[nodiscard]] std::vector<ReceivedRequest> acknowledged() const {
    std::lock_guard lock(mu_);
    return acked_;
  }

 private:
  template <typename Stream>
  void serve(Stream& stream) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> req;
    boost::beast::error_code ec;
    http::read(stream, buffer, req, ec);
    if (ec) return;
    ReceivedRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(f.value());
    }
    r.body = req.body();
    r.at = std::chrono::system_clock::now();
    const int status = status_.load();
    {
      std::lock_guard lock(mu_);
      requests_.push_back(r);
      if (status >= 200 && status < 300) acked_.push_back(r);
    }
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, "application/json");
    res.body() = "{}";
    res.keep_alive(false);
    res.prepare_payload();
    http::write(stream, res, ec);
  }

  void run() {
    namespace asio = boost::asio;
    while (!stopping_) {
      asio::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) continue;
      // A client that connects and says nothing cannot hold the receiver forever.
      timeval tv{5, 0};
      ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      if (tls_) {
        asio::ssl::stream<asio::ip::tcp::socket&> stream(socket, *tls_);
        stream.handshake(asio::ssl::stream_base::server, ec);
        if (ec) continue;
        serve(stream);
        stream.shutdown(ec);
      } else {
        serve(socket);
        socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
      }
    }
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::uint16_t port_ = 0;
  std::atomic<int> status_{200};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<ReceivedRequest> requests_;
  std::vector<ReceivedRequest> acked_;
  std::thread thread_;
};

}  // namespace progressista::testing
