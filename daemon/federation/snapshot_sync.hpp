// The federation's snapshot, `<prefix>:snapshot`: every task as stored and the id of the last
// log entry it covers, written by the janitor-lease holder and loaded by a node that joins
// late or finds its place trimmed from the log.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "federation/log_entry.hpp"
#include "progressista/store.hpp"

namespace progressista::daemon::federation {

// The value stored: "PGS1 <id>\n" and the table image.
[[nodiscard]] std::string make_snapshot(const TaskTable& table, StreamId covers);

struct LoadedSnapshot {
  StreamId covers;
  std::size_t tasks = 0;    // records put
  std::size_t removed = 0;  // local tasks the snapshot does not hold
  std::size_t failed = 0;   // records that did not fit (table full)
};

// Makes the table hold exactly the snapshot's tasks: puts every record as stored, removes the
// tasks it lacks (children before parents), then rebuilds parents' sums. Returns "" or why the
// value is not a snapshot (the table is then untouched).
[[nodiscard]] std::string load_snapshot(Store& store, std::string_view value, double now,
                                        LoadedSnapshot& out);

}  // namespace progressista::daemon::federation
