#include "live/change_frames.hpp"

#include <optional>
#include <string_view>
#include <unordered_map>

#include "progressista/task_json.hpp"

namespace progressista::daemon {

namespace {

// Collects the messages of one frame: their text back to back, and where each ends.
class Messages {
 public:
  explicit Messages(ChangeFraming framing) : framing_(framing) {}

  fmt::memory_buffer& text() noexcept { return out_; }
  // Opens a message (SSE: its `event:` and `data:` prefixes).
  void open(std::string_view event_name) {
    if (framing_ == ChangeFraming::kSseNamed) {
      out_.append(std::string_view{"event: "});
      out_.append(event_name);
      out_.push_back('\n');
    }
    if (framing_ != ChangeFraming::kWebSocket) out_.append(std::string_view{"data: "});
  }
  // Closes the message opened last (SSE: a blank line ends the event; `id:` is written by
  // finish() into the last one).
  void close() {
    if (framing_ != ChangeFraming::kWebSocket) {
      out_.push_back('\n');
      last_end_ = out_.size();
      out_.push_back('\n');
    }
    ends_.push_back(out_.size());
  }
  [[nodiscard]] Frame finish(std::uint64_t seq) {
    if (ends_.empty()) return {};
    if (framing_ != ChangeFraming::kWebSocket) {
      // `id:` inside the last event block, before its blank line.
      const std::string id = fmt::format("id: {}\n", seq);
      fmt::memory_buffer with_id;
      with_id.append(std::string_view(out_.data(), last_end_));
      with_id.append(id);
      with_id.append(std::string_view(out_.data() + last_end_, out_.size() - last_end_));
      return Frame::of(seq, with_id);  // SSE text is written as it is: no message ends
    }
    Frame f = Frame::of(seq, out_);
    f.ends = std::make_shared<const std::vector<std::size_t>>(std::move(ends_));
    return f;
  }

 private:
  ChangeFraming framing_;
  fmt::memory_buffer out_;
  std::vector<std::size_t> ends_;
  std::size_t last_end_ = 0;  // SSE: where the last event's blank line starts
};

}  // namespace

Frame events_frame(const Tick& tick, const View& view, ChangeFraming framing) {
  Messages m(framing);
  fmt::memory_buffer& out = m.text();
  for (const TickItem& it : tick.items) {
    if (!matches(view, it)) continue;
    const std::string_view name = task_event_name(it.event);
    m.open(name);
    out.append(std::string_view{"{\"event\":\""});
    out.append(name);
    fmt::format_to(std::back_inserter(out), R"(","seq":{},"task":)", tick.seq);
    if (it.removed) {
      out.append(std::string_view{"{\"task_id\":"});
      append_json_string(out, it.task_id);
      out.push_back('}');
    } else {
      out.append(it.json);
    }
    out.push_back('}');
    m.close();
  }
  return m.finish(tick.seq);
}

Frame operations_frame(const Tick& tick, const View& view) {
  Messages m(ChangeFraming::kWebSocket);
  for (const TickItem& it : tick.items) {
    if (it.removed || it.operation.empty() || !matches(view, it)) continue;
    m.open({});
    m.text().append(it.operation);
    m.close();
  }
  return m.finish(tick.seq);
}

Frame sse_id_frame(std::uint64_t seq) {
  fmt::memory_buffer out;
  fmt::format_to(std::back_inserter(out), "id: {}\n\n", seq);
  return Frame::of(seq, out);
}

Tick table_tick(const TaskTable& table, const View& view, std::uint64_t seq) {
  Tick tick;
  tick.seq = seq;
  fmt::memory_buffer scratch;
  table.for_each([&](const TaskRecord& t) {
    if (view.matches(t)) tick.items.push_back(upserted_item(t, TaskEvent::kUpdated, scratch));
  });
  return tick;
}

Tick merge_ticks(const std::vector<std::shared_ptr<const Tick>>& ticks) {
  Tick merged;
  if (ticks.empty()) return merged;
  merged.seq = ticks.back()->seq;
  // Items in the order of their last change; an earlier place of the same task is emptied.
  // The keys point into `ticks`, which outlive the map.
  std::vector<std::optional<TickItem>> order;
  std::unordered_map<std::string_view, std::size_t> at;  // task_id -> index in order
  for (const auto& tick : ticks) {
    for (const TickItem& it : tick->items) {
      bool was_created = false;
      std::optional<TickItem> moved;  // an earlier move out of a project, still to be told
      if (const auto found = at.find(it.task_id); found != at.end()) {
        std::optional<TickItem>& before = order[found->second];
        at.erase(found);
        // A removal then a re-creation: both are told (the compact protocol gives the new
        // task another handle, and the old one must be dropped).
        if (!before->removed) {
          was_created = before->event == TaskEvent::kCreated;
          if (before->moved) moved = std::move(before);
          before.reset();
          if (was_created && it.removed) continue;  // came and went unseen
        }
      }
      order.emplace_back(it);
      if (was_created && it.event == TaskEvent::kUpdated) order.back()->event = TaskEvent::kCreated;
      if (moved && !it.removed) {  // from where it was before the first move
        order.back()->moved = true;
        order.back()->moved_from = std::move(moved->moved_from);
        order.back()->had_project = moved->had_project;
      }
      at.emplace(it.task_id, order.size() - 1);
    }
  }
  merged.t_ms = ticks.back()->t_ms;
  // A compact item is relative to its own tick's time and to the state before it, which a
  // client behind by several ticks does not hold: the merged frame carries whole states.
  const bool several = ticks.size() > 1;
  for (auto& item : order) {
    if (!item) continue;
    if (several) item->compact_stale = true;
    merged.items.push_back(std::move(*item));
  }
  return merged;
}

}  // namespace progressista::daemon
