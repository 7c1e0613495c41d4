// `progressista inspect`, run as the real binary against real segments in /dev/shm.
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

// The segment's private layout, only to corrupt a table on purpose (CheckFailsOn...).
#include "../../store/src/layout.hpp"
#include "progressista/bookkeeping.hpp"
#include "progressista/task_json.hpp"
#include "progressista/segment.hpp"
#include "progressista/store.hpp"
#include "progressista/task.hpp"
#include "progressista/task_table.hpp"
#include "support/run_binary.hpp"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using ::testing::ContainsRegex;
using testing::ev;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::options;
using testing::run;
using testing::ScopedSegmentName;
using Result = testing::RunResult;

bool shm_exists(const std::string& name) {
  struct stat st {};
  return ::stat(("/dev/shm/" + name).c_str(), &st) == 0;
}

unsigned shm_mode(const std::string& name) {
  struct stat st {};
  EXPECT_EQ(::stat(("/dev/shm/" + name).c_str(), &st), 0);
  return st.st_mode & 0777;
}

std::string task_json(const Store& store, std::string_view id) {
  TaskRecord rec;
  EXPECT_TRUE(store.table().lookup(id, rec)) << id;
  fmt::memory_buffer buf;
  append_task_json(buf, rec);
  return fmt::to_string(buf);
}

class Inspect : public ::testing::Test {
 protected:
  // `progressista inspect --segment <this test's segment> extra...`
  Result inspect(std::vector<std::string> extra = {},
                 const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> args{"inspect", "--segment", name.str()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args, env);
  }

  // A segment made by the test itself, with two tasks.
  std::unique_ptr<Store> store_with_two_tasks() {
    auto store = Store::open(options(name, 64));
    EXPECT_EQ(
        store->table().upsert(ev("job-1").n(3).total(10).status(Status::kUpdate), now_seconds()),
        Upsert::kCreated);
    EXPECT_EQ(store->table().upsert(ev("job-2").n(1).status(Status::kStart), now_seconds()),
              Upsert::kCreated);
    return store;
  }

  ScopedSegmentName name;
};

TEST_F(Inspect, MissingSegmentExitsWith2AndSuggestsCreate) {
  const Result r = inspect();
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err,
              HasSubstr(fmt::format("progressista: segment '{}' does not exist (no /dev/shm/{})",
                                    name.str(), name.str())));
  EXPECT_THAT(r.err, HasSubstr("pass --create"));
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(shm_exists(name.str())) << "inspect without --create must not create the segment";
}

TEST_F(Inspect, MissingSegmentExitsWith2InJsonModeToo) {
  const Result r = inspect({"--json"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("does not exist"));
  EXPECT_EQ(r.out, "");
}

TEST_F(Inspect, CreateMakesTheSegmentAndShowsItsCapacity) {
  const Result r = inspect({"--create", "--capacity", "32"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("capacity    32 tasks"));
  EXPECT_THAT(r.out, HasSubstr("(created by this run)"));
  EXPECT_THAT(r.out, HasSubstr("tasks       none"));
  SegmentOptions attach;
  attach.name = name.str();
  attach.create = false;
  EXPECT_EQ(Segment::open(attach)->capacity(), 32u);
  EXPECT_EQ(shm_mode(name.str()), 0600u);
}

TEST_F(Inspect, CreateWithoutCapacityUsesTheDefault) {
  const Result r = inspect({"--create", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(fmt::format("\"capacity\":{},", kDefaultCapacity)));
}

TEST_F(Inspect, CreateAttachesToAnExistingSegmentWithoutTouchingIt) {
  auto store = store_with_two_tasks();
  const Result r = inspect({"--create"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("created by this run")));
  EXPECT_THAT(r.out, HasSubstr("tasks       2 live"));
}

TEST_F(Inspect, CreateHonoursShmMode0660) {
  const Result r = inspect({"--create", "--shm-mode", "0660"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(shm_mode(name.str()), 0660u);
  EXPECT_THAT(r.out, HasSubstr("(mode 0660"));
}

TEST_F(Inspect, ShmModeOtherThan0600Or0660IsRefused) {
  const Result r = inspect({"--create", "--shm-mode", "0777"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("--shm-mode: '0777' is not allowed"));
  EXPECT_THAT(r.err, HasSubstr("0600"));
  EXPECT_THAT(r.err, HasSubstr("0660"));
  EXPECT_FALSE(shm_exists(name.str()));
}

TEST_F(Inspect, ShmModeWithoutCreateIsRefused) {
  auto store = Store::open(options(name));
  const Result r = inspect({"--shm-mode", "0660"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("--shm-mode requires --create"));
}

TEST_F(Inspect, ShowsTasksAndCountersInTheTextReport) {
  auto store = store_with_two_tasks();
  const Result r = inspect();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, HasSubstr(fmt::format("segment     {}\n", name.str())));
  EXPECT_THAT(r.out, HasSubstr(fmt::format("path        /dev/shm/{} (mode 0600", name.str())));
  EXPECT_THAT(r.out, HasSubstr("layout      version "));
  EXPECT_THAT(r.out, HasSubstr("capacity    64 tasks"));
  EXPECT_THAT(r.out, HasSubstr("tasks       2 live"));
  // The budget in bytes and tasks, and the free record blocks.
  const MemoryUse m = store->table().memory();
  EXPECT_THAT(r.out, HasSubstr(fmt::format("budget      {} bytes (", m.budget_bytes)));
  EXPECT_THAT(r.out, HasSubstr(fmt::format("for at most 64 tasks; {} of {} record blocks free",
                                           m.free_blocks, m.blocks)));
  EXPECT_THAT(r.out, HasSubstr(", 0 finished"));
  EXPECT_THAT(r.out, HasSubstr(fmt::format("feed head   {}\n", store->feed().head())));
  EXPECT_THAT(r.out, ContainsRegex("tasks_created +2\n"));
  EXPECT_THAT(r.out, ContainsRegex("events_applied +2\n"));
  EXPECT_THAT(r.out, ContainsRegex("lock_recoveries +0\n"));
  EXPECT_THAT(r.out, HasSubstr("processes   none registered"));
  EXPECT_THAT(r.out, HasSubstr("janitor     none"));
  EXPECT_THAT(r.out, HasSubstr("tasks: 2 of 2 live"));
  EXPECT_THAT(r.out, ContainsRegex("job-1 +update +3/10 \\(30%\\) +[0-9.]+s ago"));
  EXPECT_THAT(r.out, ContainsRegex("job-2 +start +1 +[0-9.]+s ago"));
}

TEST_F(Inspect, JsonReportServesTasksInTheServedShape) {
  auto store = store_with_two_tasks();
  const Result r = inspect({"--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  // Byte for byte what GET /tasks serves for these tasks.
  EXPECT_THAT(r.out, HasSubstr("\"job-1\":" + task_json(*store, "job-1")));
  EXPECT_THAT(r.out, HasSubstr("\"job-2\":" + task_json(*store, "job-2")));
  EXPECT_THAT(r.out, HasSubstr("\"task_id\":\"job-1\""));

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out;
  std::string_view segment;
  ASSERT_EQ(doc["segment"].get(segment), simdjson::SUCCESS);
  EXPECT_EQ(segment, name.str());
  std::uint64_t value = 0;
  ASSERT_EQ(doc["capacity"].get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, 64u);
  ASSERT_EQ(doc["live_tasks"].get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, 2u);
  const MemoryUse m = store->table().memory();
  ASSERT_EQ(doc["memory"]["budget_bytes"].get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, m.budget_bytes);
  EXPECT_EQ(value, store->segment().size());
  ASSERT_EQ(doc["memory"]["max_tasks"].get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, 64u);
  ASSERT_EQ(doc["memory"]["tasks"].get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, 2u);
  ASSERT_EQ(doc["memory"]["free_blocks"].get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, m.free_blocks);
  ASSERT_EQ(doc["memory"]["blocks"].get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, m.blocks);
  EXPECT_LT(m.free_blocks, m.blocks);  // the two tasks' records
  ASSERT_EQ(doc["memory"]["block_bytes"].get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, m.block_bytes);
  ASSERT_EQ(doc["feed_head"].get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, store->feed().head());
  ASSERT_EQ(doc["counters"]["tasks_created"].get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, 2u);
  ASSERT_EQ(doc["tasks_listed"].get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, 2u);
  double n = 0;
  ASSERT_EQ(doc["tasks"]["job-1"]["n"].get(n), simdjson::SUCCESS);
  EXPECT_EQ(n, 3.0);
  std::string_view status;
  ASSERT_EQ(doc["tasks"]["job-1"]["status"].get(status), simdjson::SUCCESS);
  EXPECT_EQ(status, "update");
  simdjson::dom::array processes;
  ASSERT_EQ(doc["processes"].get(processes), simdjson::SUCCESS);
  EXPECT_EQ(processes.size(), 0u);
  EXPECT_TRUE(doc["janitor"].is_null());
  // No --check, no verdict.
  EXPECT_EQ(doc["check"].error(), simdjson::NO_SUCH_FIELD);
}

TEST_F(Inspect, CheckExitsZeroOnAHealthyTable) {
  auto store = store_with_two_tasks();
  const Result text = inspect({"--check"});
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("check       ok\n"));

  const Result json = inspect({"--check", "--json"});
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"check\":{\"ok\":true,\"problems\":\"\"}"));
}

TEST_F(Inspect, CheckFailsWithExit1AndNamesTheProblemOnAnInconsistentTable) {
  auto store = store_with_two_tasks();
  // The live count disagrees with the slots, as a bug (never a crash) could leave it.
  store->segment().header().live_count.fetch_add(1);
  const Result r = inspect({"--check"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("check       INCONSISTENT: live count says 3 but 2 slots are live"));
  EXPECT_THAT(r.err,
              HasSubstr(fmt::format("progressista: segment '{}' is inconsistent: live count says "
                                    "3 but 2 slots are live\n",
                                    name.str())));

  const Result json = inspect({"--check", "--json"});
  EXPECT_EQ(json.code, 1);
  EXPECT_THAT(json.out, HasSubstr("\"check\":{\"ok\":false,\"problems\":\"live count says 3"));

  // Without --check the report is still produced and succeeds.
  EXPECT_EQ(inspect().code, 0);
}

TEST_F(Inspect, CapacityMismatchWithCreateFailsWithTheStoresMessage) {
  auto store = Store::open(options(name, 64));
  const Result r = inspect({"--create", "--capacity", "128"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err,
              HasSubstr(fmt::format("progressista: segment '{}' holds at most 64 tasks in ",
                                    name.str())));
  EXPECT_THAT(r.err, HasSubstr("but 128 tasks in "));
  EXPECT_EQ(r.out, "");
}

TEST_F(Inspect, CapacityWithoutCreateOnlyNotesTheDifference) {
  auto store = Store::open(options(name, 64));
  const Result r = inspect({"--capacity", "128"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("note: segment"));
  EXPECT_THAT(r.err, HasSubstr("holds 64 tasks, not 128"));
  EXPECT_THAT(r.out, HasSubstr("capacity    64 tasks"));
}

TEST_F(Inspect, CapacityOutOfRangeIsRefused) {
  const Result r = inspect({"--create", "--capacity", "0"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("--capacity"));
  EXPECT_FALSE(shm_exists(name.str()));
}

TEST_F(Inspect, SegmentNameComesFromTheEnvironment) {
  auto store = Store::open(options(name));
  const Result r = run({"inspect"}, {{"PROGRESSISTA_SEGMENT", name.str()}});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(fmt::format("segment     {}\n", name.str())));
}

TEST_F(Inspect, SegmentFlagOverridesTheEnvironment) {
  auto store = Store::open(options(name));
  const std::string elsewhere = name.str() + "-elsewhere";
  const Result r = run({"inspect", "--segment", name.str()}, {{"PROGRESSISTA_SEGMENT", elsewhere}});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(fmt::format("segment     {}\n", name.str())));

  // And without the flag the environment's (missing) segment is the one looked up.
  const Result from_env = run({"inspect"}, {{"PROGRESSISTA_SEGMENT", elsewhere}});
  EXPECT_EQ(from_env.code, 2);
  EXPECT_THAT(from_env.err, HasSubstr(fmt::format("segment '{}' does not exist", elsewhere)));
}

TEST_F(Inspect, CapacityComesFromTheEnvironmentWhenCreating) {
  const Result r = inspect({"--create"}, {{"PROGRESSISTA_CAPACITY", "16"}});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("capacity    16 tasks"));
}

TEST_F(Inspect, LimitOneListsOnlyTheMostRecentlyUpdatedTask) {
  auto store = Store::open(options(name));
  const double now = now_seconds();
  EXPECT_EQ(store->table().upsert(ev("job-old").n(1), now - 30), Upsert::kCreated);
  EXPECT_EQ(store->table().upsert(ev("job-new").n(2), now - 10), Upsert::kCreated);
  EXPECT_EQ(store->table().upsert(ev("job-mid").n(3), now - 20), Upsert::kCreated);

  const Result text = inspect({"--limit", "1"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("tasks: 1 of 3 live"));
  EXPECT_THAT(text.out, HasSubstr("job-new"));
  EXPECT_THAT(text.out, Not(HasSubstr("job-old")));
  EXPECT_THAT(text.out, Not(HasSubstr("job-mid")));

  const Result json = inspect({"--limit", "1", "--json"});
  ASSERT_EQ(json.code, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"tasks\":{\"job-new\":{"));
  EXPECT_THAT(json.out, HasSubstr("\"tasks_listed\":1"));
  EXPECT_THAT(json.out, Not(HasSubstr("job-old")));
}

TEST_F(Inspect, ListsTasksNewestFirst) {
  auto store = Store::open(options(name));
  const double now = now_seconds();
  EXPECT_EQ(store->table().upsert(ev("job-old").n(1), now - 30), Upsert::kCreated);
  EXPECT_EQ(store->table().upsert(ev("job-new").n(2), now - 10), Upsert::kCreated);
  EXPECT_EQ(store->table().upsert(ev("job-mid").n(3), now - 20), Upsert::kCreated);
  const Result r = inspect();
  ASSERT_EQ(r.code, 0) << r.err;
  const auto at_new = r.out.find("job-new"), at_mid = r.out.find("job-mid"),
             at_old = r.out.find("job-old");
  ASSERT_NE(at_old, std::string::npos);
  EXPECT_LT(at_new, at_mid);
  EXPECT_LT(at_mid, at_old);
}

TEST_F(Inspect, LimitZeroListsNoTasks) {
  auto store = store_with_two_tasks();
  const Result r = inspect({"--limit", "0"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("tasks       2 live"));
  EXPECT_THAT(r.out, HasSubstr("not listed (--limit 0)"));
  EXPECT_THAT(r.out, Not(HasSubstr("job-1")));
}

TEST_F(Inspect, NeitherRegistersNorChangesTheSegment) {
  auto store = store_with_two_tasks();
  TaskRecord before;
  ASSERT_TRUE(store->table().lookup("job-1", before));
  const std::uint64_t head = store->feed().head();
  const std::uint64_t applied = store->counters().get(Counter::kEventsApplied);

  const std::vector<std::vector<std::string>> runs{{}, {"--json"}, {"--check"}, {"--create"}};
  for (const auto& extra : runs) {
    const Result r = inspect(extra);
    EXPECT_EQ(r.code, 0) << r.err;
  }

  EXPECT_TRUE(store->processes().list().empty());
  EXPECT_EQ(store->janitor().holder(), 0u);
  EXPECT_EQ(store->feed().head(), head);
  EXPECT_EQ(store->counters().get(Counter::kEventsApplied), applied);
  TaskRecord after;
  ASSERT_TRUE(store->table().lookup("job-1", after));
  EXPECT_EQ(after.change_seq, before.change_seq);
  EXPECT_EQ(after.updated_at, before.updated_at);
  EXPECT_EQ(store->table().size(), 2u);
}

TEST_F(Inspect, ShowsRegisteredProcessesAndTheJanitor) {
  auto store = Store::open(options(name));
  const int entry = store->processes().enroll(Role::kIngest);
  ASSERT_GE(entry, 0);
  ASSERT_TRUE(store->janitor().try_acquire(now_ns(), 60'000'000'000));
  const unsigned me = static_cast<unsigned>(::getpid());

  const Result text = inspect();
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_THAT(text.out, ContainsRegex(fmt::format("\n  {} +ingest +yes +[0-9.]+s ago\n", me)));
  EXPECT_THAT(text.out, HasSubstr(fmt::format("janitor     pid {} (alive)", me)));

  const Result json = inspect({"--json"});
  ASSERT_EQ(json.code, 0) << json.err;
  EXPECT_THAT(json.out,
              HasSubstr(fmt::format(
                  "\"processes\":[{{\"pid\":{},\"role\":\"ingest\",\"alive\":true,", me)));
  EXPECT_THAT(json.out, HasSubstr(fmt::format("\"janitor\":{{\"pid\":{},\"alive\":true}}", me)));

  store->janitor().release();
  store->processes().leave(entry);
}

TEST_F(Inspect, EscapesControlCharactersInTaskIds) {
  auto store = Store::open(options(name));
  EXPECT_EQ(store->table().upsert(ev("evil\x1b[2Jid").n(1), now_seconds()), Upsert::kCreated);
  const Result r = inspect();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("evil\\x1b[2Jid"));
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
}

TEST_F(Inspect, CutsVeryLongTaskIdsInTheTextReportOnly) {
  auto store = Store::open(options(name));
  const std::string long_id(200, 'x');
  EXPECT_EQ(store->table().upsert(ev(long_id).n(1), now_seconds()), Upsert::kCreated);
  const Result text = inspect();
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr(std::string(47, 'x') + "\u2026"));
  EXPECT_THAT(text.out, Not(HasSubstr(std::string(48, 'x'))));
  const Result json = inspect({"--json"});
  EXPECT_THAT(json.out, HasSubstr("\"task_id\":\"" + long_id + "\""));
}

TEST(Cli, VersionPrintsTheProjectVersion) {
  const Result r = run({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, ContainsRegex("^progressista [0-9]+\\.[0-9]+\\.[0-9]+\n$"));
}

TEST(Cli, HelpListsTheVerbs) {
  const Result r = run({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("inspect"));
}

TEST(Cli, InspectHelpNamesEveryFlagAndItsEnvironmentVariable) {
  const Result r = run({"inspect", "--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* flag : {"--segment", "--capacity", "--create", "--shm-mode", "--json", "--check",
                           "--limit", "PROGRESSISTA_SEGMENT", "PROGRESSISTA_CAPACITY"}) {
    EXPECT_THAT(r.out, HasSubstr(flag));
  }
}

TEST(Cli, AVerbIsRequired) {
  const Result r = run({});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("subcommand is required"));
}

TEST(Cli, UnknownFlagsAreRefused) {
  const Result r = run({"inspect", "--no-such-flag"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("--no-such-flag"));
}

}  // namespace
}  // namespace progressista
