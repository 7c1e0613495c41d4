// A Server-Sent Events live client (`GET /events`): the delta protocol's frames, each an
// event whose id is its seq. `Last-Event-ID` (or `?last_event_id=`) resumes with what the
// client missed when the broadcaster can tell it, else a snapshot with "reset".
#pragma once

#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "http/share_token.hpp"
#include "http/stream.hpp"

namespace progressista::daemon {

class LiveClients;

// Serves the (authenticated) client as a member of `group` until it goes away; with a share
// link's `scope`, its view never leaves it.
boost::asio::awaitable<void> serve_events(LiveClients& group, boost::beast::tcp_stream stream,
                                          StreamRequest request, std::string remote,
                                          std::optional<ShareScope> scope = std::nullopt);

}  // namespace progressista::daemon
