// `progressista inspect`. It never enrolls in the process registry, and unless --create or
// --check needs write access it maps the segment read-only, so the report cannot change
// the table it describes. What it reports is gathered in inspect_facts.cpp and written by
// inspect_text.cpp or inspect_json.cpp.
#include "cli/inspect.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/inspect_report.hpp"
#include "config.hpp"
#include "option_checks.hpp"
#include "progressista/error.hpp"
#include "progressista/segment.hpp"
#include "progressista/store.hpp"

namespace progressista::daemon {
namespace {

enum ExitCode : int { kOk = 0, kFailure = 1, kNotFound = 2 };

struct InspectOptions {
  std::string segment = "progressista";
  std::uint32_t capacity = kDefaultCapacity;
  bool capacity_given = false;  // on the command line or in the environment
  bool create = false;
  std::string shm_mode = "0600";
  bool shm_mode_given = false;
  bool json = false;
  bool check = false;
  std::uint32_t limit = 20;
};

// TaskTable::check() separates problems with "; " and ends with one.
std::string trim_problems(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == ';')) {
    s.pop_back();
  }
  return s;
}

bool write_stdout(const fmt::memory_buffer& out) {
  return std::fwrite(out.data(), 1, out.size(), stdout) == out.size() && std::fflush(stdout) == 0;
}

int run_inspect(const InspectOptions& opt) {
  SegmentOptions so;
  so.name = opt.segment;
  so.create = opt.create;
  if (opt.create) {
    if (opt.capacity_given) {
      so.capacity = opt.capacity;
    }
    so.mode = parse_segment_mode(opt.shm_mode).value_or(0600);  // validated by the parser
  }
  // Readers never write to the segment, so a plain report maps it read-only. --check takes
  // the table's structure lock and --create initialises the segment: both need write access.
  so.read_only = !opt.create && !opt.check;

  std::unique_ptr<Store> store;
  try {
    store = Store::open(so);
  } catch (const StoreError& e) {
    if (e.code() == StoreError::Code::kNotFound) {
      fmt::print(stderr,
                 "progressista: segment '{}' does not exist (no {}/{}); start `progressista serve` "
                 "(or `progressista ingest`) with the same --segment, or pass --create\n",
                 opt.segment, kShmDir, opt.segment);
      return kNotFound;
    }
    fmt::print(stderr, "progressista: {}\n", e.what());
    return kFailure;
  }

  const Segment& seg = store->segment();
  if (!opt.create && opt.capacity_given && opt.capacity != seg.capacity()) {
    fmt::print(stderr,
               "progressista: note: segment '{}' holds {} tasks, not {}; --capacity "
               "(PROGRESSISTA_CAPACITY) only applies with --create\n",
               seg.name(), seg.capacity(), opt.capacity);
  }
  if (opt.shm_mode_given && !seg.created()) {
    fmt::print(stderr,
               "progressista: note: segment '{}' already existed, so --shm-mode {} was not "
               "applied (see its mode below)\n",
               seg.name(), opt.shm_mode);
  }

  std::optional<std::string> problems;
  if (opt.check) {
    problems = trim_problems(store->table().check());
  }

  const Facts facts = gather(*store, std::move(problems), opt.limit);
  fmt::memory_buffer out;
  if (opt.json) {
    render_json(out, facts, store->table());
  } else {
    render_text(out, facts, store->table());
  }
  if (!write_stdout(out)) {
    fmt::print(stderr, "progressista: cannot write the report: {}\n",
               std::generic_category().message(errno));
    return kFailure;
  }
  if (facts.problems && !facts.problems->empty()) {
    fmt::print(stderr, "progressista: segment '{}' is inconsistent: {}\n", facts.name,
               *facts.problems);
    return kFailure;
  }
  return kOk;
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  // Shared with the callback: CLI11 writes parsed values into it, the callback reads them.
  auto opt = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "Report on a segment: header, counters, attached processes, janitor and the most "
      "recently updated tasks. Read-only unless --create or --check; never registers itself "
      "as a process of the segment.");
  cmd->footer(
      "Exit codes: 0 ok; 1 error, or --check found an inconsistency; 2 the segment does not "
      "exist (and --create was not given).");

  cmd->add_option("--segment", opt->segment, "Shared-memory segment name (/dev/shm/NAME)")
      ->envname("PROGRESSISTA_SEGMENT")
      ->capture_default_str();
  CLI::Option* capacity =
      cmd->add_option("--capacity", opt->capacity,
                      fmt::format("Task slots of a segment made by --create (default {}); with "
                                  "--create, an existing segment must have this capacity",
                                  kDefaultCapacity))
          ->envname("PROGRESSISTA_CAPACITY")
          ->check(whole_number_in(1, kMaxCapacity));
  CLI::Option* create = cmd->add_flag(
      "--create", opt->create, "Create the segment if it does not exist (attach if it does)");
  CLI::Option* shm_mode =
      cmd->add_option("--shm-mode", opt->shm_mode,
                      "Permissions of a segment made by --create: 0600 (owner only) or 0660 "
                      "(owner and group, e.g. nginx workers)")
          ->check(segment_mode_validator())
          ->needs(create)
          ->capture_default_str();
  cmd->add_flag("--json", opt->json,
                "Print one JSON object (tasks in the served shape) instead of text");
  cmd->add_flag("--check", opt->check,
                "Verify the table's index, slots and free list (briefly takes the table's "
                "structure lock); exit 1 and print the problems if they disagree");
  cmd->add_option("--limit", opt->limit,
                  "List at most N tasks, most recently updated first (0: none)")
      ->capture_default_str();

  cmd->callback([opt, capacity, shm_mode] {
    InspectOptions o = *opt;
    o.capacity_given = capacity->count() > 0;
    o.shm_mode_given = shm_mode->count() > 0;
    if (const int rc = run_inspect(o); rc != kOk) {
      throw CLI::RuntimeError(rc);
    }
  });
}

}  // namespace progressista::daemon
