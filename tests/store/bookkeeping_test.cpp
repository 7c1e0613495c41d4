// Heartbeats, counters and the janitor lease, shared by real processes through the segment.
#include <string>

#include <gtest/gtest.h>

#include "progressista/store.hpp"
#include "support/child_process.hpp"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using testing::ScopedSegmentName;
using testing::spawn;
using testing::StartGate;
using testing::wait_for;

constexpr std::int64_t kSecond = 1'000'000'000;

TEST(Bookkeeping, CountersAreSharedByEveryAttachedProcess) {
  ScopedSegmentName name;
  auto store = Store::open(testing::options(name));
  const pid_t child = spawn([&] {
    auto s = Store::open(testing::options(name));
    s->counters().add(Counter::kRejectedAuth, 5);
    return 0;
  });
  ASSERT_EQ(wait_for(child), 0);
  store->counters().add(Counter::kRejectedAuth);
  EXPECT_EQ(store->counters().get(Counter::kRejectedAuth), 6u);
  EXPECT_EQ(counter_name(Counter::kRejectedAuth), "rejected_auth");
  for (std::size_t c = 0; c < static_cast<std::size_t>(Counter::kCount); ++c) {
    EXPECT_NE(counter_name(static_cast<Counter>(c)), "unknown") << c;
  }
}

TEST(Bookkeeping, HeartbeatsAreVisibleAndDeadProcessesAreReported) {
  ScopedSegmentName name;
  auto store = Store::open(testing::options(name));
  const int mine = store->processes().enroll(Role::kBroadcast);
  ASSERT_GE(mine, 0);
  pid_t child_pid = 0;
  child_pid = spawn([&] {
    auto s = Store::open(testing::options(name));
    return s->processes().enroll(Role::kIngest) >= 0 ? 0 : 1;  // exits without leaving
  });
  ASSERT_EQ(wait_for(child_pid), 0);

  bool saw_child = false;
  for (const auto& info : store->processes().list()) {
    if (info.pid == static_cast<std::uint32_t>(child_pid)) {
      saw_child = true;
      EXPECT_EQ(info.role, Role::kIngest);
      EXPECT_FALSE(info.alive);
    }
  }
  EXPECT_TRUE(saw_child);
  // A dead ingest is no peer: /health must say its heartbeat is stale.
  EXPECT_FALSE(store->processes().freshest(Role::kIngest));
  const auto me = store->processes().freshest(Role::kBroadcast);
  ASSERT_TRUE(me);
  const std::int64_t before = me->beat_ns;
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  store->processes().beat(mine);
  EXPECT_GT(store->processes().freshest(Role::kBroadcast)->beat_ns, before);
  store->processes().leave(mine);
  EXPECT_FALSE(store->processes().freshest(Role::kBroadcast));
}

TEST(Bookkeeping, EntriesOfDeadProcessesAreReused) {
  ScopedSegmentName name;
  auto store = Store::open(testing::options(name));
  // Far more short-lived processes than there are entries.
  for (int i = 0; i < 100; ++i) {
    const pid_t c = spawn([&] {
      auto s = Store::open(testing::options(name));
      return s->processes().enroll(Role::kNginx) >= 0 ? 0 : 1;
    });
    ASSERT_EQ(wait_for(c), 0) << "enroll failed after " << i << " dead processes";
  }
  EXPECT_GE(store->processes().enroll(Role::kServe), 0);
}

TEST(Bookkeeping, OneJanitorAtATime) {
  ScopedSegmentName name;
  auto store = Store::open(testing::options(name));
  StartGate hold;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t holder = spawn([&] {
    auto s = Store::open(testing::options(name));
    if (!s->janitor().try_acquire(now_ns(), 60 * kSecond)) return 1;
    (void)!::write(ready[1], "x", 1);
    hold.wait();
    return 0;
  });
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  EXPECT_EQ(store->janitor().holder(), static_cast<std::uint32_t>(holder));
  EXPECT_FALSE(store->janitor().try_acquire(now_ns(), 60 * kSecond)) << "lease held by a live process";
  hold.release();
  ASSERT_EQ(wait_for(holder), 0);
  // The holder exited without releasing: its lease is taken over at once.
  EXPECT_TRUE(store->janitor().try_acquire(now_ns(), 60 * kSecond));
  EXPECT_EQ(store->janitor().holder(), static_cast<std::uint32_t>(::getpid()));
  // Renewal by the holder succeeds; release lets anyone take it.
  EXPECT_TRUE(store->janitor().try_acquire(now_ns(), 60 * kSecond));
  store->janitor().release();
  EXPECT_EQ(store->janitor().holder(), 0u);
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(Bookkeeping, KilledJanitorIsReplacedAndAHungOneWhenItsLeaseRunsOut) {
  ScopedSegmentName name;
  auto store = Store::open(testing::options(name));
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const auto holder_that_sleeps = [&] {
    auto s = Store::open(testing::options(name));
    // A lease of 200 ms, renewed by nobody: as if the holder hung.
    if (!s->janitor().try_acquire(now_ns(), kSecond / 5)) return 1;
    (void)!::write(ready[1], "x", 1);
    std::this_thread::sleep_for(std::chrono::seconds(30));
    return 0;
  };
  char c;
  // Killed: taken over at once.
  pid_t holder = spawn(holder_that_sleeps);
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  EXPECT_FALSE(store->janitor().try_acquire(now_ns(), kSecond));
  ::kill(holder, SIGKILL);
  ASSERT_EQ(wait_for(holder), 128 + SIGKILL);
  EXPECT_TRUE(store->janitor().try_acquire(now_ns(), kSecond));
  store->janitor().release();

  // Alive but not renewing: taken over once its lease expires.
  holder = spawn(holder_that_sleeps);
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  EXPECT_FALSE(store->janitor().try_acquire(now_ns(), kSecond));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(store->janitor().try_acquire(now_ns(), kSecond));
  EXPECT_EQ(store->janitor().holder(), static_cast<std::uint32_t>(::getpid()));
  ::kill(holder, SIGKILL);
  wait_for(holder);
  ::close(ready[0]);
  ::close(ready[1]);
}

}  // namespace
}  // namespace progressista
