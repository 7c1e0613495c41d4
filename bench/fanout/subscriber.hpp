// One WebSocket client of the broadcaster (or of a Nchan channel): connects, holds the
// connection, timestamps every frame it receives and, for each posted event it sees for the
// first time (task, n), records receipt minus the POST's acknowledgement. All clients run on one
// io_context (1-2 threads), each on its own strand.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "event_plan.hpp"
#include "frame_reader.hpp"
#include "latency_histogram.hpp"
#include "poster.hpp"
#include "v2_audit.hpp"

namespace fanout {

// /ws?protocol=delta, /ws, /ws?protocol=delta2, a Nchan websocket subscriber location (every
// message one event, as posted; no snapshot on connecting)
enum class Protocol : std::uint8_t { kDelta, kPlain, kDelta2, kNchan };
inline constexpr int kProtocols = 4;
[[nodiscard]] constexpr std::string_view protocol_name(Protocol p) noexcept {
  return p == Protocol::kDelta    ? "delta"
         : p == Protocol::kPlain  ? "plain"
         : p == Protocol::kDelta2 ? "delta2"
                                  : "nchan";
}

// Bounds how many clients are being set up at once (connect, handshake, first snapshot: a
// snapshot of 10,000 tasks is megabytes) and says when all of them are.
class ConnectGate {
 public:
  void acquire(std::size_t limit);  // blocks while `limit` set-ups are under way
  void connected();
  void failed(std::string why);
  // Blocks until `total` set-ups ended, either way, or until `deadline`; true when they did.
  bool wait_settled(std::size_t total, std::chrono::steady_clock::time_point deadline);
  [[nodiscard]] std::size_t ok() const;
  [[nodiscard]] std::size_t failures() const;
  [[nodiscard]] std::string first_error() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t in_flight_ = 0;
  std::size_t ok_ = 0;
  std::size_t failed_ = 0;
  std::string first_error_;
};

// What one I/O thread measured, merged at the end.
struct ThreadStats {
  // By Protocol.
  LatencyHistogram latency[kProtocols];
  // The same for events acknowledged 1 s or more after the posting started: without the
  // first pass over the tasks (the first update of each after its creation carries more).
  LatencyHistogram settled[kProtocols];
  // Receipt minus the POST's sending (its first byte): the same events as `latency`, with the
  // POST's own round trip; tells apart a server that answers before it delivers from one that
  // delivers before it answers (those are counted as 0 ms in `latency`: `early`).
  LatencyHistogram from_sent[kProtocols];
  std::uint64_t early[kProtocols] = {};    // seen before the poster had its answer: counted as 0 ms
  std::uint64_t unacked[kProtocols] = {};  // seen, but its POST failed: no latency
  std::uint64_t parsed = 0;                // frames parsed
  std::uint64_t cache_hits = 0;            // delta (or snapshot) frames another client had parsed
  // By second since the posting started (receipt time): the largest latency, and how many
  // were over the aim; says whether slow frames cluster (start, a stall) or spread.
  std::vector<std::uint64_t> max_us_by_second;
  std::vector<std::uint64_t> over_aim_by_second;
};

class Subscriber;

// What every client shares; outlives them.
class Fanout {
 public:
  Fanout(Endpoint server, EventPlan plan, const AckLog& acks)
      : server(std::move(server)), plan(plan), acks(acks) {}

  const Endpoint server;
  const EventPlan plan;
  const AckLog& acks;
  DeltaCache cache[kProtocols];  // by Protocol: v1 and v2 frames of one seq are different bytes
  std::string nchan_target;      // the Nchan subscriber location, for Protocol::kNchan
  HandleMap handles;             // v2
  // v2: fed every frame by one v2 client (audit_client); read once the I/O threads stopped.
  std::unique_ptr<V2Audit> audit;
  const Subscriber* audit_client = nullptr;
  ConnectGate gate;
  // Frames received in [window_start, window_end) count towards frames/s and bytes/s.
  std::atomic<std::int64_t> window_start{std::numeric_limits<std::int64_t>::max()};
  std::atomic<std::int64_t> window_end{std::numeric_limits<std::int64_t>::max()};
  std::atomic<std::int64_t> last_frame{0};  // now_ns() of the latest frame any client received
  std::atomic<std::size_t> live{0};         // clients past their first frame and still connected
  std::atomic<std::size_t> converged{0};    // of those, clients holding every task's final n
  std::atomic<std::size_t> live_by[kProtocols] = {};  // the same two by Protocol
  std::atomic<std::size_t> converged_by[kProtocols] = {};
  std::vector<std::uint64_t> final_n;  // set before publish_final()
  std::size_t timeline_seconds = 0;    // ThreadStats' per-second vectors; set before start
  std::uint64_t aim_us = 0;

  void publish_final() { final_ready_.store(true, std::memory_order_release); }
  [[nodiscard]] bool final_ready() const { return final_ready_.load(std::memory_order_acquire); }
  ThreadStats& local();                // this thread's stats
  [[nodiscard]] ThreadStats merged();  // once the I/O threads stopped

 private:
  std::atomic<bool> final_ready_{false};
  std::mutex stats_mutex_;
  std::vector<std::unique_ptr<ThreadStats>> stats_;
};

struct ClientCounters {
  std::uint64_t frames = 0, bytes = 0;                // payload bytes of WebSocket messages
  std::uint64_t window_frames = 0, window_bytes = 0;  // while the poster ran
  std::uint64_t run_bytes = 0;  // from the poster's start to the end of the drain
  // Task entries carrying n (of the bench's tasks) in the frames received while the poster ran:
  // the updates delivered, whether new to the client or not. window_bytes / window_updates is
  // the cost of one.
  std::uint64_t window_updates = 0;
  // By kind, from the start of the run on (the connection's own frames are left out).
  std::uint64_t deltas = 0, snapshots = 0, resets = 0, plain = 0, errors = 0, other = 0;
  std::uint64_t events = 0;       // Nchan messages (one event each)
  std::uint64_t seen = 0;         // posted events (task, n) seen
  std::uint64_t regressions = 0;  // a task's n went back: an older state after a newer one
  std::uint64_t seq_back = 0;     // a frame's seq below the previous one
  std::uint64_t seq_repeat = 0;   // a delta with the seq of the previous frame (Nchan: the same n)
  std::uint64_t malformed = 0;
  std::uint64_t unknown_handles = 0;  // v2: id-less entries of a handle nobody had seen
  bool ended = false;                 // the connection ended before we closed it
  std::string end_reason;             // why, when it did
  std::string first_malformed;
  std::string first_unknown;
};

class Subscriber : public std::enable_shared_from_this<Subscriber> {
 public:
  // `threads`: how many threads run `io` (more than one: each client gets a strand).
  Subscriber(Fanout& fanout, Protocol protocol, boost::asio::io_context& io, unsigned threads);
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  void start();    // connect, then read until the connection ends
  void recount();  // counts converged tasks once Fanout::final_n is published (any thread)
  void close();    // a normal WebSocket close (any thread)
  [[nodiscard]] Protocol protocol() const noexcept { return protocol_; }
  // Held every task's final n at some point of the drain (read once the I/O threads stopped).
  [[nodiscard]] bool converged() const noexcept { return converged_; }
  // Read once the I/O threads have stopped.
  [[nodiscard]] const ClientCounters& counters() const noexcept { return c_; }

 private:
  struct Impl;
  boost::asio::awaitable<void> run();
  void on_message(std::int64_t received);
  // The frame's content, parsed here or by another client; null when malformed (counted).
  std::shared_ptr<const FrameContent> content(std::string_view frame, ThreadStats& stats);
  void apply(const FrameContent& frame, std::int64_t received, ThreadStats& stats);
  void mark_connected();  // its first frame came (Nchan: its handshake): it is live
  void mark_converged();
  [[nodiscard]] int index() const noexcept { return static_cast<int>(protocol_); }

  Fanout& fanout_;
  const Protocol protocol_;
  std::unique_ptr<Impl> impl_;
  std::vector<std::uint32_t> last_n_;  // per task: the highest n seen (0: none)
  std::uint64_t last_seq_ = 0;
  bool first_ = true;
  bool closing_ = false;
  bool recounted_ = false;
  bool converged_ = false;
  std::uint32_t converged_tasks_ = 0;
  ClientCounters c_;
};

}  // namespace fanout
