// The load of federation_bench: progress events POSTed to one or several nodes over keep-alive
// connections ("lanes"), either as fast as the answers come (closed loop: throughput) or at a
// steady rate (latency). Each lane owns its tasks, so the last acknowledged n of every task is
// known (the final state every node must reach) and a frame's (task, n) names the POST it came
// from: lane g owns tasks g*T .. g*T+T-1 and its event k sets task g*T + k % T to n = k + 1.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../fanout/event_plan.hpp"
#include "../fanout/latency_histogram.hpp"

namespace fedbench {

using fanout::AckLog;
using fanout::LatencyHistogram;

struct LoadPlan {
  std::vector<std::uint16_t> ports;  // the nodes posted to (127.0.0.1)
  unsigned lanes_per_node = 16;
  std::uint32_t tasks_per_lane = 100;
  std::uint32_t batch = 1;  // events per POST; NDJSON when > 1
  double rate = 0;          // events/s per node, spread over its lanes; 0: closed loop
  double duration = 5;      // seconds of posting
  unsigned threads = 1;     // threads running the lanes
};

struct Lane {
  std::uint16_t port = 0;
  std::uint32_t first_task = 0;
  std::uint64_t posts = 0, events_sent = 0, events_acked = 0, failures = 0;
  std::string first_error;
  LatencyHistogram round_trip;  // µs, the POST's first byte to its answer read
  // Paced lanes only: when each event's POST was sent and acknowledged (frames are matched
  // against it while the load runs).
  std::unique_ptr<AckLog> acks;
  std::vector<std::uint64_t> last_n;  // per owned task: the last acknowledged n (0: none)
};

class Load {
 public:
  explicit Load(LoadPlan plan);
  ~Load();
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  // Runs every lane from `start` for the plan's duration; blocking.
  void run(std::chrono::steady_clock::time_point start);
  [[nodiscard]] const LoadPlan& plan() const noexcept { return plan_; }
  [[nodiscard]] const std::vector<Lane>& lanes() const noexcept { return lanes_; }
  [[nodiscard]] std::uint32_t tasks() const noexcept {
    return static_cast<std::uint32_t>(lanes_.size()) * plan_.tasks_per_lane;
  }
  // The lane owning a bench task, or nullptr.
  [[nodiscard]] const Lane* lane_of(std::uint32_t task) const noexcept {
    const std::uint32_t g = task / plan_.tasks_per_lane;
    return g < lanes_.size() ? &lanes_[g] : nullptr;
  }

 private:
  LoadPlan plan_;
  std::vector<Lane> lanes_;
};

}  // namespace fedbench
