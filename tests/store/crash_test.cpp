// Writers SIGKILLed at random instants, hundreds of times: no lock stays held, no task is
// torn, the index stays consistent and the survivors keep writing.
#include <unistd.h>

#include <random>
#include <string>

#include <gtest/gtest.h>

#include "progressista/store.hpp"
#include "support/child_process.hpp"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using testing::ev;
using testing::ScopedSegmentName;
using testing::spawn;
using testing::wait_for;

constexpr int kKills = 250;
constexpr std::uint32_t kCapacity = 64;

std::string desc_for(double n) {
  const auto v = static_cast<long long>(n);
  return fmt::format("{}|{}", v, std::string(static_cast<std::size_t>(v % 300), 'x'));
}
bool consistent(const TaskRecord& r) { return r.desc.view() == desc_for(r.n); }

// Creates, updates, closes and removes tasks as fast as it can, so that a kill lands inside
// every kind of critical section: slot updates, inserts, removals and evictions.
[[noreturn]] void churn(const SegmentOptions& opt, unsigned seed) {
  auto store = Store::open(opt);
  TaskTable& table = store->table();
  std::mt19937 rng(seed);
  for (std::uint64_t i = 0;; ++i) {
    const std::string id = fmt::format("c-{}", rng() % 96);
    const double n = static_cast<double>(rng() % 100000);
    const std::string d = desc_for(n);
    switch (rng() % 8) {
      case 0: (void)table.remove(id); break;
      case 3:  // a record that grows and shrinks across blocks
        (void)table.upsert(ev(id).n(n).desc(d).message(std::string(rng() % 513, 'm')), now_seconds());
        break;
      case 1: (void)table.upsert(ev(id).n(n).desc(d).status(Status::kClose), now_seconds()); break;
      case 2: (void)table.upsert(ev(id).n(n).desc(d).status(Status::kStart), now_seconds()); break;
      default: (void)table.upsert(ev(id).n(n).desc(d), now_seconds()); break;
    }
  }
}

TEST(Crash, HundredsOfSigkilledWritersNeverLeaveALockHeldOrATaskTorn) {
  ScopedSegmentName name;
  const SegmentOptions opt = testing::options(name, kCapacity);
  auto store = Store::open(opt);
  TaskTable& table = store->table();
  std::mt19937 rng(20261123);
  // A lock left held forever would hang this process: fail loudly instead.
  ::alarm(300);
  for (int round = 0; round < kKills; ++round) {
    const pid_t a = spawn([&]() -> int { churn(opt, static_cast<unsigned>(round * 2)); });
    const pid_t b = spawn([&]() -> int { churn(opt, static_cast<unsigned>(round * 2 + 1)); });
    std::this_thread::sleep_for(std::chrono::microseconds(500 + rng() % 4000));
    ::kill(a, SIGKILL);
    // The second writer keeps going for a moment on a segment the first died in.
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 1000));
    ::kill(b, SIGKILL);
    ASSERT_EQ(wait_for(a), 128 + SIGKILL);
    ASSERT_EQ(wait_for(b), 128 + SIGKILL);

    // This process must still be able to write: create, update, close, remove.
    const std::string mine = fmt::format("parent-{}", round % 4);
    const double n = round;
    const Upsert u = table.upsert(ev(mine).n(n).desc(desc_for(n)).status(Status::kStart), now_seconds());
    ASSERT_TRUE(u == Upsert::kCreated || u == Upsert::kUpdated || u == Upsert::kTableFull)
        << "round " << round;
    if (u != Upsert::kTableFull) {
      TaskRecord rec;
      ASSERT_TRUE(table.lookup(mine, rec));
      EXPECT_EQ(rec.n, n);
      // Closing adds done_at: on a budget the killed writers filled, that may not fit, and
      // the table says so rather than hanging or tearing (seen once in a fresh-clone ASan run).
      const Upsert closed = table.upsert(ev(mine).status(Status::kClose), now_seconds());
      ASSERT_TRUE(closed == Upsert::kUpdated || closed == Upsert::kTableFull)
          << "round " << round << ": " << static_cast<int>(closed);
    }
    if (round % 10 == 0) {
      ASSERT_EQ(table.check(), "") << "after round " << round;
    }
  }
  ::alarm(0);

  ASSERT_EQ(table.check(), "");
  std::size_t live = 0;
  table.for_each([&](const TaskRecord& r) {
    ++live;
    if (r.task_id.view().starts_with("c-")) {
      EXPECT_TRUE(consistent(r)) << "torn task " << r.task_id.view() << " n=" << r.n;
    }
  });
  EXPECT_EQ(live, table.size());
  // Killed writers were caught holding locks, and those were recovered.
  EXPECT_GT(store->counters().get(Counter::kLockRecoveries), 0u);
  std::printf("lock recoveries after %d kills: %llu; evictions: %llu\n", 2 * kKills,
              static_cast<unsigned long long>(store->counters().get(Counter::kLockRecoveries)),
              static_cast<unsigned long long>(store->counters().get(Counter::kEvictions)));
  // The budget is tight (64 slots, 96 ids, records of one to three blocks): kills landed in
  // evictions and block allocations too.
  EXPECT_GT(store->counters().get(Counter::kEvictions), 0u);

  // And the table still works end to end: fill it with closed tasks, then evict them.
  for (int i = 0; i < static_cast<int>(kCapacity) * 2; ++i) {
    const std::string id = fmt::format("after-{}", i);
    const Upsert u = table.upsert(ev(id).status(Status::kClose), now_seconds());
    ASSERT_TRUE(u == Upsert::kCreated || u == Upsert::kTableFull) << id;
  }
  EXPECT_EQ(table.check(), "");
}

}  // namespace
}  // namespace progressista
