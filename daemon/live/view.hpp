// What a live client watches (everything, one task, a task_id prefix or a project) and the
// frames it is sent: Progressista's {"tasks": {...}} and the delta protocol's snapshot and
// delta frames. The frame text is built here and nowhere else.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "http/share_token.hpp"
#include "progressista/status.hpp"
#include "progressista/task_table.hpp"

namespace progressista::daemon {

struct View {
  enum class Kind : std::uint8_t { kAll, kTask, kPrefix, kProject };
  Kind kind = Kind::kAll;
  std::string value;
  // A share link's: the view shows only tasks that are within it too, whatever the client
  // asks for (a client changing its view keeps it: see WsSession::on_message).
  std::optional<ShareScope> scope = std::nullopt;

  [[nodiscard]] bool all() const noexcept { return kind == Kind::kAll && !scope; }
  [[nodiscard]] bool matches(std::string_view task_id, std::string_view project,
                             bool has_project) const noexcept;
  [[nodiscard]] bool matches(const TaskRecord& task) const noexcept;
  // A stable name for the view ("all", "task:ID", ...), used to share frames between clients.
  [[nodiscard]] std::string key() const;
};

// Lifecycle events of the delta protocol.
enum class TaskEvent : std::uint8_t { kCreated, kUpdated, kClosed, kFailed, kStale, kRemoved };
[[nodiscard]] std::string_view task_event_name(TaskEvent e) noexcept;

// One task's change within a tick: its JSON (or its removal) and what a view needs to filter.
struct TickItem {
  std::string task_id;
  std::string project;
  bool has_project = false;
  bool removed = false;
  TaskEvent event = TaskEvent::kUpdated;
  std::string json;       // the task object; empty for removals
  std::string operation;  // the operations feed's message for this state; empty for removals
                          // and while the feed has no client
  // The compact delta protocol (compact_delta.hpp), set by CompactState::apply: the task's
  // handle (0: none, the item is not for that protocol) and the members that changed since its
  // previous state, relative to the tick's time. `compact_stale`: those no longer apply (the
  // item was merged from several ticks): the frame carries the whole state from `json`.
  std::uint64_t handle = 0;
  std::string compact;
  bool compact_stale = false;
  // Set by CompactState::apply: the task moved from project `moved_from` (none: !had_project).
  bool moved = false;
  bool had_project = false;
  std::string moved_from;
};

// True when `view` shows the task of `item`.
[[nodiscard]] inline bool matches(const View& view, const TickItem& item) noexcept {
  return view.matches(item.task_id, item.project, item.has_project);
}

// The item for a task's new state (its JSON written through `scratch`) or for its removal.
// `with_operation`: also the operations feed's message (a meta parse and a second
// serialization, so built only while that feed has clients).
[[nodiscard]] TickItem upserted_item(const TaskRecord& task, TaskEvent event,
                                     fmt::memory_buffer& scratch, bool with_operation = true);
[[nodiscard]] TickItem removed_item(std::string task_id);

// A frame's text, built once and shared by every client it goes to, with the sequence number
// it is worth (SSE ids, skipping ticks a client has): 0 for frames without one (Progressista's
// and error frames). Empty (false) when there is nothing to send. A frame of the per-change
// protocols holds several WebSocket messages: `ends` has the end offset of each in the text.
struct Frame {
  std::uint64_t seq = 0;
  std::shared_ptr<const std::string> bytes;
  std::shared_ptr<const std::vector<std::size_t>> ends;  // null: the text is one message

  [[nodiscard]] static Frame of(std::uint64_t seq, const fmt::memory_buffer& text) {
    return {seq, std::make_shared<const std::string>(text.data(), text.size()), nullptr};
  }
  explicit operator bool() const noexcept { return bytes != nullptr; }
  [[nodiscard]] const std::string& text() const noexcept { return *bytes; }
};

// What the broadcaster read from the change feed in one tick, shared read-only by every
// I/O thread. `reset`: the feed was lapped, clients must be sent a new snapshot.
struct Tick {
  std::uint64_t seq = 0;
  bool reset = false;
  std::vector<TickItem> items;
  Frame all_delta;  // delta_frame(*this, View{}), built once for every thread
  std::int64_t t_ms = 0;  // when it was handed out (epoch ms): the compact protocol's frame time
};

// {"tasks": {...}} with the view's live tasks (Progressista's frame and GET /tasks body).
void append_tasks_object(fmt::memory_buffer& out, const TaskTable& table, const View& view);
// Progressista's frame for a view narrower than the table (a share link's): append_tasks_object.
[[nodiscard]] Frame scoped_plain_frame(const TaskTable& table, const View& view);
// {"type":"snapshot","seq":S[,"reset":true],"tasks":{...}}
[[nodiscard]] Frame snapshot_frame(const TaskTable& table, const View& view, std::uint64_t seq,
                                   bool reset);
// {"type":"delta","seq":S,"upserts":{...},"removed":[...],"events":[...]} for the items the
// view matches; null when it matches none.
[[nodiscard]] Frame delta_frame(const Tick& tick, const View& view);

}  // namespace progressista::daemon
