#include "live/sse_session.hpp"

#include <array>
#include <charconv>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>

#include "live/live_client.hpp"
#include "live/live_clients.hpp"
#include "progressista/query.hpp"

namespace progressista::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
using error_code = boost::system::error_code;

namespace {

using Protocol = LiveClient::Protocol;

class SseSession final : public LiveClient {
 public:
  SseSession(LiveClients& group, Protocol protocol, View view, std::string remote,
             beast::tcp_stream&& stream)
      : LiveClient(group, protocol, std::move(view), std::move(remote), stream.get_executor()),
        stream_(std::move(stream)) {}

  // The response head, the first frame (a resume or a snapshot), then waits for the client
  // to go away while the writer sends. `snapshot`: the event stream starts with every task.
  asio::awaitable<void> run(std::string_view last_event_id, bool snapshot);

  std::uint64_t arrived = 0;  // the broadcaster's seq when the request came

 protected:
  void close_transport() override {
    error_code ignored;
    stream_.socket().close(ignored);
  }
  asio::awaitable<error_code> send(const Frame& frame) override {
    if (protocol == Protocol::kEventsSse) {  // the event stream's frames are SSE text already
      auto [ec, n] = co_await asio::async_write(stream_.socket(), asio::buffer(frame.text()),
                                                kUseTuple);
      (void)n;
      co_return ec;
    }
    const std::string head = fmt::format("id: {}\ndata: ", frame.seq);
    const std::array<asio::const_buffer, 3> parts{asio::buffer(head), asio::buffer(frame.text()),
                                                  asio::buffer("\n\n", 2)};
    auto [ec, n] = co_await asio::async_write(stream_.socket(), parts, kUseTuple);
    (void)n;
    co_return ec;
  }
  asio::awaitable<void> send_close(CloseCode, std::string_view) override {
    error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    co_return;
  }
  // A comment keeps proxies from timing the stream out.
  asio::awaitable<bool> on_idle() override {
    auto [ec, n] =
        co_await asio::async_write(stream_.socket(), asio::buffer(": ping\n\n", 8), kUseTuple);
    (void)n;
    co_return static_cast<bool>(ec);
  }

 private:
  // The changes after `last_event_id` when the broadcaster can tell them, else a snapshot
  // with "reset" (the client's state is too old to patch, or from another segment).
  [[nodiscard]] Frame first_frame(std::string_view last_event_id) const;

  beast::tcp_stream stream_;
};

Frame SseSession::first_frame(std::string_view last_event_id) const {
  Broadcaster& hub = group_.hub();
  if (last_event_id.empty()) return hub.snapshot_of(view, false);
  std::uint64_t after = 0;
  const char* end = last_event_id.data() + last_event_id.size();
  const auto [ptr, ec] = std::from_chars(last_event_id.data(), end, after);
  std::optional<Frame> missed;
  if (ec == std::errc() && ptr == end) missed = hub.resume(after, view);
  return missed ? *missed : hub.snapshot_of(view, true);
}

asio::awaitable<void> SseSession::run(std::string_view last_event_id, bool snapshot) {
  static constexpr std::string_view kHead =
      "HTTP/1.1 200 OK\r\nServer: progressista\r\nContent-Type: text/event-stream\r\n"
      "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\nConnection: close\r\n\r\n"
      "retry: 2000\n\n";
  auto [hec, hn] = co_await asio::async_write(stream_.socket(), asio::buffer(kHead), kUseTuple);
  (void)hn;
  if (hec) co_return;

  group_.join(shared_from_this(), stream_.get_executor());
  // Joined first, then the first frame: every tick after it reaches the client.
  if (per_change()) {
    start_changes(last_event_id, snapshot, arrived);
  } else if (const Frame first = first_frame(last_event_id)) {
    replace(first);
  }
  asio::co_spawn(stream_.get_executor(), writer(), asio::detached);

  // The client never speaks again; a read ends when it goes away.
  std::array<char, 512> sink{};
  for (;;) {
    auto [rec, n] = co_await stream_.socket().async_read_some(asio::buffer(sink), kUseTuple);
    (void)n;
    if (rec) break;
  }
  end();
  group_.remove(this);
}

}  // namespace

asio::awaitable<void> serve_events(LiveClients& group, beast::tcp_stream stream,
                                   StreamRequest request, std::string remote,
                                   std::optional<ShareScope> scope) {
  const std::uint64_t arrived = group.hub().seq();
  View view;
  std::string last_id;
  Protocol protocol = Protocol::kSse;
  bool named = false, snapshot = false;
  {
    const BeastRequest adapter(request, remote);
    const HttpRequest& plain = adapter.view();
    view = view_from_query(plain.query);
    view.scope = std::move(scope);
    last_id = plain.header("last-event-id");
    if (last_id.empty()) (void)query_param(plain.query, "last_event_id", last_id);
    if (plain.path == kTasksStream) {
      protocol = Protocol::kEventsSse;
      named = query_flag(plain.query, "named");
      snapshot = query_flag(plain.query, "snapshot");
    }
  }
  auto session = std::make_shared<SseSession>(group, protocol, std::move(view), std::move(remote),
                                               std::move(stream));
  session->named = named;
  session->arrived = arrived;
  co_await session->run(last_id, snapshot);
}

}  // namespace progressista::daemon
