// What `progressista inspect` reports, read from the segment once.
#include "cli/inspect_report.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <queue>
#include <utility>

#include "progressista/segment.hpp"

namespace progressista::daemon {
namespace {

// Newest first; ties broken by id so that repeated runs list the same tasks.
bool newer(const TaskRef& a, const TaskRef& b) {
  if (a.updated_at != b.updated_at) {
    return a.updated_at > b.updated_at;
  }
  return a.task_id < b.task_id;
}

// The `limit` most recently updated tasks, newest first. One pass over the slots with a
// bounded heap: O(capacity) reads, O(limit) memory.
std::vector<TaskRef> newest_tasks(const TaskTable& table, std::uint32_t limit) {
  std::vector<TaskRef> out;
  if (limit == 0) {
    return out;
  }
  // With `newer` as the ordering, the heap's top is the oldest task kept: the one to drop.
  std::priority_queue<TaskRef, std::vector<TaskRef>, decltype(&newer)> heap(&newer);
  table.for_each([&](const TaskRecord& rec) {
    if (heap.size() == limit && rec.updated_at < heap.top().updated_at) {
      return;
    }
    heap.push(TaskRef{rec.updated_at, std::string(rec.task_id.view())});
    if (heap.size() > limit) {
      heap.pop();
    }
  });
  out.reserve(heap.size());
  while (!heap.empty()) {
    out.push_back(heap.top());
    heap.pop();
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

Facts gather(Store& store, std::optional<std::string> problems, std::uint32_t limit) {
  const Segment& seg = store.segment();
  Facts f;
  f.name = seg.name();
  f.path = fmt::format("{}/{}", kShmDir, seg.name());
  f.created = seg.created();
  f.replaced = seg.replaced();
  // Once replaced, the path describes another segment (or none): its mode is not ours.
  struct stat st {};
  if (!f.replaced && ::stat(f.path.c_str(), &st) == 0) {
    f.have_file = true;
    f.file_mode = st.st_mode & 07777;
    f.file_uid = st.st_uid;
  }
  f.layout_version = seg.layout_version();
  f.created_at = seg.created_at();
  f.creator_pid = seg.creator_pid();
  f.creator_alive = process_alive(f.creator_pid);
  f.capacity = seg.capacity();
  f.bytes = seg.size();
  f.ring_size = store.feed().ring_size();
  f.generation = seg.generation();
  f.live_tasks = store.table().size();
  f.memory = store.table().memory();
  f.feed_head = store.feed().head();
  for (std::size_t i = 0; i < kCounterCount; ++i) {
    f.counters[i] = store.counters().get(static_cast<Counter>(i));
  }
  f.processes = store.processes().list();
  f.janitor_pid = store.janitor().holder();
  f.janitor_alive = process_alive(f.janitor_pid);
  f.problems = std::move(problems);
  f.limit = limit;
  f.newest = newest_tasks(store.table(), limit);
  f.now_ns = now_ns();
  return f;
}

}  // namespace progressista::daemon
