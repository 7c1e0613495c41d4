// A WebSocket live client (`GET /ws`): Progressista's protocol (the whole table on every
// change) or, with the `progressista.delta.v1` subprotocol or `?protocol=delta`, the delta
// protocol, whose clients may narrow their view with subscribe/unsubscribe messages, within a
// budget of messages a second (control_message.hpp). Any other `?protocol=` is closed with 1008.
#pragma once

#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "http/share_token.hpp"
#include "http/stream.hpp"

namespace progressista::daemon {

class LiveClients;

// Accepts the upgrade in `request` (already checked to be one) and serves the client, as a
// member of `group`, until it goes away; one not `authorized` is closed with 4401, one asking
// for a protocol /ws does not serve with 1008. With a share link's `scope`, every protocol's
// view stays within it, whatever the client subscribes to.
boost::asio::awaitable<void> serve_websocket(LiveClients& group, bool authorized,
                                             boost::beast::tcp_stream stream, StreamRequest request,
                                             std::string remote,
                                             std::optional<ShareScope> scope = std::nullopt);

}  // namespace progressista::daemon
