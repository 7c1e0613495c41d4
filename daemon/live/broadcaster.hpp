// The broadcaster's engine: every tick it reads the change feed (never the writers' locks),
// turns what changed into one Tick, and hands that Tick to each I/O thread, which fans it out
// to its live clients (live_clients.hpp). Frames every client of a view shares are built once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "live/broadcast_stats.hpp"
#include "live/compact_delta.hpp"
#include "live/view.hpp"
#include "progressista/change_feed.hpp"
#include "progressista/store.hpp"

namespace progressista::daemon {

struct BroadcastOptions {
  std::chrono::microseconds tick{100'000};
  // Leading-edge delivery: a change seen when nothing was delivered for this long goes out at
  // once (the feed is watched every millisecond meanwhile); changes that follow a delivery
  // more closely wait until this long after it. The spacing adapts: it rises (up to the tick)
  // while deliveries take long or clients cannot take them at once, and comes back down as
  // they catch up (Broadcaster::next_spacing). Zero: ticks only. At most the tick: with the
  // tick, deliveries stay a tick apart.
  std::chrono::microseconds leading_edge{100'000};
  std::chrono::milliseconds ping_interval{30'000};
  std::chrono::milliseconds client_timeout{10'000};  // a frame blocked this long: disconnect
  std::size_t max_clients = 10000;
  // Control messages (subscribe, unsubscribe) a WebSocket client may send a second, in bursts
  // of twice as many; past that it is closed with 1008.
  double control_rate = 20;
};

// One attachment's segment, change feed and table, taken together: Store's accessors each
// return the current attachment, and another thread may follow between two calls. Valid for
// Store::kRetiredGrace after a follow.
struct Bound {
  const Segment* segment = nullptr;
  const ChangeFeed* feed = nullptr;
  const TaskTable* table = nullptr;
  std::uint64_t generation = 0;
  [[nodiscard]] static Bound of(Store& store);
};

// Reads the change feed of one segment and says what happened to each task since the last
// call. The sequences it hands out are the feed's plus `base`, so that they keep growing when
// the broadcaster moves to a re-created segment whose feed starts again from zero.
class FeedWatcher {
 public:
  // With `above`, `base` is raised so that every sequence handed out is above it.
  // `operations_clients`: how many clients the operations feed has (null: always build its
  // messages); while none, items are built without them.
  // `compact`: the compact protocol's state, replaced with every scan the watcher starts from
  // (null: none kept).
  explicit FeedWatcher(Store& store, std::uint64_t base = 0,
                       std::optional<std::uint64_t> above = std::nullopt,
                       const std::atomic<std::uint64_t>* operations_clients = nullptr,
                       CompactState* compact = nullptr);
  // Tick thread. What changed since the previous call (a reset Tick when the feed was lapped
  // or a hole found); null when nothing did.
  [[nodiscard]] std::shared_ptr<Tick> poll();
  // Any thread. What a reader that last saw `seq` missed, as one Tick: the changes one poll
  // over them would give, classified against what the reader knew at `seq`. Nullopt when
  // the watcher cannot tell: `seq` is from before its scan or last rescan (an earlier
  // process or segment, a lapped feed), beyond the feed's head, or no longer in its ring.
  // O(changes since `seq`).
  [[nodiscard]] std::optional<Tick> since(std::uint64_t seq) const;

  [[nodiscard]] std::uint64_t seq() const noexcept { return base_ + reader_.cursor(); }
  [[nodiscard]] std::uint64_t base() const noexcept { return base_; }
  // The newest sequence of this watcher's feed, in the sequences it hands out.
  [[nodiscard]] std::uint64_t head() const noexcept { return base_ + bound_.feed->head(); }
  [[nodiscard]] std::uint64_t generation() const noexcept { return bound_.generation; }
  [[nodiscard]] const Bound& bound() const noexcept { return bound_; }

 private:
  // A task's status as a reader knew it; nullopt: it knew no such task.
  using Known = std::optional<Status>;
  using KnownBefore = std::function<Known(const std::string& task_id)>;
  struct Fold {
    std::vector<TickItem> items;
    std::unordered_map<std::string, std::pair<Known, Known>> touched;  // before, after
  };
  // The one place feed changes become TickItems, for poll() and since() alike.
  [[nodiscard]] Fold fold(const std::vector<Change>& changes, const KnownBefore& before) const;
  void rescan();  // with mutex_ held
  [[nodiscard]] Known known_now(const std::string& task_id) const;

  // What a poll changed in known_: lets since() tell what a reader at an earlier seq knew.
  struct Undo {
    std::uint64_t seq;
    std::string task_id;
    Known before;
  };

  Bound bound_;
  std::uint64_t base_;
  const std::atomic<std::uint64_t>* operations_clients_;
  CompactState* compact_;
  FeedReader reader_;            // tick thread only
  std::vector<Change> changes_;  // tick thread only
  // Guards the members below, written by the tick thread and read by since(); the tick
  // thread reads them without it.
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Status> known_;  // last status seen per live task
  std::deque<Undo> undo_;    // oldest first, as far back as the feed's ring reaches
  std::uint64_t floor_ = 0;  // the seq of the last scan: what a reader before it knew is lost
  std::uint64_t polled_ = 0;  // the seq the last poll (or scan) read up to: since() stops there
};

// One I/O thread's share of the clients; implemented in live_clients.cpp.
class ClientGroup {
 public:
  virtual ~ClientGroup() = default;
  // Called on the group's own thread.
  virtual void deliver(const std::shared_ptr<const Tick>& tick, const Frame& plain) = 0;
  virtual void go_away() = 0;
};

class Broadcaster {
 public:
  Broadcaster(Store& store, const BroadcastOptions& options, BroadcastStats& stats);
  ~Broadcaster();
  Broadcaster(const Broadcaster&) = delete;
  Broadcaster& operator=(const Broadcaster&) = delete;

  void start();  // the tick thread
  // Stops ticking and tells every client to go away (WebSocket close 1001). Idempotent.
  void stop();

  // A group posts work to its own thread with `post`.
  using Post = std::function<void(std::function<void()>)>;
  void add_group(ClientGroup* group, Post post);

  // The sequence number of the last Tick handed out: what a new client's snapshot is worth.
  [[nodiscard]] std::uint64_t seq() const noexcept { return seq_.load(std::memory_order_acquire); }
  // Shared frames of the whole table at the current seq, built at most once per tick.
  [[nodiscard]] Frame plain_snapshot();  // Progressista's {"tasks": {...}}
  // {"type":"snapshot","seq":S,"tasks":{...}}, with "reset":true for clients that lagged
  // or whose resume point the change feed no longer covers.
  [[nodiscard]] Frame delta_snapshot(bool reset = false);
  // The whole table's shared snapshot, or a narrowed view's own.
  [[nodiscard]] Frame snapshot_of(const View& view, bool reset);
  // The compact delta protocol's snapshot of `view` at the last tick handed out (the whole
  // table's built once per tick).
  [[nodiscard]] Frame compact_snapshot(const View& view, bool reset) {
    return compact_.snapshot(view, reset);
  }
  // SSE resume: the delta frame of `view` with what a client that last saw `seq` missed
  // (FeedWatcher::since; empty when the view matched none of it). Nullopt when that cannot
  // be told: the client should get a snapshot with "reset".
  [[nodiscard]] std::optional<Frame> resume(std::uint64_t seq, const View& view);
  // What a client that last saw `seq` missed, as one Tick (FeedWatcher::since); nullopt when
  // that cannot be told.
  [[nodiscard]] std::optional<Tick> missed(std::uint64_t seq);

  // The segment generation the live clients are served from, and how often it changed.
  [[nodiscard]] std::uint64_t generation() const noexcept {
    return generation_.load(std::memory_order_acquire);
  }

  // Client admission against max_clients; release() when a client leaves.
  [[nodiscard]] bool admit();
  void release();

  Store& store() noexcept { return store_; }
  const BroadcastOptions& options() const noexcept { return opt_; }
  BroadcastStats& stats() noexcept { return stats_; }

 private:
  const std::atomic<std::uint64_t>& operations_clients() const noexcept {
    return stats_.clients[static_cast<std::size_t>(BroadcastStats::Protocol::kOperations)];
  }
  void run();
  // True when a Tick was handed out.
  bool tick_once();
  // The least time before the next delivery: the leading edge (`floor`), raised by what the
  // client groups said of the last delivery (how long it took, how many clients it left
  // behind), at most the tick.
  [[nodiscard]] std::chrono::steady_clock::duration next_spacing(
      std::chrono::steady_clock::duration spacing, std::chrono::steady_clock::duration floor);
  // Waits until `until` or until stop(); false when stopping.
  bool sleep_until(std::chrono::steady_clock::time_point until);
  // Follows a resized or re-created segment; a new watcher and a reset Tick when it moved.
  [[nodiscard]] std::shared_ptr<Tick> follow();

  Store& store_;
  BroadcastOptions opt_;
  BroadcastStats& stats_;
  // What every compact-protocol client holds; annotates each Tick before it is handed out.
  // Declared before watcher_, which fills it with its first scan.
  CompactState compact_;
  // Replaced by the tick thread when the segment changes, under watcher_mutex_; resume()
  // on the I/O threads takes its own reference under it.
  std::shared_ptr<FeedWatcher> watcher_;
  std::mutex watcher_mutex_;
  std::atomic<std::uint64_t> generation_{0};
  std::chrono::steady_clock::time_point follow_warned_{};
  std::atomic<std::uint64_t> seq_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> clients_{0};
  std::thread thread_;
  std::mutex wake_mutex_;
  std::condition_variable wake_;

  std::mutex groups_mutex_;
  std::vector<std::pair<ClientGroup*, Post>> groups_;

  std::mutex frames_mutex_;
  Frame plain_;
  std::uint64_t plain_seq_ = ~std::uint64_t{0};
  Frame delta_[2];  // [reset]
  std::uint64_t delta_seq_[2] = {~std::uint64_t{0}, ~std::uint64_t{0}};
};

}  // namespace progressista::daemon
