// Several real processes on one real segment: writers in two processes and a reader in a
// third. The reader must never see a torn task, and the final table must hold exactly what
// the writers were told was applied.
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
using testing::StartGate;
using testing::wait_for;

constexpr int kWriterTasks = 32;
constexpr int kSharedTasks = 8;
// Writers hammer the table for this long (at least kMinRounds rounds each).
constexpr auto kHammer = std::chrono::seconds(3);
constexpr int kMinRounds = 50;

// The description and meta are functions of n, with lengths that vary with n: a record mixed
// from two versions cannot satisfy both.
std::string desc_for(double n) {
  std::string d;
  const auto v = static_cast<long long>(n);
  for (long long i = 0; i <= v % 40; ++i) d += fmt::format("v{}:", v);
  return d.substr(0, limits::kDesc);
}
std::string meta_for(double n) { return fmt::format(R"({{"v":{},"pad":"{}"}})", static_cast<long long>(n),
                                                    std::string(static_cast<std::size_t>(n) % 90, 'p')); }

bool consistent(const TaskRecord& r) {
  return r.desc.view() == desc_for(r.n) && r.meta.view() == meta_for(r.n);
}

// Writer `w` updates its own tasks and the shared ones; value = round * 100 + k, so later
// events of a task always carry larger n. Reports the number of rounds it completed (every
// upsert of which was acknowledged) on `report`.
int writer(const SegmentOptions& opt, int w, StartGate& gate, int report) {
  auto store = Store::open(opt);
  gate.wait();
  const auto until = std::chrono::steady_clock::now() + kHammer;
  int round = 0;
  for (; round < kMinRounds || std::chrono::steady_clock::now() < until; ++round) {
    for (int k = 0; k < kWriterTasks + kSharedTasks; ++k) {
      const std::string id = k < kWriterTasks ? fmt::format("w{}-{}", w, k) : fmt::format("shared-{}", k);
      const double n = round * 100 + k;
      const std::string d = desc_for(n), m = meta_for(n);
      const Upsert u = store->table().upsert(ev(id).n(n).total(1e9).desc(d).meta(m), now_seconds());
      if (u != Upsert::kCreated && u != Upsert::kUpdated) return 10;
    }
  }
  return ::write(report, &round, sizeof round) == sizeof round ? 0 : 11;
}

// Reads everything over and over until the parent writes the task "done"; exit code 1 on a
// torn record, 2 when the reader never got to read anything.
int reader(const SegmentOptions& opt, StartGate& gate) {
  auto store = Store::open(opt);
  gate.wait();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  std::size_t reads = 0;
  TaskRecord rec;
  while (std::chrono::steady_clock::now() < deadline) {
    bool torn = false;
    store->table().for_each([&](const TaskRecord& r) {
      ++reads;
      if (r.task_id.view() != "done" && !consistent(r)) torn = true;
    });
    if (store->table().lookup("shared-35", rec) && !consistent(rec)) torn = true;
    if (torn) return 1;
    if (store->table().lookup("done", rec)) return reads > 0 ? 0 : 2;
  }
  return 3;
}

TEST(MultiProcess, TwoWriterProcessesAndAReaderProcessNeverTearAndLoseNothing) {
  ScopedSegmentName name;
  const SegmentOptions opt = testing::options(name, 256);
  auto store = Store::open(opt);
  StartGate gate;
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t w0 = spawn([&] { return writer(opt, 0, gate, report[1]); });
  const pid_t w1 = spawn([&] { return writer(opt, 1, gate, report[1]); });
  const pid_t r = spawn([&] { return reader(opt, gate); });
  gate.release();
  ASSERT_EQ(wait_for(w0, std::chrono::seconds(240)), 0);
  ASSERT_EQ(wait_for(w1, std::chrono::seconds(240)), 0);
  // Two reports of one int each; which writer sent which does not matter below except for
  // the per-writer tasks, so each writer's count is matched by its tasks' final n.
  int rounds[2] = {0, 0};
  ASSERT_EQ(::read(report[0], &rounds[0], sizeof(int)), static_cast<ssize_t>(sizeof(int)));
  ASSERT_EQ(::read(report[0], &rounds[1], sizeof(int)), static_cast<ssize_t>(sizeof(int)));
  ::close(report[0]);
  ::close(report[1]);
  ASSERT_EQ(store->table().upsert(ev("done"), now_seconds()), Upsert::kCreated);
  EXPECT_EQ(wait_for(r, std::chrono::seconds(240)), 0) << "the reader saw a torn task (1) or timed out";

  // Final state: every task holds the last value its writer(s) were told was applied.
  const auto last = [](int r, int k) { return (r - 1) * 100.0 + k; };
  TaskRecord rec;
  for (int w = 0; w < 2; ++w) {
    ASSERT_TRUE(store->table().lookup(fmt::format("w{}-0", w), rec));
    const int mine = rec.n == last(rounds[0], 0) ? rounds[0] : rounds[1];
    for (int k = 0; k < kWriterTasks; ++k) {
      ASSERT_TRUE(store->table().lookup(fmt::format("w{}-{}", w, k), rec));
      EXPECT_EQ(rec.n, last(mine, k)) << "w" << w << "-" << k;
      EXPECT_TRUE(consistent(rec));
    }
  }
  for (int k = kWriterTasks; k < kWriterTasks + kSharedTasks; ++k) {
    ASSERT_TRUE(store->table().lookup(fmt::format("shared-{}", k), rec));
    EXPECT_TRUE(rec.n == last(rounds[0], k) || rec.n == last(rounds[1], k)) << "shared-" << k << " n=" << rec.n;
    EXPECT_TRUE(consistent(rec));
  }
  EXPECT_EQ(store->table().size(), 2u * kWriterTasks + kSharedTasks + 1);
  const auto applied = store->counters().get(Counter::kEventsApplied);
  EXPECT_EQ(applied, static_cast<std::uint64_t>(rounds[0] + rounds[1]) * (kWriterTasks + kSharedTasks) + 1);
  std::printf("writer rounds: %d and %d (%d events each per round)\n", rounds[0], rounds[1],
              kWriterTasks + kSharedTasks);
  EXPECT_EQ(store->table().check(), "");
}

TEST(MultiProcess, ProcessesInsertingTheSameNewTasksAtOnceEndWithOneEach) {
  ScopedSegmentName name;
  const SegmentOptions opt = testing::options(name, 512);
  auto store = Store::open(opt);
  constexpr int kChildren = 4;
  constexpr int kIds = 300;
  StartGate gate;
  std::vector<pid_t> kids;
  for (int c = 0; c < kChildren; ++c) {
    kids.push_back(spawn([&, c] {
      auto s = Store::open(opt);
      gate.wait();
      for (int i = 0; i < kIds; ++i) {
        // Each child walks the ids in its own order, so every pair of children collides.
        const int id = (c % 2 == 0) ? i : kIds - 1 - i;
        const Upsert u = s->table().upsert(ev(fmt::format("race-{}", id)).n(c), now_seconds());
        if (u != Upsert::kCreated && u != Upsert::kUpdated) return 10;
      }
      return 0;
    }));
  }
  gate.release();
  for (pid_t k : kids) EXPECT_EQ(wait_for(k), 0);
  EXPECT_EQ(store->table().size(), static_cast<std::uint32_t>(kIds));
  EXPECT_EQ(store->counters().get(Counter::kTasksCreated), static_cast<std::uint64_t>(kIds));
  EXPECT_EQ(store->counters().get(Counter::kEventsApplied), static_cast<std::uint64_t>(kIds * kChildren));
  EXPECT_EQ(store->table().check(), "");
}

}  // namespace
}  // namespace progressista
