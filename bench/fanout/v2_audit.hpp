// A check of the compact protocol's content, not only of n: one v2 client keeps every task as
// the protocol says a client builds it (a snapshot replaces everything held; a `u` entry with
// `id` replaces the task, one without merges its members, `null` erasing one; `x` removes),
// and after the drain its tasks are compared member by member with GET /tasks (v1's long
// keys, absolute times in seconds).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <simdjson.h>

namespace fanout {

class V2Audit {
 public:
  // One frame as received (followed by simdjson::SIMDJSON_PADDING readable bytes). A frame
  // the audit cannot read, or an entry a client could not apply (an id-less handle it does
  // not hold), counts as a protocol error.
  void apply(std::string_view frame);

  struct Report {
    std::uint64_t frames = 0;
    std::uint64_t protocol_errors = 0;
    std::string first_protocol_error;
    std::size_t compared = 0;        // tasks of GET /tasks with the bench's prefix
    std::size_t differing = 0;       // of those, tasks whose members differ
    std::size_t missing = 0;         // in GET /tasks, not held
    std::size_t extra = 0;           // held (with the prefix), not in GET /tasks
    std::vector<std::string> first;  // the first few differences, described
  };
  // Compares what is held with `tasks_json`, the body of GET /tasks?prefix=<prefix>.
  [[nodiscard]] Report compare(const std::string& tasks_json, std::string_view prefix);

 private:
  struct Held {
    std::string id;
    std::map<std::string, std::string, std::less<>>
        members;            // short key -> JSON; times absolute ms
    std::uint64_t seq = 0;  // of the frame that last changed it
  };
  void protocol_error(std::string what);

  simdjson::ondemand::parser parser_;
  std::unordered_map<std::uint64_t, Held> held_;
  Report report_;
};

}  // namespace fanout
