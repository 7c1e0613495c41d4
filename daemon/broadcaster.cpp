#include "broadcaster.hpp"

#include <algorithm>

#include "log.hpp"
#include "progressista/codec.hpp"

namespace progressista::daemon {

FeedWatcher::FeedWatcher(Store& store) : store_(store), reader_(store.feed()) {
  rescan();
}

void FeedWatcher::rescan() {
  reader_.start_snapshot();
  known_.clear();
  store_.table().for_each(
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
    tick->seq = reader_.cursor();
    tick->reset = true;
    return tick;
  }
  if (changes_.empty()) return nullptr;

  auto tick = std::make_shared<Tick>();
  tick->seq = reader_.cursor();
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
    if (last_upsert[c.slot] != i || !store_.table().read(c.slot, rec)) continue;
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
    : store_(store), opt_(options), stats_(stats), watcher_(store) {
  seq_.store(watcher_.seq(), std::memory_order_release);
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

void Broadcaster::tick_once() {
  const auto started = std::chrono::steady_clock::now();
  std::shared_ptr<const Tick> tick = watcher_.poll();
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
  if (tick->reset) {
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
