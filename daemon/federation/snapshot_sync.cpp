#include "federation/snapshot_sync.hpp"

#include <unordered_set>
#include <vector>

#include "progressista/table_image.hpp"

namespace progressista::daemon::federation {

namespace {
constexpr std::string_view kMagic = "PGS1 ";
}  // namespace

std::string make_snapshot(const TaskTable& table, StreamId covers) {
  std::string out(kMagic);
  out += covers.str();
  out.push_back('\n');
  append_table_image(out, table);
  return out;
}

std::string load_snapshot(Store& store, std::string_view value, double now, LoadedSnapshot& out) {
  out = LoadedSnapshot{};
  if (!value.starts_with(kMagic)) return "not a Progressista snapshot";
  const std::size_t eol = value.find('\n');
  if (eol == std::string_view::npos ||
      !StreamId::parse(value.substr(kMagic.size(), eol - kMagic.size()), out.covers))
    return "the snapshot's log id is unreadable";
  const std::string_view image = value.substr(eol + 1);
  // Read it once to check it and collect its ids (a corrupt image leaves the table as it was),
  // then again to put its records: never every record in memory at once.
  std::unordered_set<std::string> keep;
  if (std::string error =
          read_table_image(image, [&](const TaskRecord& r) { keep.emplace(r.task_id.view()); });
      !error.empty())
    return error;
  store.follow();
  TaskTable& table = store.table();
  (void)read_table_image(image, [&](const TaskRecord& r) {
    if (table.put(r) == Upsert::kTableFull) ++out.failed; else ++out.tasks;
  });
  const auto leftovers = [&] {
    std::vector<std::string> gone;
    table.for_each([&](const TaskRecord& t) {
      if (!keep.contains(std::string(t.task_id.view()))) gone.emplace_back(t.task_id.view());
    });
    return gone;
  };
  std::vector<std::string> gone = leftovers();
  if (gone.empty()) return "";  // the records as stored, sums included: nothing to recount
  // put() moves no sums: recount, so that the tasks about to go have their true children, then
  // remove them leaves first (a task with children is never removed), and recount again.
  table.recount_families(now);
  for (int pass = 0; pass <= limits::kMaxParentDepth + 1 && !gone.empty(); ++pass) {
    for (const std::string& id : gone) out.removed += table.remove(id);
    gone = leftovers();
  }
  table.recount_families(now);
  return "";
}

}  // namespace progressista::daemon::federation
