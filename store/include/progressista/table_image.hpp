// Every task of a table as one byte string, exactly as stored (server-clock fields, sums and
// flags included), and back: the federation's snapshot, from which a node that joins late or
// finds its place trimmed from the log rebuilds the table every other node holds.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "progressista/task.hpp"
#include "progressista/task_table.hpp"

namespace progressista {

// Appends a versioned image of every live task (one consistent copy per task). O(tasks).
void append_table_image(std::string& out, const TaskTable& table);

// Hands `each` every record of an image made by append_table_image. Returns "" when the whole
// image was read, else what is wrong with it (a foreign or truncated image: nothing after the
// fault is handed over).
[[nodiscard]] std::string read_table_image(std::string_view image,
                                           const std::function<void(const TaskRecord&)>& each);

}  // namespace progressista
