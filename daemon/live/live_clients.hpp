// Live clients on one I/O thread: WebSocket (`/ws`: Progressista's protocol, the delta
// protocol or the operations feed; `/tasks/ws`: the event stream; ws_session.hpp) and
// Server-Sent Events (`/events`: the delta protocol; `/tasks/stream`: the event stream;
// sse_session.hpp). This group
// admits them, takes each tick from the broadcaster and offers every client its frame
// (live_client.hpp says what a client does with it).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "http/access.hpp"
#include "http/stream.hpp"
#include "live/broadcaster.hpp"

namespace progressista::daemon {

class LiveClient;
namespace socketio {
class Endpoint;
}

// The event streams' paths (README.md, "Per-change streams").
inline constexpr std::string_view kTasksWs = "/tasks/ws";
inline constexpr std::string_view kTasksStream = "/tasks/stream";

class LiveClients final : public StreamTaker, public ClientGroup {
 public:
  // `cors`: the allow-list for Socket.IO's polling answers (null: no CORS headers).
  // `share`: the share links live clients may come with (null: none accepted).
  LiveClients(Broadcaster& hub, const TokenSet& tokens, const Cors* cors = nullptr,
              const ShareLinks* share = nullptr);
  ~LiveClients() override;

  // StreamTaker
  [[nodiscard]] bool wants(const HttpRequest& request) const override;
  boost::asio::awaitable<void> serve(boost::beast::tcp_stream stream,
                                     boost::beast::flat_buffer buffer, StreamRequest request,
                                     std::string remote) override;
  // Socket.IO's polling requests (socketio/socketio_endpoint.hpp).
  [[nodiscard]] bool exchanges(const HttpRequest& request) const override;
  boost::asio::awaitable<void> exchange(const HttpRequest& request,
                                        HttpResponse& response) override;
  // ClientGroup (on this thread)
  void deliver(const std::shared_ptr<const Tick>& tick, const Frame& plain) override;
  void go_away() override;

  // For the clients of this group, on this thread.
  Broadcaster& hub() noexcept { return hub_; }
  // Registers a client: from now on every tick is offered to it.
  void join(const std::shared_ptr<LiveClient>& client, boost::asio::any_io_executor ex);
  void remove(LiveClient* client);

 private:
  // The client's frame of the current tick (shared by this thread's clients with the same
  // frame_key).
  [[nodiscard]] Frame frame_for(const LiveClient& client);

  // A share link's Progressista client: the tick's whole-table frame of its scope, built once
  // a tick per scope (empty when `plain` is: nothing for those clients this tick).
  [[nodiscard]] Frame plain_for(const LiveClient& client, const Frame& plain);

  Broadcaster& hub_;
  const TokenSet& tokens_;
  const ShareLinks* share_;
  bool registered_ = false;
  bool going_away_ = false;
  std::unordered_map<LiveClient*, std::shared_ptr<LiveClient>> clients_;
  // Frames built for the tick being delivered, by view key.
  std::shared_ptr<const Tick> tick_;
  std::unordered_map<std::string, Frame> frames_;
  std::unique_ptr<socketio::Endpoint> socketio_;  // /socket.io/ on this thread
};

}  // namespace progressista::daemon
