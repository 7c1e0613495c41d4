#include "live/broadcaster.hpp"

#include <algorithm>

#include "log.hpp"

namespace progressista::daemon {

Bound Bound::of(Store& store) {
  // A follow between the calls would mix two attachments: take them again until the
  // segment is the same before and after (attachments only ever move forward).
  for (;;) {
    Bound b;
    b.segment = &store.segment();
    b.feed = &store.feed();
    b.table = &store.table();
    if (&store.segment() != b.segment) continue;
    b.generation = b.segment->generation();
    return b;
  }
}

FeedWatcher::FeedWatcher(Store& store, std::uint64_t base, std::optional<std::uint64_t> above,
                         const std::atomic<std::uint64_t>* operations_clients,
                         CompactState* compact)
    : bound_(Bound::of(store)),
      base_(base),
      operations_clients_(operations_clients),
      compact_(compact),
      reader_(*bound_.feed) {
  std::lock_guard lock(mutex_);
  rescan();
  if (above && seq() <= *above) base_ = *above + 1 - reader_.cursor();
  floor_ = polled_ = seq();
}

void FeedWatcher::rescan() {
  reader_.start_snapshot();
  known_.clear();
  undo_.clear();
  CompactState::Scan scan;
  bound_.table->for_each([&](const TaskRecord& t) {
    known_.emplace(std::string(t.task_id.view()), t.status);
    if (compact_) scan.add(t);
  });
  if (compact_) compact_->replace(std::move(scan));
  floor_ = polled_ = seq();
}

FeedWatcher::Known FeedWatcher::known_now(const std::string& task_id) const {
  const auto it = known_.find(task_id);
  return it == known_.end() ? Known{} : Known{it->second};
}

namespace {
// The event of a task's upsert, from the status a reader knew (null: it knew no such task).
TaskEvent classify(const Status* before, Status now) {
  if (before == nullptr) return TaskEvent::kCreated;
  if (now == *before) return TaskEvent::kUpdated;
  switch (now) {
    case Status::kClose:
      return TaskEvent::kClosed;
    case Status::kError:
      return TaskEvent::kFailed;
    case Status::kStale:
      return TaskEvent::kStale;
    default:
      return TaskEvent::kUpdated;
  }
}
}  // namespace

FeedWatcher::Fold FeedWatcher::fold(const std::vector<Change>& changes,
                                    const KnownBefore& before) const {
  Fold out;
  // A task changed several times is sent once, in its latest state, at the place of its last
  // change.
  std::unordered_map<std::uint32_t, std::size_t> last_upsert;  // slot -> index in changes
  for (std::size_t i = 0; i < changes.size(); ++i) {
    if (!changes[i].removed) last_upsert[changes[i].slot] = i;
  }
  // What the reader knows of a task as the changes go by, starting from `before`.
  const auto known = [&](std::string id) -> Known& {
    auto [it, inserted] = out.touched.try_emplace(std::move(id));
    if (inserted) it->second.first = it->second.second = before(it->first);
    return it->second.second;
  };
  // Read once per fold: a feed client that joins after it starts from a fold that has them
  // (LiveClient::start_changes reads what it missed through since()).
  const bool with_operation =
      operations_clients_ == nullptr || operations_clients_->load(std::memory_order_acquire) > 0;
  TaskRecord rec;
  fmt::memory_buffer json;
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const Change& c = changes[i];
    if (c.removed) {
      std::string id(c.task_id.view());
      Known& now = known(id);
      if (!now) continue;  // created and removed in between
      now.reset();
      out.items.push_back(removed_item(std::move(id)));
      continue;
    }
    if (last_upsert[c.slot] != i || !bound_.table->read(c.slot, rec)) continue;
    Known& now = known(std::string(rec.task_id.view()));
    const TaskEvent event = classify(now ? &*now : nullptr, rec.status);
    now = rec.status;
    out.items.push_back(upserted_item(rec, event, json, with_operation));
  }
  return out;
}

std::shared_ptr<Tick> FeedWatcher::poll() {
  changes_.clear();
  if (reader_.poll(changes_) == FeedReader::Poll::kLapped) {
    std::lock_guard lock(mutex_);
    rescan();
    auto tick = std::make_shared<Tick>();
    tick->seq = seq();
    tick->reset = true;
    return tick;
  }
  if (changes_.empty()) return nullptr;

  // Only this thread writes known_, so it reads it unlocked.
  Fold folded = fold(changes_, [this](const std::string& id) { return known_now(id); });
  {
    std::lock_guard lock(mutex_);
    const std::uint64_t at = seq();
    polled_ = at;
    for (auto& [id, change] : folded.touched) {
      const auto& [was, is] = change;
      if (was == is) continue;
      undo_.push_back({at, id, was});
      if (is) {
        known_[id] = *is;
      } else {
        known_.erase(id);
      }
    }
    // since() cannot go back further than the ring: forget what it would never ask.
    const std::uint64_t ring = bound_.feed->ring_size();
    while (!undo_.empty() && undo_.front().seq + ring < head()) undo_.pop_front();
  }
  if (folded.items.empty()) return nullptr;
  auto tick = std::make_shared<Tick>();
  tick->seq = seq();
  tick->items = std::move(folded.items);
  tick->all_delta = delta_frame(*tick, View{});
  return tick;
}

std::optional<Tick> FeedWatcher::since(std::uint64_t seq) const {
  std::lock_guard lock(mutex_);
  if (seq < floor_ || seq > head()) return std::nullopt;
  Tick tick;
  tick.seq = seq;
  // Only as far as poll() has read: the undo log knows what a reader knew at the end of each
  // poll, not inside one, so a seq handed out past it (a poll that then takes two changes of
  // a task at once) could not be resumed from: a task created in it would come as created
  // again. What lies beyond reaches the client with the ticks.
  if (seq >= polled_) return tick;
  // The same reader as poll()'s, from `seq`: the ring's coverage and holes decide alike.
  FeedReader reader(*bound_.feed);
  reader.seek(seq - base_);
  std::vector<Change> changes;
  const std::uint64_t ring = bound_.feed->ring_size();
  if (reader.poll(changes, static_cast<std::size_t>(std::min(ring, polled_ - seq))) ==
      FeedReader::Poll::kLapped)
    return std::nullopt;
  tick.seq = base_ + reader.cursor();
  // What the reader knew at `seq`: a task's status before the first poll after `seq` that
  // changed it, else the one known now.
  std::unordered_map<std::string_view, Known> then;
  const auto after = std::upper_bound(undo_.begin(), undo_.end(), seq,
                                      [](std::uint64_t s, const Undo& u) { return s < u.seq; });
  for (auto it = after; it != undo_.end(); ++it) then.try_emplace(it->task_id, it->before);
  tick.items = fold(changes, [&](const std::string& id) {
                 const auto it = then.find(id);
                 return it != then.end() ? it->second : known_now(id);
               }).items;
  return tick;
}

Broadcaster::Broadcaster(Store& store, const BroadcastOptions& options, BroadcastStats& stats)
    : store_(store),
      opt_(options),
      stats_(stats),
      watcher_(std::make_shared<FeedWatcher>(store, 0, std::nullopt, &operations_clients(),
                                             &compact_)) {
  seq_.store(watcher_->seq(), std::memory_order_release);
  generation_.store(watcher_->generation(), std::memory_order_release);
  Tick start;  // labels the first scan's state
  start.seq = watcher_->seq();
  start.reset = true;
  compact_.apply(start);
}

Broadcaster::~Broadcaster() {
  stop();
}

void Broadcaster::start() {
  thread_ = std::thread([this] { run(); });
}

void Broadcaster::stop() {
  if (stopping_.exchange(true)) return;
  { std::lock_guard lock(wake_mutex_); }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(groups_mutex_);
  for (auto& [group, post] : groups_) post([g = group] { g->go_away(); });
}

void Broadcaster::add_group(ClientGroup* group, Post post) {
  std::lock_guard lock(groups_mutex_);
  groups_.emplace_back(group, std::move(post));
}

bool Broadcaster::admit() {
  if (clients_.fetch_add(1, std::memory_order_relaxed) >= opt_.max_clients) {
    clients_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void Broadcaster::release() {
  clients_.fetch_sub(1, std::memory_order_relaxed);
}

Frame Broadcaster::plain_snapshot() {
  const std::uint64_t s = seq();
  std::lock_guard lock(frames_mutex_);
  if (!plain_ || plain_seq_ != s) {
    fmt::memory_buffer out;
    append_tasks_object(out, store_.table(), View{});
    plain_ = Frame::of(0, out);
    plain_seq_ = s;
  }
  return plain_;
}

Frame Broadcaster::delta_snapshot(bool reset) {
  const std::uint64_t s = seq();
  std::lock_guard lock(frames_mutex_);
  Frame& f = delta_[reset ? 1 : 0];
  std::uint64_t& at = delta_seq_[reset ? 1 : 0];
  if (!f || at != s) {
    f = snapshot_frame(store_.table(), View{}, s, reset);
    at = s;
  }
  return f;
}

Frame Broadcaster::snapshot_of(const View& view, bool reset) {
  return view.all() ? delta_snapshot(reset) : snapshot_frame(store_.table(), view, seq(), reset);
}

std::optional<Tick> Broadcaster::missed(std::uint64_t seq) {
  std::shared_ptr<const FeedWatcher> watcher;
  {
    std::lock_guard lock(watcher_mutex_);
    watcher = watcher_;
  }
  // Moving to another segment: the next tick resets every client.
  if (watcher->generation() != Bound::of(store_).generation) return std::nullopt;
  return watcher->since(seq);
}

std::optional<Frame> Broadcaster::resume(std::uint64_t seq, const View& view) {
  const std::optional<Tick> changes = missed(seq);
  if (!changes) return std::nullopt;
  return delta_frame(*changes, view);
}

std::shared_ptr<Tick> Broadcaster::follow() {
  try {
    store_.follow();
  } catch (const std::exception& e) {
    // The name leads to no usable segment right now: keep serving the one attached.
    const auto now = std::chrono::steady_clock::now();
    if (now - follow_warned_ > std::chrono::seconds(10)) {
      follow_warned_ = now;
      log(Level::kWarn, "segment '{}': {}; still serving the segment attached before",
          store_.segment().name(), e.what());
    }
  }
  if (store_.segment().generation() == watcher_->generation()) return nullptr;
  // Sequences go on growing: a client's seq and an SSE Last-Event-ID from the old segment
  // are below every sequence of the new one, so they are never taken for its changes.
  const std::uint64_t floor = std::max(seq(), watcher_->head());
  const std::uint64_t old_generation = watcher_->generation();
  auto next = std::make_shared<FeedWatcher>(store_, watcher_->base(), floor,
                                            &operations_clients(), &compact_);
  {
    std::lock_guard lock(watcher_mutex_);
    watcher_ = std::move(next);
  }
  generation_.store(watcher_->generation(), std::memory_order_release);
  log(Level::kInfo,
      "segment '{}' was resized or re-created (generation {:#x} -> {:#x}, {} tasks): every live "
      "client gets a new snapshot",
      store_.segment().name(), old_generation, watcher_->generation(),
      watcher_->bound().table->size());
  auto tick = std::make_shared<Tick>();
  tick->seq = watcher_->seq();
  tick->reset = true;
  return tick;
}

bool Broadcaster::tick_once() {
  const auto started = std::chrono::steady_clock::now();
  std::shared_ptr<Tick> changed = follow();
  const bool moved = changed != nullptr;
  if (!changed) changed = watcher_->poll();
  if (!changed) return false;
  seq_.store(changed->seq, std::memory_order_release);
  // Progressista's clients get the whole table whenever anything changed; built only when
  // such clients exist, once for all of them.
  Frame plain;
  if (stats_.clients[static_cast<std::size_t>(BroadcastStats::Protocol::kProgressista)].load(
          std::memory_order_relaxed) > 0)
    plain = plain_snapshot();
  // The compact state moves on as the tick is handed out, nothing that can fail between:
  // a tick it counted must reach its clients.
  compact_.apply(*changed);
  std::shared_ptr<const Tick> tick = std::move(changed);
  {
    std::lock_guard lock(groups_mutex_);
    for (auto& [group, post] : groups_) {
      post([g = group, tick, plain] { g->deliver(tick, plain); });
    }
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  stats_.tick_duration.observe(took.count());
  if (tick->reset && !moved) {
    log(Level::kInfo, "change feed lapped; clients of the delta protocol get a new snapshot");
  }
  return true;
}

bool Broadcaster::sleep_until(std::chrono::steady_clock::time_point until) {
  std::unique_lock lock(wake_mutex_);
  return !wake_.wait_until(lock, until, [this] { return stopping_.load(); });
}

void Broadcaster::run() {
  using Clock = std::chrono::steady_clock;
  // How often a quiet feed is looked at: a change after a quiet spell waits at most this long;
  // after kDormant without any change, kWatchDormant (an idle daemon costs ~0.3 % of a core
  // instead of ~3 %).
  constexpr auto kWatch = std::chrono::milliseconds(1);
  constexpr auto kWatchDormant = std::chrono::milliseconds(10);
  constexpr auto kDormant = std::chrono::seconds(10);
  const bool leading = opt_.leading_edge.count() > 0;
  const Clock::duration floor = std::min<Clock::duration>(opt_.leading_edge, opt_.tick);
  Clock::duration spacing = floor;
  auto next = Clock::now();
  auto last_delivery = next;
  while (!stopping_.load()) {
    bool delivered = false;
    try {
      delivered = tick_once();
    } catch (const std::exception& e) {
      log(Level::kError, "broadcast tick failed: {}", e.what());
    }
    const auto ticked = Clock::now();
    if (delivered) last_delivery = ticked;
    next += opt_.tick;
    if (next < ticked) next = ticked;  // a slow tick is not made up for with a burst
    if (leading) {
      // Deliveries are at least `spacing` apart: changes within it of a delivery wait for it
      // to pass, then go out at once; past it, the feed is watched and the first change goes
      // out at once, the next tick a whole tick after it. Unread changes: the feed's head is
      // past what the last poll read.
      if (delivered) spacing = next_spacing(spacing, floor);
      const auto pending = [this] { return watcher_->head() != watcher_->seq(); };
      if (delivered && !sleep_until(std::min(next, ticked + spacing))) break;
      if (pending()) {
        next = std::min(next, Clock::now());
      } else {
        const auto watch = ticked - last_delivery < kDormant ? kWatch : kWatchDormant;
        while (Clock::now() < next && !pending()) {
          if (!sleep_until(std::min(next, Clock::now() + watch))) return;
        }
        if (pending()) next = Clock::now();
      }
    }
    if (!sleep_until(next)) break;
  }
}

std::chrono::steady_clock::duration Broadcaster::next_spacing(
    std::chrono::steady_clock::duration spacing, std::chrono::steady_clock::duration floor) {
  using Clock = std::chrono::steady_clock;
  // What the client groups reported since the last look (mostly the delivery before this
  // one: they deliver on their own threads). A delivery whose offering loop took D keeps
  // the I/O threads busy D of every spacing: at 2 D they stay half free for the clients' own
  // traffic (bench/README.md, 1,000 clients: D is 5-10 ms, nearly all of it the kernel's
  // loopback sends; 1 D cost half as much CPU again for a few ms of p50, 4 D doubled the
  // latency). Clients that could not be written at once are behind: the spacing doubles,
  // so a busy feed falls back to coalescing at the tick, and comes down again as they catch up.
  const auto took = std::chrono::nanoseconds(stats_.delivery_ns.exchange(0, std::memory_order_relaxed));
  const std::uint64_t behind = stats_.delivery_behind.exchange(0, std::memory_order_relaxed);
  const std::uint64_t clients = clients_.load(std::memory_order_relaxed);
  Clock::duration want = std::max<Clock::duration>(floor, 2 * took);
  if (behind > clients / 100) want = std::max<Clock::duration>(want, 2 * spacing);
  want = std::min<Clock::duration>(want, opt_.tick);
  stats_.spacing_us.store(std::chrono::duration_cast<std::chrono::microseconds>(want).count(),
                          std::memory_order_relaxed);
  return want;
}

}  // namespace progressista::daemon
