// Store v2's memory: tasks cost what they hold, the default budget holds a fleet, records of
// every size round-trip, and a full budget evicts finished tasks before refusing.
#include <string>

#include <gtest/gtest.h>

#include "progressista/error.hpp"
#include "progressista/store.hpp"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using testing::ev;
using testing::ScopedSegmentName;

// A RemoteTqdm-shaped task: ~30-byte id, ~20-byte desc, a unit, ~60 bytes of meta.
Upsert typical(TaskTable& table, int i, double now = 1.0) {
  const std::string id = fmt::format("worker-{:05}.fleet.example:{:06}", i % 100000, i);
  const std::string desc = fmt::format("epoch {:3} of shard", i % 1000);
  const std::string meta =
      fmt::format(R"({{"host":"node-{:04}","pid":{},"argv":"train.py --shard {}"}})", i % 4096,
                  10000 + i, i % 64);
  return table.upsert(ev(id).desc(desc).unit("it").meta(meta).n(i % 100).total(100), now);
}

std::string full(std::size_t n, char c) {
  return std::string(n, c);
}

TEST(Memory, DefaultBudgetHoldsAFleetOfTypicalTasksInUnder1KiBEach) {
  ScopedSegmentName name;
  SegmentOptions o;
  o.name = name.str();
  auto store = Store::open(o);
  TaskTable& table = store->table();
  const MemoryUse before = table.memory();
  EXPECT_LE(before.budget_bytes, std::uint64_t{64} << 20) << "fits Docker's default /dev/shm";
  EXPECT_EQ(before.budget_bytes, store->segment().size());
  int held = 0;
  for (int i = 0; i < 200000; ++i) {
    const Upsert u = typical(table, i);
    if (u == Upsert::kTableFull) break;
    ASSERT_EQ(u, Upsert::kCreated) << i;
    ++held;
  }
  const double per_task = static_cast<double>(before.budget_bytes) / held;
  std::printf("default budget %llu bytes holds %d typical tasks: %.0f bytes per task\n",
              static_cast<unsigned long long>(before.budget_bytes), held, per_task);
  EXPECT_GE(held, 50000);
  EXPECT_LE(per_task, 1024.0);
  // Updates of tasks that keep their size need no more blocks: still all accepted when full.
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(typical(table, i, 2.0), Upsert::kUpdated) << i;
  EXPECT_EQ(table.check(), "");
}

TEST(Memory, ATaskWithEveryFieldAtItsLimitRoundTrips) {
  ScopedSegmentName name;
  auto store = Store::open(testing::options(name, 16));
  TaskTable& table = store->table();
  const std::string id = full(limits::kTaskId, 'i');
  const std::string meta = "{\"k\":\"" + full(limits::kMeta - 8, 'm') + "\"}";
  ASSERT_EQ(meta.size(), limits::kMeta);
  ASSERT_EQ(table.upsert(ev(id)
                             .desc(full(limits::kDesc, 'd'))
                             .unit(full(limits::kUnit, 'u'))
                             .project(full(limits::kProject, 'p'))
                             .phase(full(limits::kPhase, 'h'))
                             .message(full(limits::kMessage, 's'))
                             .error(full(limits::kError, 'e'))
                             .meta(meta)
                             .n(1)
                             .total(2),
                         1.0),
            Upsert::kCreated);
  TaskRecord t;
  ASSERT_TRUE(table.lookup(id, t));
  EXPECT_EQ(t.desc.view(), full(limits::kDesc, 'd'));
  EXPECT_EQ(t.unit.view(), full(limits::kUnit, 'u'));
  EXPECT_EQ(t.project.view(), full(limits::kProject, 'p'));
  EXPECT_EQ(t.phase.view(), full(limits::kPhase, 'h'));
  EXPECT_EQ(t.message.view(), full(limits::kMessage, 's'));
  EXPECT_EQ(t.error.view(), full(limits::kError, 'e'));
  EXPECT_EQ(t.meta.view(), meta);
  EXPECT_EQ(t.n, 1);
  // And it shrinks back: a short message returns the blocks it no longer needs.
  const std::uint32_t free_big = table.memory().free_blocks;
  ASSERT_EQ(table.upsert(ev(id).message("short"), 2.0), Upsert::kUpdated);
  ASSERT_EQ(table.upsert(ev(id).message("short"), 3.0), Upsert::kUpdated);
  EXPECT_GT(table.memory().free_blocks, free_big);
  ASSERT_TRUE(table.lookup(id, t));
  EXPECT_EQ(t.message.view(), "short");
  EXPECT_EQ(t.desc.view(), full(limits::kDesc, 'd'));
  EXPECT_EQ(table.check(), "");
}

TEST(Memory, RemovingTasksReturnsEveryBlock) {
  ScopedSegmentName name;
  auto store = Store::open(testing::options(name, 32));
  TaskTable& table = store->table();
  const std::uint32_t free0 = table.memory().free_blocks;
  for (int i = 0; i < 32; ++i) {
    ASSERT_EQ(
        table.upsert(ev(fmt::format("t{}", i)).message(full(static_cast<std::size_t>(i) * 16, 'x')),
                     1.0),
        Upsert::kCreated);
    ASSERT_EQ(table.upsert(ev(fmt::format("t{}", i)).n(1), 2.0), Upsert::kUpdated);
  }
  EXPECT_LT(table.memory().free_blocks, free0);
  for (int i = 0; i < 32; ++i) ASSERT_TRUE(table.remove(fmt::format("t{}", i)));
  EXPECT_EQ(table.memory().free_blocks, free0);
  EXPECT_EQ(table.check(), "");
}

TEST(Memory, AFullBudgetEvictsFinishedTasksForGrowingRecordsThenRefusesWithTheFigures) {
  ScopedSegmentName name;
  SegmentOptions o;
  o.name = name.str();
  o.capacity = 64;
  o.memory = Segment::plan(o).total_bytes;  // the smallest budget for 64 slots: few spare blocks
  auto store = Store::open(o);
  TaskTable& table = store->table();
  const std::string big = full(limits::kMessage, 'b');
  // Closed tasks with long messages fill the blocks.
  int finished = 0;
  for (; finished < 64; ++finished) {
    const Upsert u =
        table.upsert(ev(fmt::format("done-{}", finished)).message(big).status(Status::kClose), 1.0);
    ASSERT_NE(u, Upsert::kTableFull) << "evicting finished tasks makes room";
    if (table.memory().free_blocks < 8) break;
  }
  // A running task growing into the full pool evicts the oldest finished task.
  ASSERT_EQ(table.upsert(ev("runner").n(1), 2.0), Upsert::kCreated);
  const std::uint64_t evictions = store->counters().get(Counter::kEvictions);
  for (int round = 0; round < 200 && store->counters().get(Counter::kEvictions) == evictions;
       ++round) {
    ASSERT_EQ(
        table.upsert(ev(fmt::format("runner-{}", round)).message(big).error(big).desc(big), 3.0),
        Upsert::kCreated);
  }
  EXPECT_GT(store->counters().get(Counter::kEvictions), evictions);
  TaskRecord t;
  EXPECT_FALSE(table.lookup("done-0", t)) << "the least recently finished goes first";
  // With nothing finished left, a new task is refused and the message gives the budget.
  for (int i = 0; i < 1000; ++i) {
    const Upsert u =
        table.upsert(ev(fmt::format("more-{}", i)).message(big).error(big).desc(big), 4.0);
    if (u == Upsert::kTableFull) break;
    ASSERT_EQ(u, Upsert::kCreated);
  }
  EXPECT_EQ(table.memory().finished, 0u);
  EXPECT_EQ(table.upsert(ev("refused").message(big).error(big).desc(big), 5.0), Upsert::kTableFull);
  const std::string detail = table.full_detail();
  EXPECT_NE(detail.find(fmt::format("{} bytes", o.memory.value())), std::string::npos) << detail;
  EXPECT_NE(detail.find("memory budget reached"), std::string::npos) << detail;
  EXPECT_GT(store->counters().get(Counter::kRejectedTableFull), 0u);
  EXPECT_TRUE(table.lookup("runner", t)) << "running tasks are never evicted";
  EXPECT_EQ(table.upsert(ev("runner").n(2), 6.0), Upsert::kUpdated)
      << "same-size updates still apply";
  EXPECT_EQ(table.check(), "");
}

TEST(Memory, PlanFollowsTheBudgetAndRefusesAnImpossibleOne) {
  SegmentOptions o;
  o.memory = std::uint64_t{16} << 20;
  const Geometry g = Segment::plan(o);
  EXPECT_EQ(g.capacity, (std::uint64_t{16} << 20) / kPlannedTaskBytes);
  EXPECT_LE(g.total_bytes, std::uint64_t{16} << 20);
  EXPECT_GE(g.blocks, 2 * g.capacity - g.capacity / 8) << "about two blocks per planned task";
  o.capacity = 1000000;
  try {
    (void)Segment::plan(o);
    ADD_FAILURE() << "a million tasks cannot fit in 16 MiB";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::kInvalidShape);
    EXPECT_NE(std::string(e.what()).find("too small for 1000000 tasks"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace progressista
