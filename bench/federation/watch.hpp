// What the nodes show: a delta-protocol WebSocket client per watched node, timing each posted
// event (task, n) it sees for the first time against its POST's acknowledgement, whichever node
// took the POST; and, once the load ended, each node's GET /tasks against the final n of every
// task, and the nodes' task JSON against each other's.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "load.hpp"

namespace fedbench {

struct WatchStats {
  std::uint16_t port = 0;
  bool connected = false;
  std::string error;  // why the connection failed or ended, if it did
  std::uint64_t frames = 0, malformed = 0;
  std::uint64_t seen = 0;     // distinct (task, n) of acknowledged events
  std::uint64_t early = 0;    // seen before its POST's answer: counted as 0 ms
  std::uint64_t unacked = 0;  // seen, but its POST failed
  LatencyHistogram same;      // events POSTed to this node
  LatencyHistogram other;     // events POSTed to another node
  // The same from the POST's sending (its round trip included, nothing counted as 0 ms).
  LatencyHistogram same_sent, other_sent;
};

// Delta clients on their own thread; connect() blocks until each has its first frame (or 10 s).
class Watchers {
 public:
  Watchers(const Load& load, const std::vector<std::uint16_t>& ports);
  ~Watchers();
  Watchers(const Watchers&) = delete;
  Watchers& operator=(const Watchers&) = delete;

  // False, with the first error, when a client did not get its first frame within 10 s.
  [[nodiscard]] bool connect(std::string& error);
  // Closes the clients and joins the thread; stats() are final after it.
  void stop();
  [[nodiscard]] const std::vector<WatchStats>& stats() const noexcept { return stats_; }

 private:
  struct Client;
  const Load& load_;
  std::vector<WatchStats> stats_;
  boost::asio::io_context io_;
  std::vector<std::shared_ptr<Client>> clients_;
  std::atomic<std::size_t> ready_{0};
  std::thread thread_;
};

// One node's GET /tasks?prefix=fanout- against the load's final n of every task.
struct Convergence {
  std::uint16_t port = 0;
  std::uint32_t expected = 0;  // tasks with an acknowledged event
  std::uint32_t final = 0;     // of those, tasks the node holds with n >= the last acknowledged
  double seconds = -1;         // from the end of the load until every one was final (-1: never)
  std::string error;
};

// Polls every node (every 50 ms, at most `limit` seconds from `since`) until each holds every
// task's final n.
[[nodiscard]] std::vector<Convergence> await_convergence(
    const Load& load, const std::vector<std::uint16_t>& ports,
    std::chrono::steady_clock::time_point since, double limit);

// The bench tasks whose JSON differs between the first node and another (count, and the first
// difference described); compared once every node converged.
struct Agreement {
  std::uint32_t compared = 0, differing = 0;
  std::string first;
};
[[nodiscard]] Agreement compare_nodes(const std::vector<std::uint16_t>& ports);

}  // namespace fedbench
