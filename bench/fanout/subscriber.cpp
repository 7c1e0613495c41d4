#include "subscriber.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace fanout {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using error_code = boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxMessage = std::size_t{256} << 20;
// A buffer that held a snapshot is given back: a thousand idle 2 MB buffers add up.
constexpr std::size_t kKeepBuffer = std::size_t{1} << 20;

FrameReader& thread_reader() {
  thread_local FrameReader reader;
  return reader;
}
}  // namespace

void ConnectGate::acquire(std::size_t limit) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return in_flight_ < limit; });
  ++in_flight_;
}

void ConnectGate::connected() {
  {
    std::lock_guard lock(mutex_);
    --in_flight_;
    ++ok_;
  }
  changed_.notify_all();
}

void ConnectGate::failed(std::string why) {
  {
    std::lock_guard lock(mutex_);
    --in_flight_;
    ++failed_;
    if (first_error_.empty()) first_error_ = std::move(why);
  }
  changed_.notify_all();
}

bool ConnectGate::wait_settled(std::size_t total, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, deadline, [&] { return ok_ + failed_ >= total; });
}

std::size_t ConnectGate::ok() const {
  std::lock_guard lock(mutex_);
  return ok_;
}

std::size_t ConnectGate::failures() const {
  std::lock_guard lock(mutex_);
  return failed_;
}

std::string ConnectGate::first_error() const {
  std::lock_guard lock(mutex_);
  return first_error_;
}

ThreadStats& Fanout::local() {
  thread_local ThreadStats* mine = nullptr;
  thread_local const Fanout* owner = nullptr;
  if (owner != this) {
    std::lock_guard lock(stats_mutex_);
    stats_.push_back(std::make_unique<ThreadStats>());
    mine = stats_.back().get();
    owner = this;
  }
  return *mine;
}

ThreadStats Fanout::merged() {
  std::lock_guard lock(stats_mutex_);
  ThreadStats all;
  for (const auto& s : stats_) {
    for (int p = 0; p < kProtocols; ++p) {
      all.latency[p].merge(s->latency[p]);
      all.settled[p].merge(s->settled[p]);
      all.from_sent[p].merge(s->from_sent[p]);
      all.early[p] += s->early[p];
      all.unacked[p] += s->unacked[p];
    }
    all.parsed += s->parsed;
    all.cache_hits += s->cache_hits;
    all.max_us_by_second.resize(std::max(all.max_us_by_second.size(), s->max_us_by_second.size()));
    all.over_aim_by_second.resize(all.max_us_by_second.size());
    for (std::size_t i = 0; i < s->max_us_by_second.size(); ++i) {
      all.max_us_by_second[i] = std::max(all.max_us_by_second[i], s->max_us_by_second[i]);
      all.over_aim_by_second[i] += s->over_aim_by_second[i];
    }
  }
  return all;
}

struct Subscriber::Impl {
  // One thread runs every handler in order: a strand per client would only add its locking.
  Impl(asio::io_context& io, bool strand)
      : ws(strand ? asio::any_io_executor(asio::make_strand(io))
                  : asio::any_io_executor(io.get_executor())) {}
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer in;
};

Subscriber::Subscriber(Fanout& fanout, Protocol protocol, asio::io_context& io, unsigned threads)
    : fanout_(fanout),
      protocol_(protocol),
      impl_(std::make_unique<Impl>(io, threads > 1)),
      last_n_(fanout.plan.tasks, 0) {}

Subscriber::~Subscriber() = default;

void Subscriber::start() {
  asio::co_spawn(impl_->ws.get_executor(), run(), asio::detached);
}

asio::awaitable<void> Subscriber::run() {
  auto self = shared_from_this();
  auto& ws = impl_->ws;
  auto& tcp_layer = beast::get_lowest_layer(ws);
  error_code ec;
  const tcp::endpoint ep(asio::ip::make_address(fanout_.server.host, ec), fanout_.server.port);
  if (ec) {
    fanout_.gate.failed(fmt::format("bad address '{}'", fanout_.server.host));
    co_return;
  }
  tcp_layer.expires_after(std::chrono::seconds(30));
  auto [cec] = co_await tcp_layer.async_connect(ep, kUseTuple);
  if (cec) {
    fanout_.gate.failed(fmt::format("connect: {}", cec.message()));
    co_return;
  }
  tcp_layer.expires_never();
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
  ws.read_message_max(kMaxMessage);
  const std::string target = protocol_ == Protocol::kDelta    ? "/ws?protocol=delta"
                             : protocol_ == Protocol::kDelta2 ? "/ws?protocol=delta2"
                             : protocol_ == Protocol::kNchan  ? fanout_.nchan_target
                                                              : "/ws";
  auto [hec] = co_await ws.async_handshake(
      fmt::format("{}:{}", fanout_.server.host, fanout_.server.port), target, kUseTuple);
  if (hec) {
    fanout_.gate.failed(fmt::format("WebSocket handshake: {}", hec.message()));
    co_return;
  }
  // Nchan sends nothing on connecting: the client is live once subscribed.
  if (protocol_ == Protocol::kNchan) mark_connected();
  for (;;) {
    auto [rec, n] = co_await ws.async_read(impl_->in, kUseTuple);
    (void)n;
    if (rec) {
      if (first_) {
        fanout_.gate.failed(fmt::format("before the first frame: {}", rec.message()));
      } else {
        fanout_.live.fetch_sub(1);
        fanout_.live_by[index()].fetch_sub(1);
        if (converged_) {  // converged counts clients still connected, as live does
          fanout_.converged.fetch_sub(1);
          fanout_.converged_by[index()].fetch_sub(1);
        }
        if (!closing_) {
          c_.ended = true;
          c_.end_reason = rec == websocket::error::closed
                              ? fmt::format("closed by the server (code {}: {})",
                                            static_cast<unsigned>(ws.reason().code),
                                            std::string(ws.reason().reason.c_str()))
                              : rec.message();
        }
      }
      co_return;
    }
    on_message(now_ns());
  }
}

void Subscriber::on_message(std::int64_t received) {
  beast::flat_buffer& in = impl_->in;
  const std::size_t size = in.size();
  ++c_.frames;
  c_.bytes += size;
  fanout_.last_frame.store(received, std::memory_order_relaxed);
  if (received >= fanout_.window_start.load(std::memory_order_relaxed)) c_.run_bytes += size;
  if (received >= fanout_.window_start.load(std::memory_order_relaxed) &&
      received < fanout_.window_end.load(std::memory_order_relaxed)) {
    ++c_.window_frames;
    c_.window_bytes += size;
  }
  const auto done = [&in, size] {
    in.consume(size);
    if (in.capacity() > kKeepBuffer) in.shrink_to_fit();
  };
  // The snapshot every client gets on connecting: the state before the run, not measured.
  const auto connected = [&] {
    mark_connected();
    done();
  };
  if (first_ && protocol_ != Protocol::kDelta2) {
    connected();
    return;
  }
  (void)in.prepare(simdjson::SIMDJSON_PADDING);  // simdjson reads a little past the end
  const std::string_view frame(static_cast<const char*>(in.data().data()), size);
  ThreadStats& stats = fanout_.local();
  if (fanout_.audit_client == this) fanout_.audit->apply(frame);
  const std::shared_ptr<const FrameContent> parsed = content(frame, stats);
  if (first_) {
    // v2: that snapshot is read for its handles (parsed once per seq).
    connected();
    return;
  }
  if (parsed) apply(*parsed, received, stats);
  done();
}

std::shared_ptr<const FrameContent> Subscriber::content(std::string_view frame,
                                                        ThreadStats& stats) {
  DeltaCache& cache = fanout_.cache[index()];
  // A Nchan message is one event, not worth a cache (its n would be read to find it).
  const FramePeek peek = protocol_ == Protocol::kPlain || protocol_ == Protocol::kNchan
                             ? FramePeek{}
                             : peek_frame(frame);
  if (peek.seq != 0) {
    if (auto hit = cache.find(peek.kind, peek.seq, frame.size())) {
      ++stats.cache_hits;
      return hit;
    }
  }
  auto fresh = std::make_shared<FrameContent>();
  FrameReader& reader = thread_reader();
  const bool ok = protocol_ == Protocol::kDelta2
                      ? reader.read_v2(frame, fanout_.plan.tasks, fanout_.handles, *fresh)
                  : protocol_ == Protocol::kNchan
                      ? reader.read_event(frame, fanout_.plan.tasks, *fresh)
                      : reader.read(frame, fanout_.plan.tasks, *fresh);
  if (!ok) {
    if (c_.malformed++ == 0)
      c_.first_malformed = fmt::format("{} (frame: {:.200})", reader.error(), frame);
    return nullptr;
  }
  ++stats.parsed;
  if (peek.seq != 0 && fresh->kind == peek.kind && fresh->seq == peek.seq) cache.put(fresh);
  return fresh;
}

void Subscriber::apply(const FrameContent& frame, std::int64_t received, ThreadStats& stats) {
  using Kind = FrameContent::Kind;
  const bool in_run = received >= fanout_.window_start.load(std::memory_order_relaxed);
  switch (in_run ? frame.kind : Kind::kOther) {
    case Kind::kDelta:
      ++c_.deltas;
      break;
    case Kind::kSnapshot:
      ++c_.snapshots;
      if (frame.reset) ++c_.resets;
      break;
    case Kind::kPlain:
      ++c_.plain;
      break;
    case Kind::kError:
      ++c_.errors;
      break;
    case Kind::kEvent:
      ++c_.events;
      break;
    case Kind::kOther:
      if (in_run) ++c_.other;
      break;
  }
  if (frame.unknown_handles != 0) {
    if (c_.unknown_handles == 0) c_.first_unknown = frame.first_unknown;
    c_.unknown_handles += frame.unknown_handles;
  }
  if (received < fanout_.window_end.load(std::memory_order_relaxed) && in_run)
    c_.window_updates += frame.tasks.size();
  if (frame.kind == Kind::kDelta || frame.kind == Kind::kSnapshot || frame.kind == Kind::kEvent) {
    if (frame.seq < last_seq_) ++c_.seq_back;
    if (frame.kind != Kind::kSnapshot && frame.seq == last_seq_) ++c_.seq_repeat;
    last_seq_ = std::max(last_seq_, frame.seq);
  }
  LatencyHistogram& latency = stats.latency[index()];
  LatencyHistogram& settled = stats.settled[index()];
  LatencyHistogram& from_sent = stats.from_sent[index()];
  const std::int64_t settled_from =
      fanout_.window_start.load(std::memory_order_relaxed) + 1'000'000'000;
  if (stats.max_us_by_second.size() != fanout_.timeline_seconds) {
    stats.max_us_by_second.assign(fanout_.timeline_seconds, 0);
    stats.over_aim_by_second.assign(fanout_.timeline_seconds, 0);
  }
  const std::int64_t since_start = received - fanout_.window_start.load(std::memory_order_relaxed);
  const std::size_t second = since_start < 0
                                 ? std::numeric_limits<std::size_t>::max()
                                 : static_cast<std::size_t>(since_start / 1'000'000'000);
  for (const TaskN& tn : frame.tasks) {
    if (tn.n == 0) continue;  // the task as created before the run
    std::uint32_t& last = last_n_[tn.task];
    if (tn.n <= last) {
      if (tn.n < last) ++c_.regressions;
      continue;
    }
    const std::uint32_t before = last;
    last = static_cast<std::uint32_t>(tn.n);
    ++c_.seen;
    const std::int64_t acked = fanout_.acks.at(tn.n - 1);
    if (const std::int64_t sent = fanout_.acks.sent_at(tn.n - 1);
        sent > 0 && received >= sent && acked != AckLog::kFailed)
      from_sent.record(static_cast<std::uint64_t>((received - sent) / 1000));
    if (acked == AckLog::kFailed) {
      ++stats.unacked[index()];
    } else if (acked == AckLog::kPending || acked > received) {
      ++stats.early[index()];
      latency.record(0);
      if (acked >= settled_from) settled.record(0);
    } else {
      const auto us = static_cast<std::uint64_t>((received - acked) / 1000);
      latency.record(us);
      if (acked >= settled_from) settled.record(us);
      if (second < stats.max_us_by_second.size()) {
        stats.max_us_by_second[second] = std::max(stats.max_us_by_second[second], us);
        if (us > fanout_.aim_us) ++stats.over_aim_by_second[second];
      }
    }
    if (recounted_ && !converged_) {
      const std::uint64_t target = fanout_.final_n[tn.task];
      if (before < target && tn.n >= target && ++converged_tasks_ == last_n_.size())
        mark_converged();
    }
  }
}

void Subscriber::mark_connected() {
  first_ = false;
  fanout_.live.fetch_add(1);
  fanout_.live_by[index()].fetch_add(1);
  fanout_.gate.connected();
}

void Subscriber::mark_converged() {
  converged_ = true;
  fanout_.converged.fetch_add(1);
  fanout_.converged_by[index()].fetch_add(1);
}

void Subscriber::recount() {
  asio::post(impl_->ws.get_executor(), [self = shared_from_this()] {
    if (self->recounted_ || !self->fanout_.final_ready()) return;
    self->recounted_ = true;
    std::uint32_t n = 0;
    for (std::size_t t = 0; t < self->last_n_.size(); ++t)
      if (self->last_n_[t] >= self->fanout_.final_n[t]) ++n;
    self->converged_tasks_ = n;
    if (n == self->last_n_.size()) self->mark_converged();
  });
}

void Subscriber::close() {
  asio::post(impl_->ws.get_executor(), [self = shared_from_this()] {
    if (self->closing_ || self->c_.ended || !self->impl_->ws.is_open()) return;
    self->closing_ = true;
    self->impl_->ws.async_close(websocket::close_code::normal, [self](const error_code&) {});
  });
}

}  // namespace fanout
