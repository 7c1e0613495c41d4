// The per-change protocols' frames: the event streams (GET /tasks/stream, WS /tasks/ws), one
// message per change of a task, and the operations tracker's feed (WS /ws?protocol=operations),
// one message per task that changed. Built from a Tick once per view and shared, as view.hpp's
// frames are; README.md ("Per-change streams", "The operations feed") has the shapes.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "live/view.hpp"

namespace progressista::daemon {

// How an event stream's messages are framed: WebSocket messages, or SSE text (`data:` lines;
// `event:` lines as well when named).
enum class ChangeFraming : std::uint8_t { kWebSocket, kSse, kSseNamed };

// {"event":"task.updated","seq":S,"task":{...}} for each item `view` matches, in the tick's
// order (a removal's task is {"task_id":...}). SSE: the last message carries `id: S`, so a
// connection cut inside a tick resumes before it. Null when the view matches nothing.
[[nodiscard]] Frame events_frame(const Tick& tick, const View& view, ChangeFraming framing);
// The operations feed's message of each upsert `view` matches (removals have no message in the
// tracker's vocabulary). Null when the view matches nothing.
[[nodiscard]] Frame operations_frame(const Tick& tick, const View& view);
// "id: S" alone: sets an EventSource's last event id without a message.
[[nodiscard]] Frame sse_id_frame(std::uint64_t seq);

// Every live task of `view` as an update, at `seq`: what a per-change client is sent when its
// changes cannot be told (a reset tick, a resume point the feed no longer covers, ?snapshot=1).
// O(tasks in the table).
[[nodiscard]] Tick table_tick(const TaskTable& table, const View& view, std::uint64_t seq);
// Several consecutive ticks as one, for a client that fell behind: each task once, in its latest
// state, at the place of its last change. A task created within them stays "created"; one
// created and removed within them is left out; one removed and created again is both. A move
// out of a project within them is kept on the item (TickItem::moved). O(items).
[[nodiscard]] Tick merge_ticks(const std::vector<std::shared_ptr<const Tick>>& ticks);

}  // namespace progressista::daemon
