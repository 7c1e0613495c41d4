// The task table's rules: partial updates, ordering, lifecycle, eviction, limits of capacity.
#include <atomic>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "progressista/store.hpp"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using testing::ev;
using testing::options;
using testing::ScopedSegmentName;

class TaskTableTest : public ::testing::Test {
 protected:
  TaskRecord get(std::string_view id) {
    TaskRecord t;
    EXPECT_TRUE(table().lookup(id, t)) << id;
    return t;
  }
  TaskTable& table() { return store->table(); }
  std::uint64_t count(Counter c) { return store->counters().get(c); }

  ScopedSegmentName name;
  std::unique_ptr<Store> store = Store::open(options(name, 8));
};

TEST_F(TaskTableTest, NewTaskGetsProgressistaDefaults) {
  ASSERT_EQ(table().upsert(ev("a"), 100.0), Upsert::kCreated);
  const TaskRecord t = get("a");
  EXPECT_EQ(t.n, 0);
  EXPECT_FALSE(t.has(kHasTotal));
  EXPECT_EQ(t.status, Status::kUpdate) << "an event without status is an update";
  EXPECT_EQ(t.created_at, 100.0);
  EXPECT_EQ(t.updated_at, 100.0);
  EXPECT_EQ(t.timestamp, 100.0) << "timestamp defaults to server time";
  EXPECT_EQ(table().size(), 1u);
  EXPECT_EQ(count(Counter::kTasksCreated), 1u);
}

TEST_F(TaskTableTest, AbsentFieldsKeepTheirValues) {
  ASSERT_EQ(table().upsert(ev("a").desc("copy").unit("B").total(10).n(1).meta(R"({"k":1})")
                               .project("p").phase("load").message("m").status(Status::kStart), 1.0),
            Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("a").n(5), 2.0), Upsert::kUpdated);
  const TaskRecord t = get("a");
  EXPECT_EQ(t.n, 5);
  EXPECT_EQ(t.total, 10);
  EXPECT_EQ(t.desc.view(), "copy");
  EXPECT_EQ(t.unit.view(), "B");
  EXPECT_EQ(t.meta.view(), R"({"k":1})");
  EXPECT_EQ(t.project.view(), "p");
  EXPECT_EQ(t.phase.view(), "load");
  EXPECT_EQ(t.message.view(), "m");
  EXPECT_EQ(t.created_at, 1.0);
  EXPECT_EQ(t.updated_at, 2.0);
}

TEST_F(TaskTableTest, PresentFieldsReplaceIncludingEmptyStrings) {
  ASSERT_EQ(table().upsert(ev("a").desc("x").meta(R"({"a":1})"), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("a").desc("").meta("{}"), 2.0), Upsert::kUpdated);
  const TaskRecord t = get("a");
  EXPECT_TRUE(t.has(kHasDesc));
  EXPECT_EQ(t.desc.view(), "");
  EXPECT_EQ(t.meta.view(), "{}") << "meta is replaced, not merged, as in Progressista";
}

TEST_F(TaskTableTest, OlderClientTimestampIsIgnoredAndCounted) {
  ASSERT_EQ(table().upsert(ev("a").n(5).ts(50), 1.0), Upsert::kCreated);
  EXPECT_EQ(table().upsert(ev("a").n(3).ts(40), 2.0), Upsert::kIgnoredOutOfOrder);
  EXPECT_EQ(get("a").n, 5);
  EXPECT_EQ(count(Counter::kEventsIgnoredOutOfOrder), 1u);
  EXPECT_EQ(table().upsert(ev("a").n(6).ts(50), 3.0), Upsert::kUpdated) << "equal timestamps apply";
  EXPECT_EQ(table().upsert(ev("a").n(7), 4.0), Upsert::kUpdated) << "no timestamp: applied";
}

TEST_F(TaskTableTest, ClosedTaskReopensOnlyWithStart) {
  ASSERT_EQ(table().upsert(ev("a").n(10).total(10).status(Status::kClose), 5.0), Upsert::kCreated);
  TaskRecord t = get("a");
  EXPECT_EQ(t.status, Status::kClose);
  ASSERT_TRUE(t.has(kHasDoneAt));
  EXPECT_EQ(t.done_at, 5.0);
  EXPECT_EQ(table().upsert(ev("a").n(3), 6.0), Upsert::kIgnoredClosed);
  EXPECT_EQ(table().upsert(ev("a").status(Status::kClose), 6.0), Upsert::kIgnoredClosed);
  EXPECT_EQ(count(Counter::kEventsIgnoredClosed), 2u);
  EXPECT_EQ(table().upsert(ev("a").n(0).status(Status::kStart), 7.0), Upsert::kUpdated);
  t = get("a");
  EXPECT_EQ(t.status, Status::kStart);
  EXPECT_FALSE(t.has(kHasDoneAt));
  EXPECT_EQ(t.n, 0);
  EXPECT_EQ(t.created_at, 7.0) << "a new run has its own clock";
}

TEST_F(TaskTableTest, FailedTaskIsTerminalToo) {
  ASSERT_EQ(table().upsert(ev("a").status(Status::kError).error("disk full"), 1.0), Upsert::kCreated);
  EXPECT_EQ(get("a").error.view(), "disk full");
  EXPECT_EQ(table().upsert(ev("a").n(1), 2.0), Upsert::kIgnoredClosed);
}

TEST_F(TaskTableTest, StaleAtIsSetOnceAndClearedWhenActiveAgain) {
  ASSERT_EQ(table().upsert(ev("a"), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("a").status(Status::kStale), 2.0), Upsert::kUpdated);
  ASSERT_EQ(table().upsert(ev("a").status(Status::kStale), 3.0), Upsert::kUpdated);
  EXPECT_EQ(get("a").stale_at, 2.0);
  ASSERT_EQ(table().upsert(ev("a").n(1), 4.0), Upsert::kUpdated);
  EXPECT_FALSE(get("a").has(kHasStaleAt));
}

TEST_F(TaskTableTest, RateIsSmoothedFromSuccessiveSamples) {
  ASSERT_EQ(table().upsert(ev("a").n(0).total(100).ts(10), 10.0), Upsert::kCreated);
  EXPECT_FALSE(get("a").has(kHasRate));
  ASSERT_EQ(table().upsert(ev("a").n(10).ts(11), 11.0), Upsert::kUpdated);
  TaskRecord t = get("a");
  ASSERT_TRUE(t.has(kHasRate));
  EXPECT_DOUBLE_EQ(t.rate, 10.0);
  EXPECT_DOUBLE_EQ(t.eta(), 9.0);
  ASSERT_EQ(table().upsert(ev("a").n(30).ts(12), 12.0), Upsert::kUpdated);
  EXPECT_DOUBLE_EQ(get("a").rate, 0.3 * 20 + 0.7 * 10);
  // Same instant: no division by zero; the sample folds into the next one.
  ASSERT_EQ(table().upsert(ev("a").n(35).ts(12), 12.0), Upsert::kUpdated);
  EXPECT_DOUBLE_EQ(get("a").rate, 13.0);
  ASSERT_EQ(table().upsert(ev("a").n(5).ts(13), 13.0), Upsert::kUpdated);
  EXPECT_FALSE(get("a").has(kHasRate)) << "n went backwards: the rate starts over";
}

TEST_F(TaskTableTest, CadenceSettlesOnTheUsualIntervalAndShrugsOffPausesAndBursts) {
  ASSERT_EQ(table().upsert(ev("a"), 100.0), Upsert::kCreated);
  EXPECT_FALSE(get("a").has(kHasCadence)) << "one event says nothing of an interval";
  ASSERT_EQ(table().upsert(ev("a"), 100.0), Upsert::kUpdated);
  EXPECT_FALSE(get("a").has(kHasCadence)) << "nor do two in the same instant";
  ASSERT_EQ(table().upsert(ev("a"), 102.0), Upsert::kUpdated);
  ASSERT_TRUE(get("a").has(kHasCadence));
  EXPECT_DOUBLE_EQ(get("a").cadence, 2.0) << "the first interval seeds it";
  // Steady intervals near it leave it still (no new value in every live frame).
  double t = 102;
  for (const double gap : {2.5, 1.5, 2.0, 2.9, 1.4}) {
    ASSERT_EQ(table().upsert(ev("a"), t += gap), Upsert::kUpdated);
  }
  EXPECT_DOUBLE_EQ(get("a").cadence, 2.0);
  // One long pause moves it one step, a burst one step back.
  ASSERT_EQ(table().upsert(ev("a"), t += 600), Upsert::kUpdated);
  EXPECT_DOUBLE_EQ(get("a").cadence, 2.25);
  ASSERT_EQ(table().upsert(ev("a"), t += 0.001), Upsert::kUpdated);
  EXPECT_DOUBLE_EQ(get("a").cadence, 2.0);
  // A task that now reports every 30 s gets there step by step.
  for (int i = 0; i < 40; ++i) ASSERT_EQ(table().upsert(ev("a"), t += 30), Upsert::kUpdated);
  EXPECT_GT(get("a").cadence, 30 / 1.5);
  EXPECT_LT(get("a").cadence, 30 * 1.5);
}

TEST_F(TaskTableTest, StalledIsJudgedAgainstTheTasksOwnCadence) {
  const StallRule rule{10, 60};
  ASSERT_EQ(table().upsert(ev("slow").status(Status::kStart), 0.0), Upsert::kCreated);
  EXPECT_FALSE(is_stalled(get("slow"), 59.0, rule));
  EXPECT_TRUE(is_stalled(get("slow"), 61.0, rule)) << "no cadence yet: the minimum alone";
  ASSERT_EQ(table().upsert(ev("slow"), 20.0), Upsert::kUpdated);  // cadence 20 s
  EXPECT_FALSE(is_stalled(get("slow"), 20.0 + 199, rule)) << "10 x 20 s not reached";
  EXPECT_TRUE(is_stalled(get("slow"), 20.0 + 201, rule));
  ASSERT_EQ(table().upsert(ev("fast"), 0.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("fast"), 0.5), Upsert::kUpdated);  // cadence 0.5 s
  EXPECT_FALSE(is_stalled(get("fast"), 0.5 + 59, rule)) << "never before the minimum";
  EXPECT_TRUE(is_stalled(get("fast"), 0.5 + 61, rule));
  EXPECT_FALSE(is_stalled(get("fast"), 0.5 + 61, StallRule{0, 60})) << "factor 0: off";
  // Only running tasks stall: finished, failed and janitor-stale ones do not.
  for (const Status s : {Status::kClose, Status::kError, Status::kStale}) {
    ASSERT_EQ(table().upsert(ev("fast").status(Status::kStart), 1.0), Upsert::kUpdated);
    ASSERT_EQ(table().upsert(ev("fast").status(s), 2.0), Upsert::kUpdated);
    EXPECT_FALSE(is_stalled(get("fast"), 1e6, rule)) << status_name(s);
  }
}

TEST_F(TaskTableTest, AnAcknowledgedFailureStaysAcknowledgedUntilTheTasksNextEvent) {
  ASSERT_EQ(table().upsert(ev("a").status(Status::kError).error("disk full"), 1.0),
            Upsert::kCreated);
  ASSERT_TRUE(table().modify("a", [](TaskRecord& r) {
    r.set(kHasAcknowledged);
    r.acknowledged_at = 5;
    return true;
  }));
  EXPECT_TRUE(get("a").has(kHasAcknowledged));
  EXPECT_EQ(get("a").acknowledged_at, 5);
  // Ignored events (a failed task takes only `start`) change nothing.
  ASSERT_EQ(table().upsert(ev("a").n(3), 6.0), Upsert::kIgnoredClosed);
  EXPECT_TRUE(get("a").has(kHasAcknowledged));
  ASSERT_EQ(table().upsert(ev("a").status(Status::kStart), 7.0), Upsert::kUpdated);
  EXPECT_FALSE(get("a").has(kHasAcknowledged)) << "a new run: the old acknowledgement is void";
}

TEST_F(TaskTableTest, ProgressPercentStandsInForN) {
  ASSERT_EQ(table().upsert(ev("a").progress(40), 1.0), Upsert::kCreated);
  TaskRecord t = get("a");
  EXPECT_EQ(t.total, 100);
  EXPECT_EQ(t.n, 40);
  ASSERT_EQ(table().upsert(ev("b").total(200).progress(25), 1.0), Upsert::kCreated);
  EXPECT_EQ(get("b").n, 50);
  ASSERT_EQ(table().upsert(ev("b").n(7).progress(90), 1.0), Upsert::kUpdated);
  EXPECT_EQ(get("b").n, 7) << "an explicit n wins over progress";
}

TEST_F(TaskTableTest, FullTableEvictsTheLeastRecentlyUpdatedClosedTask) {
  for (int i = 0; i < 8; ++i) {
    const std::string id = fmt::format("t{}", i);
    ASSERT_EQ(table().upsert(ev(id), 1.0 + i), Upsert::kCreated);
  }
  ASSERT_EQ(table().upsert(ev("t5").status(Status::kClose), 20.0), Upsert::kUpdated);
  ASSERT_EQ(table().upsert(ev("t2").status(Status::kClose), 21.0), Upsert::kUpdated);
  ASSERT_EQ(table().upsert(ev("new"), 30.0), Upsert::kCreated);
  TaskRecord t;
  EXPECT_FALSE(table().lookup("t5", t)) << "t5 was closed first";
  EXPECT_TRUE(table().lookup("t2", t));
  EXPECT_TRUE(table().lookup("new", t));
  EXPECT_EQ(count(Counter::kEvictions), 1u);
  EXPECT_EQ(table().check(), "");
}

TEST_F(TaskTableTest, FullTableWithoutFinishedTasksRejectsNewTasks) {
  for (int i = 0; i < 8; ++i) {
    const std::string id = fmt::format("t{}", i);
    ASSERT_EQ(table().upsert(ev(id).status(i == 0 ? Status::kStale : Status::kUpdate), 1.0), Upsert::kCreated);
  }
  EXPECT_EQ(table().upsert(ev("new"), 2.0), Upsert::kTableFull);
  EXPECT_EQ(count(Counter::kRejectedTableFull), 1u);
  EXPECT_EQ(table().upsert(ev("t3").n(4), 2.0), Upsert::kUpdated) << "existing tasks still update";
  EXPECT_EQ(table().size(), 8u);
}

TEST_F(TaskTableTest, FailedTasksAreEvictedLikeClosedOnesInTheOrderTheyFinished) {
  for (int i = 0; i < 8; ++i) ASSERT_EQ(table().upsert(ev(fmt::format("t{}", i)), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("t6").status(Status::kError), 20.0), Upsert::kUpdated);
  ASSERT_EQ(table().upsert(ev("t1").status(Status::kClose), 21.0), Upsert::kUpdated);
  ASSERT_EQ(table().upsert(ev("t4").status(Status::kError), 22.0), Upsert::kUpdated);
  // Reopened: off the eviction list again.
  ASSERT_EQ(table().upsert(ev("t6").status(Status::kStart), 23.0), Upsert::kUpdated);
  ASSERT_EQ(table().upsert(ev("n1"), 30.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("n2"), 31.0), Upsert::kCreated);
  TaskRecord t;
  EXPECT_FALSE(table().lookup("t1", t));
  EXPECT_FALSE(table().lookup("t4", t));
  EXPECT_TRUE(table().lookup("t6", t)) << "a reopened task is not evictable";
  EXPECT_EQ(table().upsert(ev("n3"), 32.0), Upsert::kTableFull);
  EXPECT_EQ(count(Counter::kEvictions), 2u);
  EXPECT_EQ(table().check(), "");
}

TEST(FullTable, AFloodOfRefusedNewTasksLeavesEveryUpdateOfExistingOnesApplied) {
  ScopedSegmentName name;
  auto store = Store::open(options(name, 256));
  TaskTable& table = store->table();
  for (int i = 0; i < 256; ++i) ASSERT_EQ(table.upsert(ev(fmt::format("t{}", i)), 1.0), Upsert::kCreated);
  std::atomic<bool> stop{false};
  std::atomic<int> refused{0}, other{0};
  std::thread flood([&] {
    // Bounded in count and time.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (int i = 0; i < 2000000 && !stop && std::chrono::steady_clock::now() < until; ++i) {
      (table.upsert(ev(fmt::format("new-{}", i)), 2.0) == Upsert::kTableFull ? refused : other)++;
    }
  });
  for (int round = 1; round <= 200; ++round) {
    for (int i = 0; i < 256; ++i) {
      ASSERT_EQ(table.upsert(ev(fmt::format("t{}", i)).n(round), 2.0), Upsert::kUpdated);
    }
  }
  stop = true;
  flood.join();
  EXPECT_GT(refused.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(store->counters().get(Counter::kRejectedTableFull), static_cast<std::uint64_t>(refused.load()));
  TaskRecord t;
  ASSERT_TRUE(table.lookup("t255", t));
  EXPECT_EQ(t.n, 200);
  EXPECT_EQ(table.check(), "");
}

TEST_F(TaskTableTest, RemoveFreesTheSlotForReuse) {
  for (int i = 0; i < 8; ++i) ASSERT_EQ(table().upsert(ev(fmt::format("t{}", i)), 1.0), Upsert::kCreated);
  EXPECT_TRUE(table().remove("t3"));
  EXPECT_FALSE(table().remove("t3"));
  EXPECT_FALSE(table().remove("never"));
  EXPECT_EQ(table().size(), 7u);
  ASSERT_EQ(table().upsert(ev("t8"), 2.0), Upsert::kCreated);
  TaskRecord t;
  EXPECT_FALSE(table().lookup("t3", t));
  for (int i = 0; i <= 8; ++i) {
    EXPECT_EQ(table().lookup(fmt::format("t{}", i), t), i != 3) << i;
  }
  EXPECT_EQ(count(Counter::kTasksRemoved), 1u);
  EXPECT_EQ(table().check(), "");
}

TEST_F(TaskTableTest, ChurnKeepsIndexConsistent) {
  // Many inserts and removals through a small index exercise backward-shift deletion.
  for (int round = 0; round < 500; ++round) {
    const std::string id = fmt::format("churn-{}", round);
    ASSERT_EQ(table().upsert(ev(id), 1.0), Upsert::kCreated);
    if (round % 3 != 0) {
      ASSERT_TRUE(table().remove(id));
    }
    if (table().size() == 8) {
      table().for_each([&](const TaskRecord& r) { (void)table().remove(r.task_id.view()); });
    }
  }
  ASSERT_EQ(table().check(), "");
}

TEST_F(TaskTableTest, ForEachVisitsEveryLiveTask) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(table().upsert(ev(fmt::format("t{}", i)), 1.0), Upsert::kCreated);
  ASSERT_TRUE(table().remove("t1"));
  std::set<std::string> seen;
  table().for_each([&](const TaskRecord& r) { seen.insert(std::string(r.task_id.view())); });
  EXPECT_EQ(seen, (std::set<std::string>{"t0", "t2", "t3", "t4"}));
}

TEST_F(TaskTableTest, PutReplacesWholeRecords) {
  TaskRecord r;
  r.task_id.assign("restored");
  r.status = Status::kRecovered;
  r.n = 3;
  r.set(kHasRecovered);
  ASSERT_EQ(table().put(r), Upsert::kCreated);
  TaskRecord t = get("restored");
  EXPECT_EQ(t.status, Status::kRecovered);
  EXPECT_TRUE(t.has(kHasRecovered));
  ASSERT_EQ(table().upsert(ev("restored").n(4), 2.0), Upsert::kUpdated);
  EXPECT_FALSE(get("restored").has(kHasRecovered)) << "an update clears recovered, as in Progressista";
}

TEST_F(TaskTableTest, LongestTaskIdsWork) {
  const std::string id(limits::kTaskId, 'x');
  ASSERT_EQ(table().upsert(ev(id).n(1), 1.0), Upsert::kCreated);
  EXPECT_EQ(get(id).task_id.view(), id);
}

TEST(TaskIdHash, SpreadsSimilarIds) {
  std::set<std::uint64_t> low_bits;
  for (int i = 0; i < 1024; ++i) low_bits.insert(hash_task_id(fmt::format("host:1732000000:{}", i)) & 4095);
  EXPECT_GT(low_bits.size(), 800u);
}

}  // namespace
}  // namespace progressista

namespace progressista {
namespace {

class TableEdits : public ::testing::Test {
 protected:
  testing::ScopedSegmentName name_;
  std::unique_ptr<Store> store_ = Store::open(testing::options(name_, 16));
  TaskTable& table() { return store_->table(); }
};

TEST_F(TableEdits, RemoveIfChecksTheCurrentRecord) {
  ASSERT_EQ(table().upsert(testing::ev("a").status(Status::kClose), 10.0), Upsert::kCreated);
  const auto closed = [](const TaskRecord& r) { return r.status == Status::kClose; };
  ASSERT_EQ(table().upsert(testing::ev("a").status(Status::kStart), 11.0), Upsert::kUpdated);
  EXPECT_FALSE(table().remove_if("a", closed)) << "reopened meanwhile: must stay";
  ASSERT_EQ(table().upsert(testing::ev("a").status(Status::kClose), 12.0), Upsert::kUpdated);
  EXPECT_TRUE(table().remove_if("a", closed));
  EXPECT_FALSE(table().remove_if("missing", closed));
  EXPECT_EQ(table().size(), 0u);
  EXPECT_EQ(table().check(), "");
}

TEST_F(TableEdits, ModifyChangesInPlaceAndShowsInTheFeed) {
  ASSERT_EQ(table().upsert(testing::ev("a").n(3), 10.0), Upsert::kCreated);
  const std::uint64_t before = store_->feed().head();
  EXPECT_TRUE(table().modify("a", [](TaskRecord& r) {
    r.status = Status::kStale;
    r.stale_at = 20;
    r.set(kHasStaleAt);
    return true;
  }));
  TaskRecord rec;
  ASSERT_TRUE(table().lookup("a", rec));
  EXPECT_EQ(rec.status, Status::kStale);
  EXPECT_EQ(rec.updated_at, 10.0) << "stale marking is not activity";
  EXPECT_EQ(rec.n, 3);
  EXPECT_EQ(store_->feed().head(), before + 1);
  EXPECT_FALSE(table().modify("a", [](TaskRecord&) { return false; }));
  EXPECT_EQ(store_->feed().head(), before + 1);
  EXPECT_FALSE(table().modify("missing", [](TaskRecord&) { return true; }));
}

}  // namespace
}  // namespace progressista
