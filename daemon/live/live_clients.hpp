// Live clients on one I/O thread: WebSocket (`/ws`, Progressista's protocol or the delta
// protocol) and Server-Sent Events (`/events`). Each client has at most one frame in flight
// and one pending; a newer frame replaces the pending one, so a slow reader costs memory for
// two frames at most, and one blocked past the client timeout is disconnected.
#pragma once

#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "http/access.hpp"
#include "live/broadcaster.hpp"
#include "http/stream.hpp"

namespace progressista::daemon {

class LiveClient;

class LiveClients final : public StreamTaker, public ClientGroup {
 public:
  LiveClients(Broadcaster& hub, const TokenSet& tokens);
  ~LiveClients() override;

  // StreamTaker
  [[nodiscard]] bool wants(const HttpRequest& request) const override;
  boost::asio::awaitable<void> serve(boost::beast::tcp_stream stream,
                                     boost::beast::flat_buffer buffer, StreamRequest request,
                                     std::string remote) override;
  // ClientGroup (on this thread)
  void deliver(const std::shared_ptr<const Tick>& tick, const Frame& plain) override;
  void go_away() override;

  // For the clients of this group.
  Broadcaster& hub() noexcept { return hub_; }
  void remove(LiveClient* client);
  // The frame of `view` for the current tick (shared by this thread's clients of the view).
  [[nodiscard]] Frame frame_for(const View& view);

 private:
  boost::asio::awaitable<void> serve_ws(boost::beast::tcp_stream stream,
                                        boost::beast::flat_buffer buffer, StreamRequest request,
                                        std::string remote);
  boost::asio::awaitable<void> serve_sse(boost::beast::tcp_stream stream, StreamRequest request,
                                         std::string remote);
  void join(const std::shared_ptr<LiveClient>& client, boost::asio::any_io_executor ex);

  Broadcaster& hub_;
  const TokenSet& tokens_;
  bool registered_ = false;
  bool going_away_ = false;
  std::unordered_map<LiveClient*, std::shared_ptr<LiveClient>> clients_;
  // Frames built for the tick being delivered, by view key.
  std::shared_ptr<const Tick> tick_;
  std::unordered_map<std::string, Frame> frames_;
};

}  // namespace progressista::daemon
