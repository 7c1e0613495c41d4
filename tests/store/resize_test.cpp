// Resizing a segment keeps every task; processes attached to the old one follow; a segment
// re-created by name is followed too; a migrator killed at any instant leaves a usable store.
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "progressista/error.hpp"
#include "progressista/store.hpp"
#include "support/child_process.hpp"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using testing::ev;
using testing::options;
using testing::ScopedSegmentName;
using testing::spawn;
using testing::wait_for;

SegmentOptions resized(const ScopedSegmentName& name, std::uint32_t capacity) {
  SegmentOptions o = options(name, capacity);
  o.resize = true;
  return o;
}

// Applies an event, following the segment when the table says it moved (as the Ingestor does).
Upsert apply(Store& store, const Event& e, double now) { return store.upsert(e, now); }

TEST(Resize, KeepsEveryTaskAndTheEvictionOrderAndAttachedStoresFollow) {
  ScopedSegmentName name;
  auto a = Store::open(options(name, 64));
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(
        a->table().upsert(ev(fmt::format("t{}", i)).n(i).total(100).desc(fmt::format("task {}", i)),
                          1.0 + i),
        Upsert::kCreated);
  }
  ASSERT_EQ(a->table().upsert(ev("t7").status(Status::kError).error("boom"), 50.0),
            Upsert::kUpdated);
  ASSERT_EQ(a->table().upsert(ev("t3").status(Status::kClose), 51.0), Upsert::kUpdated);
  const std::uint64_t old_generation = a->segment().generation();
  const std::uint64_t applied = a->counters().get(Counter::kEventsApplied);
  FeedReader old_cursor(a->feed());
  old_cursor.start_snapshot();

  auto b = Store::open(resized(name, 128));
  EXPECT_EQ(b->table().capacity(), 128u);
  EXPECT_NE(b->segment().generation(), old_generation);
  EXPECT_EQ(b->table().size(), 40u);
  EXPECT_EQ(b->counters().get(Counter::kEventsApplied), applied) << "counters carry over";
  TaskRecord t;
  ASSERT_TRUE(b->table().lookup("t7", t));
  EXPECT_EQ(t.status, Status::kError);
  EXPECT_EQ(t.error.view(), "boom");
  ASSERT_TRUE(b->table().lookup("t39", t));
  EXPECT_EQ(t.n, 39);
  EXPECT_EQ(t.desc.view(), "task 39");
  EXPECT_EQ(t.created_at, 40.0);
  EXPECT_EQ(b->table().check(), "");

  // The old attachment answers kMoved until it follows; then it is on the new segment.
  EXPECT_EQ(a->table().upsert(ev("t1").n(5), 60.0), Upsert::kMoved);
  EXPECT_TRUE(a->follow());
  EXPECT_EQ(a->segment().generation(), b->segment().generation());
  EXPECT_EQ(a->follows(), 1u);
  ASSERT_EQ(a->table().upsert(ev("t1").n(5), 60.0), Upsert::kUpdated);
  ASSERT_TRUE(b->table().lookup("t1", t));
  EXPECT_EQ(t.n, 5);
  EXPECT_FALSE(a->follow()) << "nothing more to follow";

  // A cursor from the old feed reads as lapped in the new one: readers rescan.
  std::vector<Change> out;
  FeedReader moved(b->feed());
  moved.seek(old_cursor.cursor());
  EXPECT_EQ(moved.poll(out), FeedReader::Poll::kLapped);
  // ...and after that rescan the new feed reads cleanly: the skipped sequences are no holes.
  EXPECT_EQ(moved.start_snapshot(), b->feed().head());
  std::this_thread::sleep_for(FeedReader::kHoleTimeout + std::chrono::milliseconds(50));
  out.clear();
  EXPECT_EQ(moved.poll(out), FeedReader::Poll::kOk);
  EXPECT_TRUE(out.empty());
  ASSERT_EQ(b->table().upsert(ev("t2").n(9), 61.0), Upsert::kUpdated);
  EXPECT_EQ(moved.poll(out), FeedReader::Poll::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].removed);

  // Eviction order survived: t7 failed before t3 closed, so t7 goes first.
  for (int i = 0; b->table().size() < 128; ++i) {
    ASSERT_EQ(b->table().upsert(ev(fmt::format("fill{}", i)), 70.0), Upsert::kCreated);
  }
  ASSERT_EQ(b->table().upsert(ev("one-more"), 71.0), Upsert::kCreated);
  EXPECT_FALSE(b->table().lookup("t7", t));
  EXPECT_TRUE(b->table().lookup("t3", t));
}

TEST(Resize, RefusedWhenTheTasksDoNotFitAndNothingChanges) {
  ScopedSegmentName name;
  auto a = Store::open(options(name, 64));
  for (int i = 0; i < 50; ++i)
    ASSERT_EQ(a->table().upsert(ev(fmt::format("t{}", i)), 1.0), Upsert::kCreated);
  try {
    (void)Store::open(resized(name, 16));
    ADD_FAILURE() << "50 tasks cannot fit in 16 slots";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::kInvalidShape);
    EXPECT_NE(std::string(e.what()).find("its 50 tasks need 50 task slots"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("left as it was"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(a->follow());
  EXPECT_EQ(a->table().upsert(ev("t1").n(1), 2.0), Upsert::kUpdated)
      << "the old segment stays in service";
  EXPECT_EQ(a->table().capacity(), 64u);
  // Smaller, but large enough: fine.
  auto b = Store::open(resized(name, 50));
  EXPECT_EQ(b->table().size(), 50u);
  EXPECT_TRUE(a->follow());
  EXPECT_EQ(a->table().capacity(), 50u);
}

TEST(Resize, ASegmentRecreatedByNameIsFollowed) {
  ScopedSegmentName name;
  auto a = Store::open(options(name, 16));
  ASSERT_EQ(a->table().upsert(ev("old"), 1.0), Upsert::kCreated);
  ASSERT_TRUE(Segment::remove(name.str()));
  auto b = Store::open(options(name, 32));
  ASSERT_EQ(b->table().upsert(ev("new"), 1.0), Upsert::kCreated);
  // follow() stats the name at most every kCheckInterval: wait that long at most.
  bool followed = false;
  for (int i = 0; i < 200 && !followed; ++i) {
    followed = a->follow();
    if (!followed) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(followed);
  TaskRecord t;
  EXPECT_TRUE(a->table().lookup("new", t));
  EXPECT_FALSE(a->table().lookup("old", t));
  EXPECT_EQ(a->table().capacity(), 32u);
}

TEST(Resize, EnrolledProcessesReEnrollInTheNewSegment) {
  ScopedSegmentName name;
  auto a = Store::open(options(name, 16));
  ASSERT_TRUE(a->enroll(Role::kIngest));
  auto b = Store::open(resized(name, 24));
  ASSERT_TRUE(a->follow());
  a->beat();
  const auto info = b->processes().freshest(Role::kIngest);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->pid, static_cast<std::uint32_t>(::getpid()));
  a->leave();
}

// A migrator SIGKILLed at a random instant (creating the new segment, copying, renaming):
// afterwards the name leads to a usable store holding every task with its last value, and
// writers attached to the old one carry on after at most one follow.
TEST(Resize, AMigratorKilledAtAnyInstantLosesNothing) {
  ScopedSegmentName name;
  std::mt19937 rng(20261130);
  auto a = Store::open(options(name, 64));
  for (int i = 0; i < 48; ++i)
    ASSERT_EQ(a->table().upsert(ev(fmt::format("t{}", i)).n(0), 1.0), Upsert::kCreated);
  ::alarm(300);
  int completed = 0;
  for (int round = 1; round <= 40; ++round) {
    const std::uint32_t cap = round % 2 ? 96 : 64;
    const pid_t child = spawn([&]() -> int {
      (void)Store::open(resized(name, cap));
      return 0;
    });
    // Meanwhile this process keeps writing (following when told the segment moved).
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::microseconds(200 + rng() % 3000);
    int writes = 0;
    while (std::chrono::steady_clock::now() < until) {
      const int i = writes++ % 48;
      ASSERT_EQ(apply(*a, ev(fmt::format("t{}", i)).n(round), now_seconds()), Upsert::kUpdated)
          << round;
    }
    ::kill(child, SIGKILL);
    const int rc = wait_for(child);
    completed += rc == 0;
    ASSERT_TRUE(rc == 0 || rc == 128 + SIGKILL) << rc;
    // Every task carries this round's value once written again, wherever the name leads.
    for (int i = 0; i < 48; ++i) {
      ASSERT_EQ(apply(*a, ev(fmt::format("t{}", i)).n(round), now_seconds()), Upsert::kUpdated)
          << round;
    }
    (void)a->follow();
    auto probe = Store::open(options(name, a->table().capacity()));
    TaskRecord t;
    for (int i = 0; i < 48; ++i) {
      ASSERT_TRUE(probe->table().lookup(fmt::format("t{}", i), t))
          << "round " << round << " task " << i;
      ASSERT_EQ(t.n, round) << "round " << round << " task " << i;
    }
    ASSERT_EQ(probe->table().size(), 48u);
    ASSERT_EQ(probe->table().check(), "") << round;
  }
  ::alarm(0);
  std::printf("%d of 40 resizes completed before their kill\n", completed);
  // The next resize clears what killed migrators left; then nothing but the segment remains.
  auto last = Store::open(resized(name, 80));
  EXPECT_EQ(last->table().size(), 48u);
  std::size_t leftovers = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm")) {
    leftovers += entry.path().filename().string().starts_with(name.str() + ".resize-");
  }
  EXPECT_EQ(leftovers, 0u);
}

}  // namespace
}  // namespace progressista
