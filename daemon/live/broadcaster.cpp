#include "live/broadcaster.hpp"

#include <algorithm>

#include "log.hpp"
#include "progressista/codec.hpp"

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

FeedWatcher::FeedWatcher(Store& store, std::uint64_t base, std::optional<std::uint64_t> above)
    : bound_(Bound::of(store)), base_(base), reader_(*bound_.feed) {
  rescan();
  if (above && seq() <= *above) base_ = *above + 1 - reader_.cursor();
}

void FeedWatcher::rescan() {
  reader_.start_snapshot();
  known_.clear();
  bound_.table->for_each(
      [this](const TaskRecord& t) { known_.emplace(std::string(t.task_id.view()), t.status); });
}

namespace {
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

std::shared_ptr<const Tick> FeedWatcher::poll() {
  changes_.clear();
  if (reader_.poll(changes_) == FeedReader::Poll::kLapped) {
    rescan();
    auto tick = std::make_shared<Tick>();
    tick->seq = seq();
    tick->reset = true;
    return tick;
  }
  if (changes_.empty()) return nullptr;

  auto tick = std::make_shared<Tick>();
  tick->seq = seq();
  // A task changed several times in one tick is sent once, in its latest state, at the place
  // of its last change.
  std::unordered_map<std::uint32_t, std::size_t> last_upsert;  // slot -> index in changes_
  for (std::size_t i = 0; i < changes_.size(); ++i) {
    if (!changes_[i].removed) last_upsert[changes_[i].slot] = i;
  }
  TaskRecord rec;
  fmt::memory_buffer json;
  for (std::size_t i = 0; i < changes_.size(); ++i) {
    const Change& c = changes_[i];
    if (c.removed) {
      const std::string id(c.task_id.view());
      const auto it = known_.find(id);
      if (it == known_.end()) continue;  // created and removed between two ticks
      known_.erase(it);
      tick->items.push_back(removed_item(id));
      continue;
    }
    if (last_upsert[c.slot] != i || !bound_.table->read(c.slot, rec)) continue;
    auto [it, inserted] = known_.try_emplace(std::string(rec.task_id.view()), rec.status);
    const TaskEvent event = classify(inserted ? nullptr : &it->second, rec.status);
    it->second = rec.status;
    tick->items.push_back(upserted_item(rec, event, json));
  }
  if (tick->items.empty()) return nullptr;
  tick->all_delta = delta_frame(*tick, View{});
  return tick;
}

Broadcaster::Broadcaster(Store& store, const BroadcastOptions& options, BroadcastStats& stats)
    : store_(store), opt_(options), stats_(stats), watcher_(std::make_unique<FeedWatcher>(store)) {
  seq_.store(watcher_->seq(), std::memory_order_release);
  generation_.store(watcher_->generation(), std::memory_order_release);
  // resume_first_ stays 0: an id from before this process started is resumed as today when
  // the segment is the same one.
  resume_generation_ = watcher_->generation();
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
    plain_ = std::make_shared<const std::string>(out.data(), out.size());
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

Frame Broadcaster::resume(std::uint64_t seq, const View& view, bool& possible) {
  possible = false;
  std::uint64_t base = 0, first = 0, generation = 0;
  {
    std::lock_guard lock(resume_mutex_);
    base = resume_base_;
    first = resume_first_;
    generation = resume_generation_;
  }
  if (seq < first || seq < base) return nullptr;  // seen in an earlier segment
  const Bound b = Bound::of(store_);
  if (b.generation != generation) return nullptr;  // moving: the next tick resets every client
  const std::uint64_t after = seq - base;
  std::vector<Change> changes;
  if (after > b.feed->head() || b.feed->since(after, changes, 1u << 20) == ChangeFeed::Read::kLapped)
    return nullptr;
  Tick tick;
  tick.seq = seq;
  TaskRecord rec;
  fmt::memory_buffer json;
  for (const Change& c : changes) {
    tick.seq = std::max(tick.seq, base + c.seq);
    if (c.removed) {
      tick.items.push_back(removed_item(std::string(c.task_id.view())));
      continue;
    }
    if (!b.table->read(c.slot, rec)) continue;
    const TaskEvent event = rec.status == Status::kClose   ? TaskEvent::kClosed
                            : rec.status == Status::kError ? TaskEvent::kFailed
                            : rec.status == Status::kStale ? TaskEvent::kStale
                                                           : TaskEvent::kUpdated;
    tick.items.push_back(upserted_item(rec, event, json));
  }
  possible = true;
  return delta_frame(tick, view);
}

std::shared_ptr<const Tick> Broadcaster::follow() {
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
  watcher_ = std::make_unique<FeedWatcher>(store_, watcher_->base(), floor);
  {
    std::lock_guard lock(resume_mutex_);
    resume_generation_ = watcher_->generation();
    resume_base_ = watcher_->base();
    resume_first_ = watcher_->seq();
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

void Broadcaster::tick_once() {
  const auto started = std::chrono::steady_clock::now();
  std::shared_ptr<const Tick> tick = follow();
  const bool moved = tick != nullptr;
  if (!tick) tick = watcher_->poll();
  if (!tick) return;
  seq_.store(tick->seq, std::memory_order_release);
  // Progressista's clients get the whole table whenever anything changed; built only when
  // such clients exist, once for all of them.
  Frame plain;
  if (stats_.clients[static_cast<std::size_t>(BroadcastStats::Protocol::kProgressista)].load(
          std::memory_order_relaxed) > 0)
    plain = plain_snapshot();
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
}

void Broadcaster::run() {
  auto next = std::chrono::steady_clock::now();
  while (!stopping_.load()) {
    try {
      tick_once();
    } catch (const std::exception& e) {
      log(Level::kError, "broadcast tick failed: {}", e.what());
    }
    next += opt_.tick;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;  // a slow tick is not made up for with a burst
    std::unique_lock lock(wake_mutex_);
    wake_.wait_until(lock, next, [this] { return stopping_.load(); });
  }
}

}  // namespace progressista::daemon
