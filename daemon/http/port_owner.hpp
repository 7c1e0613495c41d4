// Who listens on a TCP port: the processes behind a port that is in use, so that a daemon
// that cannot (or must not) share it can name them, and an ingest can tell its own kind.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace progressista::daemon {

// The address to listen on: an IP address as it is, else the first address `host` resolves
// to. Throws std::runtime_error naming --host when it does not resolve.
[[nodiscard]] boost::asio::ip::tcp::endpoint listen_endpoint(const std::string& host,
                                                             std::uint16_t port);

// True when a socket without SO_REUSEPORT can bind `endpoint` now, i.e. nobody listens there
// (a port other processes share through SO_REUSEPORT is not free either).
[[nodiscard]] bool port_is_free(const boost::asio::ip::tcp::endpoint& endpoint);

struct PortListener {
  std::uint32_t pid = 0;
  std::string command;  // its command line, arguments separated by spaces (may be empty)
};

// The processes holding a listening TCP socket (IPv4 or IPv6) on `port`, read from
// /proc/net/tcp{,6} and /proc/<pid>/fd. Processes of other users whose descriptors this one
// may not read are missing from the list, which is then empty or partial.
[[nodiscard]] std::vector<PortListener> port_listeners(std::uint16_t port);

// "process 1234 (progressista serve --port 8000)", or "another process" when none is known.
[[nodiscard]] std::string describe_listeners(const std::vector<PortListener>& listeners);

}  // namespace progressista::daemon
