#include "federation/federation.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <hiredis/hiredis.h>

#include "ingest/janitor.hpp"
#include "log.hpp"

namespace progressista::daemon::federation {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kBatch = 256;   // appends pipelined at once

// Renews the lease when this node holds it, takes it when nobody does.
constexpr std::string_view kLeaseScript =
    "local v = redis.call('GET', KEYS[1]) "
    "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end "
    "if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end "
    "return 0";
constexpr std::string_view kReleaseScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

Clock::duration secs(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

HttpResponse answer(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse detail(int status, std::string_view text) {
  HttpResponse r;
  set_error(r, status, text);
  return r;
}

std::string_view state_name(int s) {
  static constexpr std::string_view kNames[] = {"connecting", "ok", "degraded", "resyncing"};
  return kNames[s];
}

}  // namespace

Federation::Federation(ApiContext& node, FederationOptions options)
    : node_(node), store_(node.store), opt_(std::move(options)), applier_(node) {}

Federation::~Federation() {
  stop();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string Federation::key(std::string_view suffix) const {
  return fmt::format("{}:{}", opt_.prefix, suffix);
}

StreamId Federation::segment_applied() const {
  const Counters& c = store_.counters();
  return StreamId{c.get(Gauge::kFederationAppliedMs), c.get(Gauge::kFederationAppliedSeq)};
}

void Federation::set_applied(StreamId id) {
  applied_ = id;
  Counters& c = store_.counters();
  c.set(Gauge::kFederationAppliedSeq, id.seq);
  c.set(Gauge::kFederationAppliedMs, id.ms);
}

void Federation::set_state(State s) {
  std::lock_guard lock(mu_);
  if (state_ == s) return;
  log(s == State::kDegraded ? Level::kWarn : Level::kInfo, "federation: {} → {}",
      state_name(static_cast<int>(state_)), state_name(static_cast<int>(s)));
  state_ = s;
  since_ = now_seconds();
}

void Federation::start() {
  // One follower per segment: an abstract Unix socket named after the segment, released by the
  // kernel when this process ends, however it ends.
  lock_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string name = fmt::format("progressista-federation/{}", store_.segment().name());
  const std::size_t len = std::min(name.size(), sizeof(addr.sun_path) - 2);
  std::memcpy(addr.sun_path + 1, name.data(), len);
  if (lock_fd_ < 0 ||
      ::bind(lock_fd_, reinterpret_cast<sockaddr*>(&addr),
             static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + len)) != 0) {
    throw std::runtime_error(fmt::format(
        "another process already follows the Redis log into segment '{}': run one federated "
        "writer (serve or ingest with --redis) per segment; broadcasters on the same segment "
        "need no --redis",
        store_.segment().name()));
  }
  generation_ = store_.segment().generation();
  applied_ = segment_applied();
  since_ = now_seconds();
  // A refused password is a configuration error: say so now, before serving anything.
  if (!connect_writer(true)) {
    std::lock_guard lock(mu_);
    state_ = State::kDegraded;
    log(Level::kWarn, "federation: starting without Redis; writes are applied here and kept "
        "until it answers");
  }
  set_status_source([this] { return status(); });
  writer_ = std::thread([this] { writer_loop(); });
  follower_ = std::thread([this] { follower_loop(); });
}

void Federation::stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && !writer_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  // The follower applies what was appended (bounded: its next read, or the answer timeout).
  const auto until = Clock::now() + secs(std::min(opt_.answer_timeout, 3.0));
  while (Clock::now() < until) {
    {
      std::lock_guard lock(mu_);
      if (waiters_.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  {
    std::lock_guard lock(mu_);
    stop_follower_ = true;
  }
  if (follower_.joinable()) follower_.join();
  std::unordered_map<std::uint64_t, Waiter> left;
  {
    std::lock_guard lock(mu_);
    left.swap(waiters_);
  }
  for (auto& [r, w] : left)
    w.deferred->complete(answer(202, R"({"ok":true,"detail":"appended to the log; this node )"
                                     R"(stopped before applying it"})"));
  set_status_source({});
}

bool Federation::submit(LogEntry entry, std::shared_ptr<Deferred> deferred, HttpResponse& refusal) {
  std::lock_guard lock(mu_);
  entry.origin = opt_.node_id;  // before its size is taken: the writer subtracts the same
  const std::size_t bytes = entry.bytes();
  if (stop_ || outbox_bytes_ + queue_bytes_ + bytes > opt_.outbox_bytes) {
    ++rejected_full_;
    set_error(refusal, 503,
              stop_ ? "the server is shutting down"
                    : fmt::format("Redis is unreachable and this node's outbox is full ({} "
                                  "bytes, --redis-outbox-bytes); retry later",
                                  outbox_bytes_ + queue_bytes_));
    refusal.set_header("Retry-After", "5");
    return false;
  }
  entry.request = ++next_request_;
  queue_bytes_ += bytes;
  queue_.push_back(Pending{std::move(entry), std::move(deferred)});
  cv_.notify_one();
  return true;
}

// ---- the writer ----

bool Federation::connect_writer(bool at_start) {
  if (wlink_) return true;
  if (!at_start && Clock::now() < next_connect_) return false;
  next_connect_ = Clock::now() + std::chrono::seconds(1);
  try {
    wlink_ = std::make_unique<RedisLink>(opt_.url, opt_.timeout);
  } catch (const RedisRefused& e) {
    if (at_start) throw;  // a configuration error: refuse to start
    log(Level::kWarn, "federation: {}", e.what());  // a password changed meanwhile
    return false;
  } catch (const std::exception& e) {
    log(at_start ? Level::kWarn : Level::kDebug, "federation: {}", e.what());
    return false;
  }
  if (ever_connected_) ++reconnects_;
  ever_connected_ = true;
  // Caught up once the follower has applied what the log holds now (and what we forward).
  StreamId last;
  try {
    const Reply r = wlink_->command({"XREVRANGE", key("events"), "+", "-", "COUNT", "1"});
    (void)StreamId::parse(text_of(element(element(r.get(), 0), 0)), last);
  } catch (const RedisDown&) {
    wlink_.reset();
    return false;
  }
  {
    std::lock_guard lock(mu_);
    resync_target_ = std::max(resync_target_, last);
  }
  set_state(State::kResyncing);
  log(Level::kInfo, "federation: connected to {} as node '{}'", opt_.url.redacted(), opt_.node_id);
  return true;
}

void Federation::writer_loop() {
  while (true) {
    std::deque<Pending> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stop_ || !queue_.empty(); });
      while (!queue_.empty() && batch.size() < kBatch) {
        queue_bytes_ -= queue_.front().entry.bytes();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (stop_ && batch.empty()) break;
    }
    if (!connect_writer(false) || !forward_outbox()) {
      degrade(batch, "Redis is unreachable");
    } else if (!batch.empty()) {
      append_batch(batch);
    }
    housekeeping();
  }
  if (wlink_ && janitor_) {
    try {
      (void)wlink_->command({"EVAL", kReleaseScript, "1", key("janitor"), opt_.node_id});
    } catch (const RedisDown&) {
    }
    janitor_ = false;
  }
}

void Federation::degrade(std::deque<Pending>& batch, std::string_view why) {
  {
    std::lock_guard lock(mu_);
    if (state_ != State::kDegraded) {
      log(Level::kWarn, "federation: {}; writes are applied here and kept until it answers", why);
      state_ = State::kDegraded;
      since_ = now_seconds();
    }
  }
  for (Pending& p : batch) {
    {
      std::lock_guard lock(mu_);
      waiters_.erase(p.entry.request);
    }
    HttpResponse r;
    {
      std::lock_guard lock(apply_mu_);
      r = applier_.apply(p.entry, now_seconds());
    }
    // What every node would refuse is not forwarded; the rest goes to the log later.
    if (r.status >= 200 && r.status < 300) {
      std::lock_guard lock(mu_);
      outbox_bytes_ += p.entry.bytes();
      p.entry.request = 0;  // nobody waits for it any more
      outbox_.push_back(std::move(p.entry));
    }
    p.deferred->complete(std::move(r));
  }
  batch.clear();
}

void Federation::queue_append(const LogEntry& entry) {
  const std::vector<std::string> f = entry.fields();
  const std::string stream = key("events");
  const std::string maxlen = std::to_string(opt_.maxlen);
  std::vector<std::string_view> args{"XADD", stream, "MAXLEN", "~", maxlen, "*"};
  args.insert(args.end(), f.begin(), f.end());
  wlink_->append(args);
}

bool Federation::forward_outbox() {
  while (true) {
    std::vector<LogEntry> chunk;
    {
      std::lock_guard lock(mu_);
      if (outbox_.empty()) return true;
      for (std::size_t i = 0; i < outbox_.size() && i < kBatch; ++i) chunk.push_back(outbox_[i]);
    }
    std::size_t done = 0;
    StreamId last;
    try {
      for (const LogEntry& e : chunk) queue_append(e);
      for (; done < chunk.size(); ++done) {
        const Reply r = wlink_->next_reply();
        if (r.is_error()) log(Level::kWarn, "federation: Redis refused a forwarded write: {}", r.text());
        else (void)StreamId::parse(r.text(), last);
      }
    } catch (const RedisDown& e) {
      log(Level::kWarn, "federation: {}", e.what());
      wlink_.reset();
    }
    appended_ += done;
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < done; ++i) {
      outbox_bytes_ -= outbox_.front().bytes();
      outbox_.pop_front();
    }
    resync_target_ = std::max(resync_target_, last);
    if (!wlink_) return false;
    if (outbox_.empty()) {
      log(Level::kInfo, "federation: the outbox is forwarded; re-syncing from the log");
      return true;
    }
  }
}

void Federation::append_batch(std::deque<Pending>& batch) {
  const auto deadline = Clock::now() + secs(opt_.answer_timeout);
  {
    std::lock_guard lock(mu_);
    for (const Pending& p : batch) waiters_[p.entry.request] = Waiter{p.deferred, deadline};
  }
  std::size_t done = 0;
  try {
    for (const Pending& p : batch) queue_append(p.entry);
    for (; done < batch.size(); ++done) {
      const Reply r = wlink_->next_reply();
      if (!r.is_error()) continue;
      // Refused by Redis (out of memory, a wrong key type): the client hears why.
      {
        std::lock_guard lock(mu_);
        waiters_.erase(batch[done].entry.request);
      }
      batch[done].deferred->complete(
          detail(503, fmt::format("Redis refused the write: {}", r.text())));
    }
  } catch (const RedisDown& e) {
    wlink_.reset();
    appended_ += done;
    batch.erase(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(done));
    // Those without an answer may or may not be in the log: applying and forwarding them again
    // is harmless (a repeated event changes nothing), losing them is not.
    degrade(batch, e.what());
    return;
  }
  appended_ += done;
  batch.clear();
}

void Federation::renew_lease() {
  const std::string ms = std::to_string(static_cast<long long>(opt_.lease_seconds * 1000));
  const Reply r = wlink_->command({"EVAL", kLeaseScript, "1", key("janitor"), opt_.node_id, ms});
  const bool holder = r.get() != nullptr && r.get()->type == REDIS_REPLY_INTEGER && r.get()->integer == 1;
  if (holder != janitor_.load()) {
    if (holder)
      log(Level::kInfo, "federation: this node holds the janitor lease (sweeps, snapshots)");
    else
      log(Level::kInfo, "federation: another node holds the janitor lease");
    janitor_ = holder;
    if (holder) next_sweep_ = Clock::now() + secs(opt_.cleanup_interval);
  }
}

void Federation::housekeeping() {
  const auto now = Clock::now();
  // Writes appended but not applied here in time (the follower cannot read the log).
  std::vector<std::shared_ptr<Deferred>> late;
  {
    std::lock_guard lock(mu_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      late.push_back(std::move(it->second.deferred));
      it = waiters_.erase(it);
    }
  }
  for (auto& d : late)
    d->complete(answer(202, R"({"ok":true,"detail":"appended to the log; this node has not )"
                            R"(applied it yet"})"));
  if (!wlink_) {
    janitor_ = false;  // a lease we cannot renew is as good as lost
    return;
  }
  try {
    if (now >= next_lease_) {
      next_lease_ = now + secs(opt_.lease_seconds / 3);
      renew_lease();
    }
    const bool any_rule = opt_.retention > 0 || opt_.stale > 0 || opt_.max_age > 0;
    if (janitor_ && any_rule && now >= next_sweep_) {
      next_sweep_ = now + secs(opt_.cleanup_interval);
      JanitorOptions jo;
      jo.retention_seconds = opt_.retention;
      jo.stale_seconds = opt_.stale;
      jo.max_task_age = opt_.max_age;
      // Judged on this node's copy at its clock; applied by every node at the entry's time.
      if (Janitor(store_, jo).due(now_seconds())) {
        LogEntry e;
        e.kind = LogEntry::Kind::kSweep;
        e.retention = opt_.retention;
        e.stale = opt_.stale;
        e.max_age = opt_.max_age;
        e.origin = opt_.node_id;
        queue_append(e);
        const Reply r = wlink_->next_reply();
        if (!r.is_error()) {
          ++sweeps_;
          ++appended_;
        }
      }
    }
  } catch (const RedisDown& e) {
    log(Level::kWarn, "federation: {}", e.what());
    wlink_.reset();
    janitor_ = false;
  }
}

FederationStatus Federation::status() const {
  FederationStatus s;
  {
    std::lock_guard lock(mu_);
    s.state = state_name(static_cast<int>(state_));
    s.since = since_;
    s.outbox = outbox_.size();
    s.outbox_bytes = outbox_bytes_;
  }
  s.node_id = opt_.node_id;
  s.redis = opt_.url.redacted();
  s.prefix = opt_.prefix;
  s.applied = segment_applied().str();
  s.janitor = janitor_;
  s.snapshot_loads = snapshot_loads_;
  s.reconnects = reconnects_;
  s.appended = appended_;
  s.applied_entries = applied_entries_;
  s.snapshots_written = snapshots_written_;
  s.sweeps = sweeps_;
  s.rejected_outbox_full = rejected_full_;
  s.apply_delay = apply_delay_;
  return s;
}

}  // namespace progressista::daemon::federation
