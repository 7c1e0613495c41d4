// The follower's half of Federation (federation.hpp): where to start reading (the segment's
// position, else the snapshot), then the log, entry by entry, and the snapshot it writes while
// this node holds the lease.
#include <hiredis/hiredis.h>

#include "federation/federation.hpp"
#include "federation/snapshot_sync.hpp"
#include "log.hpp"

namespace progressista::daemon::federation {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kReadCount = 512;  // entries one XREAD returns at most
constexpr int kBlockMs = 500;    // XREAD BLOCK: how soon stop() is noticed

Clock::duration secs(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// XREAD's entry [id, [f, v, ...]] → its id and fields.
bool read_entry(const redisReply* e, StreamId& id, LogEntry& entry) {
  if (!StreamId::parse(text_of(element(e, 0)), id)) return false;
  const redisReply* fv = element(e, 1);
  std::vector<std::string_view> fields;
  for (std::size_t i = 0; i < elements(fv); ++i) fields.push_back(text_of(element(fv, i)));
  return LogEntry::from_fields(fields, entry);
}

}  // namespace


void Federation::sync_position() {
  applied_ = segment_applied();
  // What the stream still holds: its first entry, and the newest entry deleted (XDEL; trimming
  // by MAXLEN does not record it in Redis 7.0, so the first entry is the test that counts).
  StreamId first, deleted;
  const Reply info = rlink_->command({"XINFO", "STREAM", key("events")});
  for (std::size_t i = 0; i + 1 < elements(info.get()); i += 2) {
    const std::string_view name = text_of(element(info.get(), i));
    const redisReply* value = element(info.get(), i + 1);
    if (name == "max-deleted-entry-id") (void)StreamId::parse(text_of(value), deleted);
    if (name == "first-entry") (void)StreamId::parse(text_of(element(value, 0)), first);
  }
  // Entries after our position may be gone when the stream now starts beyond it (when its
  // first entry is exactly our next one nothing is lost, and the snapshot only saves replay).
  const bool lost = (!first.zero() && applied_ < first && !applied_.zero()) ||
                    (!deleted.zero() && applied_ < deleted);
  const StreamId trimmed = std::max(deleted, first);
  if (!applied_.zero() && !lost) return;  // the log still holds what follows our position
  const Reply snap = rlink_->command({"GET", key("snapshot")});
  if (snap.is_nil() || snap.is_error()) {
    if (lost)
      log(Level::kWarn, "federation: the log starts after this segment's position ({} < {}: "
          "trimmed, or Redis restarted empty) and there is no snapshot; following what it holds",
          applied_.str(), trimmed.str());
    return;  // a new segment follows the whole log
  }
  StreamId covers;
  {
    const std::string_view v = snap.text();
    const std::size_t sp = v.find(' '), eol = v.find('\n');
    if (sp != std::string_view::npos && eol != std::string_view::npos && sp < eol)
      (void)StreamId::parse(v.substr(sp + 1, eol - sp - 1), covers);
  }
  if (!applied_.zero() && !(applied_ < covers)) {
    log(Level::kWarn, "federation: the log may have been trimmed past this segment's position "
        "({}) and the snapshot is no newer ({}); following the log from here", applied_.str(),
        covers.str());
    return;  // a snapshot older than our own state would take us back
  }
  LoadedSnapshot loaded;
  std::string error;
  {
    std::lock_guard lock(apply_mu_);
    error = load_snapshot(store_, snap.text(), now_seconds(), loaded);
    if (error.empty()) set_applied(loaded.covers);
  }
  if (!error.empty()) {
    log(Level::kError, "federation: {} is unusable ({}); following the log from {}",
        key("snapshot"), error, applied_.str());
    return;
  }
  ++snapshot_loads_;
  log(Level::kInfo, "federation: loaded the snapshot ({} tasks, {} removed here{}) covering the "
      "log up to {}", loaded.tasks, loaded.removed,
      loaded.failed ? fmt::format(", {} did not fit", loaded.failed) : std::string(),
      loaded.covers.str());
  if (loaded.covers < trimmed && !first.zero() && loaded.covers < first)
    log(Level::kWarn, "federation: the snapshot ({}) is older than the log's first entry ({}): "
        "entries between them may be lost here", loaded.covers.str(), first.str());
}

void Federation::apply_entries(const redisReply* stream) {
  const redisReply* entries = element(element(stream, 0), 1);
  for (std::size_t i = 0; i < elements(entries); ++i) {
    StreamId id;
    LogEntry entry;
    const bool ok = read_entry(element(entries, i), id, entry);
    HttpResponse r;
    {
      std::lock_guard lock(apply_mu_);
      if (ok) r = applier_.apply(entry, id.seconds());
      set_applied(id);
    }
    if (!ok) {
      log(Level::kWarn, "federation: skipped log entry {}: not one this version reads", id.str());
      continue;
    }
    ++applied_entries_;
    ++since_snapshot_;
    apply_delay_ = now_seconds() - id.seconds();
    if (entry.request == 0 || entry.origin != opt_.node_id) continue;
    std::shared_ptr<Deferred> d;
    {
      std::lock_guard lock(mu_);
      if (auto it = waiters_.find(entry.request); it != waiters_.end()) {
        d = std::move(it->second.deferred);
        waiters_.erase(it);
      }
    }
    if (d) d->complete(std::move(r));
  }
}

void Federation::check_in_step() {
  std::lock_guard lock(mu_);
  if (state_ == State::kResyncing && !(applied_ < resync_target_)) {
    state_ = State::kOk;
    since_ = now_seconds();
    log(Level::kInfo, "federation: in step with the log at {}", applied_.str());
  }
}

void Federation::maybe_snapshot() {
  if (!janitor_ || since_snapshot_ == 0) return;
  const auto now = Clock::now();
  if (since_snapshot_ < opt_.snapshot_events && now - last_snapshot_ < secs(opt_.snapshot_interval))
    return;
  std::string value;
  {
    std::lock_guard lock(apply_mu_);  // no write between the image and the id it covers
    value = make_snapshot(store_.table(), applied_);
  }
  const Reply r = rlink_->command({"SET", key("snapshot"), value});
  if (r.is_error()) {
    log(Level::kWarn, "federation: Redis refused the snapshot: {}", r.text());
    return;
  }
  ++snapshots_written_;
  since_snapshot_ = 0;
  last_snapshot_ = now;
}

void Federation::follower_loop() {
  auto next_try = Clock::now();
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stop_follower_) break;
    }
    try {
      if (!rlink_) {
        if (Clock::now() < next_try) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        next_try = Clock::now() + std::chrono::seconds(1);
        rlink_ = std::make_unique<RedisLink>(opt_.url, opt_.timeout);
        rlink_->set_timeout(opt_.timeout + kBlockMs / 1000.0);
        sync_position();
        last_snapshot_ = Clock::now();
      }
      // A segment re-created under us (another process, or an operator) starts again from the
      // snapshot.
      store_.follow();
      if (const std::uint64_t g = store_.segment().generation(); g != generation_) {
        generation_ = g;
        sync_position();
      }
      const std::string from = applied_.str();
      const Reply r = rlink_->command({"XREAD", "COUNT", std::to_string(kReadCount), "BLOCK",
                                       std::to_string(kBlockMs), "STREAMS", key("events"), from});
      if (r.is_error()) {
        log(Level::kWarn, "federation: XREAD refused: {}", r.text());
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      if (!r.is_nil()) apply_entries(r.get());
      check_in_step();
      maybe_snapshot();
    } catch (const RedisDown& e) {
      log(Level::kDebug, "federation follower: {}", e.what());
      rlink_.reset();
    } catch (const std::exception& e) {
      log(Level::kWarn, "federation follower: {}", e.what());
      rlink_.reset();
    }
  }
}

}  // namespace progressista::daemon::federation
