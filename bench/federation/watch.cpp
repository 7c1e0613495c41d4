#include "watch.hpp"

#include <charconv>
#include <map>

#include <fmt/format.h>
#include <simdjson.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "../fanout/frame_reader.hpp"
#include "../fanout/poster.hpp"

namespace fedbench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using error_code = boost::system::error_code;
using tcp = asio::ip::tcp;
using fanout::now_ns;

namespace {
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxMessage = std::size_t{256} << 20;
}  // namespace

struct Watchers::Client : std::enable_shared_from_this<Client> {
  Client(Watchers& owner, WatchStats& stats)
      : owner(owner), stats(stats), ws(asio::make_strand(owner.io_)) {
    last_n.assign(owner.load_.tasks(), 0);
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    auto& layer = beast::get_lowest_layer(ws);
    const tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), stats.port);
    layer.expires_after(std::chrono::seconds(10));
    auto [cec] = co_await layer.async_connect(ep, kUseTuple);
    if (cec) co_return fail(fmt::format("connect: {}", cec.message()));
    layer.expires_never();
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    ws.read_message_max(kMaxMessage);
    auto [hec] = co_await ws.async_handshake(fmt::format("127.0.0.1:{}", stats.port),
                                             "/ws?protocol=delta", kUseTuple);
    if (hec) co_return fail(fmt::format("WebSocket handshake: {}", hec.message()));
    for (;;) {
      auto [rec, n] = co_await ws.async_read(in, kUseTuple);
      (void)n;
      if (rec) {
        if (!closing) fail(rec == websocket::error::closed ? "closed by the server" : rec.message());
        co_return;
      }
      on_frame(now_ns());
    }
  }

  void on_frame(std::int64_t received) {
    const std::size_t size = in.size();
    ++stats.frames;
    if (!stats.connected) {
      // The snapshot on connecting: the state before the load.
      stats.connected = true;
      owner.ready_.fetch_add(1);
      in.consume(size);
      return;
    }
    (void)in.prepare(simdjson::SIMDJSON_PADDING);  // simdjson reads a little past the end
    const std::string_view frame(static_cast<const char*>(in.data().data()), size);
    fanout::FrameContent content;
    if (!reader.read(frame, owner.load_.tasks(), content)) {
      if (stats.malformed++ == 0) stats.error = fmt::format("malformed frame: {}", reader.error());
    } else {
      for (const fanout::TaskN& t : content.tasks) see(t, received);
    }
    in.consume(size);
  }

  // A frame carries a task's latest n of the tick: the first time a (task, n) shows up, its
  // POST's acknowledgement (event k = n - 1 of the task's lane) is the reference.
  void see(const fanout::TaskN& t, std::int64_t received) {
    if (t.n == 0 || t.n <= last_n[t.task]) return;
    last_n[t.task] = t.n;
    const Lane* lane = owner.load_.lane_of(t.task);
    if (lane == nullptr || !lane->acks) return;
    const std::int64_t acked = lane->acks->at(t.n - 1);
    if (acked == AckLog::kFailed) {
      ++stats.unacked;
      return;
    }
    ++stats.seen;
    std::uint64_t us = 0;
    if (acked == AckLog::kPending)
      ++stats.early;
    else if (received > acked)
      us = static_cast<std::uint64_t>((received - acked) / 1000);
    const bool here = lane->port == stats.port;
    (here ? stats.same : stats.other).record(us);
    const std::int64_t sent = lane->acks->sent_at(t.n - 1);
    if (sent > 0 && received > sent)
      (here ? stats.same_sent : stats.other_sent)
          .record(static_cast<std::uint64_t>((received - sent) / 1000));
  }

  void fail(std::string why) {
    if (stats.error.empty()) stats.error = std::move(why);
    if (!stats.connected) {
      // Counted as settled so that connect() stops waiting for it.
      stats.connected = false;
      owner.ready_.fetch_add(1);
    }
  }

  void close() {
    asio::post(ws.get_executor(), [self = shared_from_this()] {
      self->closing = true;
      error_code ignored;
      beast::get_lowest_layer(self->ws).socket().close(ignored);
    });
  }

  Watchers& owner;
  WatchStats& stats;
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer in;
  fanout::FrameReader reader;
  std::vector<std::uint64_t> last_n;  // per bench task: the highest n seen
  bool closing = false;
};

Watchers::Watchers(const Load& load, const std::vector<std::uint16_t>& ports) : load_(load) {
  stats_.resize(ports.size());
  for (std::size_t i = 0; i < ports.size(); ++i) stats_[i].port = ports[i];
}

Watchers::~Watchers() {
  stop();
}

bool Watchers::connect(std::string& error) {
  for (auto& s : stats_) {
    clients_.push_back(std::make_shared<Client>(*this, s));
    asio::co_spawn(clients_.back()->ws.get_executor(), clients_.back()->run(), asio::detached);
  }
  thread_ = std::thread([this] { io_.run(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ready_.load() < clients_.size() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // Read once the thread set them: ready_ was raised after each write.
  for (const auto& s : stats_) {
    if (!s.connected) {
      error = fmt::format(":{}: {}", s.port, s.error.empty() ? "no snapshot in 10 s" : s.error);
      return false;
    }
  }
  return true;
}

void Watchers::stop() {
  if (!thread_.joinable()) return;
  for (auto& c : clients_) c->close();
  thread_.join();
}

namespace {

// {"tasks":{id:{...},...}} -> id -> the task's JSON text, bench tasks only.
std::map<std::string, std::string> bench_tasks(const std::string& body, std::string& error) {
  std::map<std::string, std::string> out;
  simdjson::ondemand::parser parser;
  const simdjson::padded_string padded(body);
  simdjson::ondemand::document doc;
  simdjson::ondemand::object tasks;
  if (auto e = parser.iterate(padded).get(doc); e || (e = doc["tasks"].get_object().get(tasks))) {
    error = fmt::format("GET /tasks: {}", simdjson::error_message(e));
    return out;
  }
  for (auto field : tasks) {
    std::string_view id, text;
    simdjson::ondemand::object task;
    if (field.unescaped_key().get(id) || field.value().get_object().get(task) ||
        task.raw_json().get(text)) {
      error = "GET /tasks: a task that is not an object";
      return out;
    }
    if (fanout::task_index(id) >= 0) out.emplace(id, text);
  }
  return out;
}

// The task's "n" (a bench task's JSON has no other member named n).
std::uint64_t n_of(std::string_view json) {
  constexpr std::string_view kKey = R"("n":)";
  const std::size_t at = json.find(kKey);
  std::uint64_t n = 0;
  if (at != std::string_view::npos)
    std::from_chars(json.data() + at + kKey.size(), json.data() + json.size(), n);
  return n;
}

std::string tasks_of(std::uint16_t port) {
  const auto body = fanout::http_get({"127.0.0.1", port}, std::string("/tasks?prefix=") +
                                                              std::string(fanout::kTaskPrefix));
  return body ? *body : std::string();
}

}  // namespace

std::vector<Convergence> await_convergence(const Load& load,
                                           const std::vector<std::uint16_t>& ports,
                                           std::chrono::steady_clock::time_point since,
                                           double limit) {
  std::vector<std::uint64_t> expected(load.tasks(), 0);
  std::uint32_t with_events = 0;
  for (const Lane& lane : load.lanes()) {
    for (std::uint32_t j = 0; j < lane.last_n.size(); ++j) {
      expected[lane.first_task + j] = lane.last_n[j];
      if (lane.last_n[j] > 0) ++with_events;
    }
  }
  std::vector<Convergence> out(ports.size());
  const auto deadline = since + std::chrono::nanoseconds(static_cast<std::int64_t>(limit * 1e9));
  for (std::size_t i = 0; i < ports.size(); ++i) {
    Convergence& c = out[i];
    c.port = ports[i];
    c.expected = with_events;
    for (;;) {
      const std::string body = tasks_of(c.port);
      c.error = body.empty() ? "GET /tasks got no 200 within 10 s" : "";
      std::map<std::string, std::string> tasks;
      if (!body.empty()) tasks = bench_tasks(body, c.error);
      c.final = 0;
      for (const auto& [id, json] : tasks) {
        const auto index = static_cast<std::size_t>(fanout::task_index(id));
        if (index < expected.size() && expected[index] > 0 && n_of(json) >= expected[index])
          ++c.final;
      }
      const auto now = std::chrono::steady_clock::now();
      if (c.final == c.expected) {
        c.seconds = std::chrono::duration<double>(now - since).count();
        break;
      }
      if (now >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return out;
}

Agreement compare_nodes(const std::vector<std::uint16_t>& ports) {
  Agreement a;
  if (ports.size() < 2) return a;
  std::string error;
  const auto first = bench_tasks(tasks_of(ports[0]), error);
  for (std::size_t i = 1; i < ports.size(); ++i) {
    const auto other = bench_tasks(tasks_of(ports[i]), error);
    for (const auto& [id, json] : first) {
      ++a.compared;
      const auto it = other.find(id);
      if (it != other.end() && it->second == json) continue;
      if (a.differing++ == 0)
        a.first = fmt::format("{} on :{}: {:.300}\n  on :{}: {:.300}", id, ports[0], json,
                              ports[i], it == other.end() ? "(absent)" : it->second);
    }
    if (other.size() > first.size()) a.differing += static_cast<std::uint32_t>(other.size() - first.size());
  }
  if (!error.empty() && a.first.empty()) a.first = error;
  return a;
}

}  // namespace fedbench
