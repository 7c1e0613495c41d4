#include "http/port_owner.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

namespace progressista::daemon {

namespace {

// Inodes of the sockets in state LISTEN (0A) on `port` in one of /proc/net/tcp, tcp6. Each
// line: "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...",
// local_address as hex address ':' hex port.
void listening_inodes(const char* table, std::uint16_t port, std::set<std::string>& out) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // the heading
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string sl, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    if (!(fields >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode))
      continue;
    if (state != "0A") continue;
    const auto colon = local.rfind(':');
    if (colon == std::string::npos) continue;
    if (std::strtoul(local.c_str() + colon + 1, nullptr, 16) != port) continue;
    out.insert(inode);
  }
}

std::string command_line(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/cmdline", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && text.back() == '\0') text.pop_back();
  std::replace(text.begin(), text.end(), '\0', ' ');
  return text;
}

}  // namespace

boost::asio::ip::tcp::endpoint listen_endpoint(const std::string& host, std::uint16_t port) {
  namespace asio = boost::asio;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (!ec) return {address, port};
  asio::io_context ioc;
  asio::ip::tcp::resolver resolver(ioc);
  const auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    throw std::runtime_error(fmt::format("cannot resolve --host '{}': {}", host, ec.message()));
  }
  return results.begin()->endpoint();
}

bool port_is_free(const boost::asio::ip::tcp::endpoint& endpoint) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor probe(ioc);
  boost::system::error_code ec;
  probe.open(endpoint.protocol(), ec);
  // As the real listener does, so that connections in TIME_WAIT do not count.
  if (!ec) probe.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) probe.bind(endpoint, ec);
  return ec != boost::asio::error::address_in_use;
}

std::vector<PortListener> port_listeners(std::uint16_t port) {
  std::set<std::string> inodes;
  listening_inodes("/proc/net/tcp", port, inodes);
  listening_inodes("/proc/net/tcp6", port, inodes);
  std::vector<PortListener> out;
  if (inodes.empty()) return out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (const dirent* p = ::readdir(proc)) {
    const std::string pid = p->d_name;
    if (pid.empty() || !std::all_of(pid.begin(), pid.end(), ::isdigit)) continue;
    const std::string fd_dir = "/proc/" + pid + "/fd";
    DIR* fds = ::opendir(fd_dir.c_str());
    if (fds == nullptr) continue;  // gone, or another user's
    bool holds = false;
    while (const dirent* f = ::readdir(fds)) {
      if (f->d_name[0] == '.') continue;
      char target[128];
      const ssize_t n =
          ::readlink((fd_dir + "/" + f->d_name).c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      const std::string_view link(target, static_cast<std::size_t>(n));
      // "socket:[12345]"
      if (!link.starts_with("socket:[") || !link.ends_with(']')) continue;
      if (inodes.count(std::string(link.substr(8, link.size() - 9))) != 0) {
        holds = true;
        break;
      }
    }
    ::closedir(fds);
    if (holds) {
      out.push_back(
          {static_cast<std::uint32_t>(std::strtoul(pid.c_str(), nullptr, 10)), command_line(pid)});
    }
  }
  ::closedir(proc);
  return out;
}

std::string describe_listeners(const std::vector<PortListener>& listeners) {
  if (listeners.empty()) return "another process";
  std::string out;
  for (const auto& l : listeners) {
    if (!out.empty()) out += ", ";
    out += l.command.empty() ? fmt::format("process {}", l.pid)
                             : fmt::format("process {} ({})", l.pid, l.command);
  }
  return out;
}

}  // namespace progressista::daemon
