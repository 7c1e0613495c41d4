// The load: NDJSON batches (or single events) POSTed to /progress at a steady rate over one
// keep-alive connection, on the poster's own thread, recording in the AckLog when each event's
// POST was sent and acknowledged (200 with every event accepted). Or, for the side-by-side with
// Nchan, each event POSTed alone to a Nchan publisher location (201 or 202: the message is
// stored and handed to the channel's subscribers).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "event_plan.hpp"
#include "latency_histogram.hpp"

namespace fanout {

struct Endpoint {
  std::string host = "127.0.0.1";  // an address: loopback is what the benchmark is for
  std::uint16_t port = 0;
};

// Where the events go.
struct PostTarget {
  std::string path = "/progress";
  bool nchan = false;  // a Nchan publisher: one event per POST, 201/202 acknowledge it
};

struct PostReport {
  std::uint64_t posts = 0;
  std::uint64_t events_sent = 0;
  std::uint64_t events_acked = 0;  // a prefix of the plan: the connection answers in order
  std::uint64_t failures = 0;      // POSTs without a 200 accepting every event
  std::string first_error;
  LatencyHistogram round_trip;  // µs from the POST's first byte sent to its answer read
  std::int64_t behind_ns = 0;   // how late the last batch left compared with its schedule
};

class Poster {
 public:
  Poster(Endpoint server, EventPlan plan, AckLog& acks, PostTarget target = {});
  ~Poster();
  Poster(const Poster&) = delete;
  Poster& operator=(const Poster&) = delete;

  // Creates every task of the plan (or resets it) with n = 0 and status start; blocking.
  // Empty on success, else what failed.
  [[nodiscard]] std::string precreate();
  // Sends `batch` events every `interval` from `start` to `end` (a late batch leaves at once,
  // so a slow server lowers the achieved rate, never the number of batches due).
  void start(std::chrono::steady_clock::time_point start, std::chrono::steady_clock::time_point end,
             std::uint64_t batch, std::chrono::nanoseconds interval);
  void join();
  [[nodiscard]] const PostReport& report() const noexcept { return report_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  PostReport report_;
  std::thread thread_;
};

// GET `target` on a fresh connection (blocking, 10 s at most): the body of a 200, else nullopt.
[[nodiscard]] std::optional<std::string> http_get(const Endpoint& server,
                                                  const std::string& target);

}  // namespace fanout
