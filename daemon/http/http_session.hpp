// One thread's share of the HTTP server and the connections it serves (http_session.cpp);
// http_server.cpp owns the threads, the acceptors and shutdown. Pulls in Asio and Beast: only
// those two files include it.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <unordered_set>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>

#include "http/http_server.hpp"

namespace progressista::daemon {

inline constexpr auto kUseTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

// One thread's share of the server.
struct Worker {
  boost::asio::io_context ioc{1};
  boost::asio::ip::tcp::acceptor acceptor{ioc};
  std::unique_ptr<HttpHandler> handler;
  std::unordered_set<boost::beast::tcp_stream*> idle;  // sessions waiting for their next request
  std::vector<std::unique_ptr<boost::asio::steady_timer>> timers;
  std::unique_ptr<boost::asio::steady_timer> grace;  // armed on stop: ends sessions that overstay
  std::size_t sessions = 0;
  bool stopping = false;
  std::thread thread;
};

// What the server's sessions share.
struct SessionShared {
  SessionShared(const HttpServerOptions& o, HttpServer::Count c) : opt(o), count(std::move(c)) {}
  HttpServerOptions opt;
  HttpServer::Count count;
  std::atomic<std::size_t> connections{0};
};

// Serves one accepted connection until it closes; the caller counted it in
// shared.connections, and the session gives it back when it ends.
boost::asio::awaitable<void> serve_connection(SessionShared& shared, Worker& w,
                                              boost::asio::ip::tcp::socket socket);
// Tells a connection over max_connections to come back later, and closes it.
boost::asio::awaitable<void> refuse_busy(boost::asio::ip::tcp::socket socket,
                                         std::size_t max_connections);

}  // namespace progressista::daemon
