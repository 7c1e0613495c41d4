// Nodes federated through one Redis stream (README.md, "Several hosts"). Every write a node
// takes is appended to `<prefix>:events` and answered once this node has applied it from the
// log; every node applies the whole log, in its order, at each entry's time, so all segments
// hold the same table. One node at a time holds a lease in Redis: it decides the sweeps and
// writes the snapshot a late joiner loads. While Redis is away, writes are applied here at once
// and kept in a bounded outbox, forwarded in order when it returns.
//
// Two threads, each with its own connection: the writer (appends, pipelined; the lease; the
// sweeps; the outbox) and the follower (XREAD BLOCK from the last id applied, kept in the
// segment; the snapshot). One process per segment follows the log (checked at start).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "federation/applier.hpp"
#include "federation/federation_status.hpp"
#include "federation/log_entry.hpp"
#include "federation/redis_link.hpp"
#include "federation/redis_url.hpp"
#include "http/routes.hpp"

namespace progressista::daemon::federation {

struct FederationOptions {
  RedisUrl url;
  std::string prefix = "progressista";
  std::string node_id;
  std::uint64_t maxlen = 1000000;          // XADD MAXLEN ~
  double snapshot_interval = 30;           // seconds
  std::uint64_t snapshot_events = 100000;  // entries applied
  std::uint64_t outbox_bytes = 64ull << 20;
  // The janitor's settings, used while this node holds the lease.
  double cleanup_interval = 5, retention = 86400, stale = 0, max_age = 0;
  double timeout = 2.0;         // connecting and each command
  double lease_seconds = 10.0;  // renewed every third of it
  double answer_timeout = 30.0; // a write appended but not applied here by then is answered 202
};

class Federation {
 public:
  Federation(ApiContext& node, FederationOptions options);
  ~Federation();
  Federation(const Federation&) = delete;
  Federation& operator=(const Federation&) = delete;

  // This node's name, when the options left it empty (the port is known once the server listens).
  void name_node(std::string node_id) {
    if (opt_.node_id.empty()) opt_.node_id = std::move(node_id);
  }
  // Claims the segment's follower role and connects once: throws std::runtime_error when
  // another process follows the log into this segment, RedisRefused for a refused password or
  // database (a configuration error). An unreachable Redis is not fatal: it starts degraded.
  void start();
  // Appends what is queued, answers every waiting write, releases the lease, joins.
  void stop();

  // A write request (its entry built by FederatedWrites): answered through `deferred` once
  // applied here. False when refused at once (503: the outbox is full), `refusal` filled.
  [[nodiscard]] bool submit(LogEntry entry, std::shared_ptr<Deferred> deferred,
                            HttpResponse& refusal);

  [[nodiscard]] FederationStatus status() const;
  // Holds the federation's lease in Redis (decides sweeps, writes snapshots, notifies).
  [[nodiscard]] bool janitor() const noexcept { return janitor_; }

 private:
  enum class State : std::uint8_t { kConnecting, kOk, kDegraded, kResyncing };
  struct Pending {
    LogEntry entry;
    std::shared_ptr<Deferred> deferred;
  };
  struct Waiter {
    std::shared_ptr<Deferred> deferred;
    std::chrono::steady_clock::time_point deadline;
  };

  void writer_loop();
  void follower_loop();
  // Writer: connects (false when Redis is away), forwards the outbox, appends a batch.
  bool connect_writer(bool at_start);
  bool forward_outbox();
  // Pipelines one XADD of `entry` (MAXLEN ~) on the writer's connection; its reply comes later.
  void queue_append(const LogEntry& entry);
  void append_batch(std::deque<Pending>& batch);
  // Applies writes here at once while Redis is away and keeps them for later.
  void degrade(std::deque<Pending>& batch, std::string_view why);
  void housekeeping();
  void renew_lease();
  // Follower: where to read from (a snapshot when the position was trimmed or the segment is
  // new), then the log.
  void sync_position();
  void apply_entries(const redisReply* stream);
  void check_in_step();
  void maybe_snapshot();
  void set_state(State s);
  void set_applied(StreamId id);
  [[nodiscard]] StreamId segment_applied() const;
  [[nodiscard]] std::string key(std::string_view suffix) const;

  ApiContext& node_;
  Store& store_;
  FederationOptions opt_;
  Applier applier_;
  std::mutex apply_mu_;  // the applier and the table's writes: follower and degraded writer

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;           // the writer ends (then the follower, once it applied what it can)
  bool stop_follower_ = false;
  std::deque<Pending> queue_;
  std::uint64_t queue_bytes_ = 0;
  std::unordered_map<std::uint64_t, Waiter> waiters_;
  std::deque<LogEntry> outbox_;
  std::uint64_t outbox_bytes_ = 0;
  State state_ = State::kConnecting;
  double since_ = 0;
  StreamId resync_target_;
  std::uint64_t next_request_ = 0;
  StreamId applied_;

  std::unique_ptr<RedisLink> wlink_;
  std::unique_ptr<RedisLink> rlink_;
  bool ever_connected_ = false;
  int lock_fd_ = -1;  // the segment's follower claim (an abstract Unix socket)
  std::chrono::steady_clock::time_point next_connect_{}, next_lease_{}, next_sweep_{};
  std::chrono::steady_clock::time_point last_snapshot_{};
  std::uint64_t since_snapshot_ = 0;
  std::uint64_t generation_ = 0;

  std::atomic<bool> janitor_{false};
  std::atomic<std::uint64_t> appended_{0}, applied_entries_{0}, reconnects_{0}, snapshot_loads_{0},
      snapshots_written_{0}, sweeps_{0}, rejected_full_{0};
  std::atomic<double> apply_delay_{0};

  std::thread writer_, follower_;
};

}  // namespace progressista::daemon::federation
