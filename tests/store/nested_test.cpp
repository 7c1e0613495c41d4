// Nested progress: a parent's n, total and status follow its children's, incrementally.
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "progressista/ingest.hpp"
#include "progressista/snapshot.hpp"
#include "progressista/store.hpp"
#include "progressista/task_json.hpp"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using testing::ev;
using testing::options;
using testing::ScopedSegmentName;

class NestedTest : public ::testing::Test {
 protected:
  TaskRecord get(std::string_view id) {
    TaskRecord t;
    EXPECT_TRUE(table().lookup(id, t)) << id;
    return t;
  }
  bool has(std::string_view id) {
    TaskRecord t;
    return table().lookup(id, t);
  }
  TaskTable& table() { return store->table(); }
  std::uint64_t count(Counter c) { return store->counters().get(c); }

  ScopedSegmentName name;
  std::unique_ptr<Store> store = Store::open(options(name, 256));
};

TEST_F(NestedTest, ImplicitParentSumsItsChildren) {
  ASSERT_EQ(table().upsert(ev("w1").parent("job").n(3).total(10), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("w2").parent("job").n(4).total(20), 1.0), Upsert::kCreated);
  const TaskRecord job = get("job");
  EXPECT_EQ(job.n, 7);
  ASSERT_TRUE(job.has(kHasTotal));
  EXPECT_EQ(job.total, 30);
  EXPECT_EQ(job.kids, 2);
  EXPECT_EQ(job.kids_running(), 2);
  EXPECT_FALSE(is_terminal(job.status));
  ASSERT_EQ(table().upsert(ev("w1").n(9), 2.0), Upsert::kUpdated);
  EXPECT_EQ(get("job").n, 13) << "a child's change moves the sum by its difference";
  EXPECT_EQ(get("w1").parent_id(), "job") << "the parent stays when later events omit it";
}

TEST_F(NestedTest, UnknownTotalMakesTheParentIndeterminate) {
  ASSERT_EQ(table().upsert(ev("a").parent("p").n(1).total(5), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("b").parent("p").n(2), 1.0), Upsert::kCreated);
  EXPECT_FALSE(get("p").has(kHasTotal));
  EXPECT_EQ(get("p").n, 3);
  ASSERT_EQ(table().upsert(ev("b").total(4), 2.0), Upsert::kUpdated);
  ASSERT_TRUE(get("p").has(kHasTotal));
  EXPECT_EQ(get("p").total, 9);
}

TEST_F(NestedTest, StatusIsDerivedFromTheChildren) {
  ASSERT_EQ(table().upsert(ev("a").parent("p").n(1), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("b").parent("p").n(1), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("a").status(Status::kClose), 2.0), Upsert::kUpdated);
  EXPECT_FALSE(is_terminal(get("p").status)) << "one child still runs";
  EXPECT_EQ(get("p").kids_closed, 1);
  ASSERT_EQ(table().upsert(ev("b").status(Status::kClose), 3.0), Upsert::kUpdated);
  EXPECT_EQ(get("p").status, Status::kClose);
  EXPECT_TRUE(get("p").has(kHasDoneAt));
  EXPECT_EQ(count(Counter::kTasksClosed), 3u) << "the parent's completion counts too";
  ASSERT_EQ(table().upsert(ev("b").status(Status::kStart), 4.0), Upsert::kUpdated);
  EXPECT_EQ(get("p").status, Status::kUpdate) << "a reopened child reopens its parent";
  EXPECT_FALSE(get("p").has(kHasDoneAt));
}

TEST_F(NestedTest, AFailedChildFailsTheParentUnlessConfiguredOff) {
  ASSERT_EQ(table().upsert(ev("a").parent("p"), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("b").parent("p"), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("a").status(Status::kError), 2.0), Upsert::kUpdated);
  EXPECT_EQ(get("p").status, Status::kError);
  EXPECT_EQ(get("p").kids_failed, 1);

  table().set_parent_fails_with_child(false);
  ASSERT_EQ(table().upsert(ev("c").parent("q"), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("d").parent("q"), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("c").status(Status::kError), 2.0), Upsert::kUpdated);
  EXPECT_FALSE(is_terminal(get("q").status)) << "d still runs";
  ASSERT_EQ(table().upsert(ev("d").status(Status::kClose), 3.0), Upsert::kUpdated);
  EXPECT_EQ(get("q").status, Status::kClose) << "no child runs";
}

TEST_F(NestedTest, AnExplicitParentKeepsItsFieldsButDerivesItsNumbers) {
  ASSERT_EQ(table().upsert(ev("p").desc("the job").project("ml").n(100).total(100), 1.0),
            Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("a").parent("p").n(2).total(8), 2.0), Upsert::kCreated);
  TaskRecord p = get("p");
  EXPECT_EQ(p.desc.view(), "the job");
  EXPECT_EQ(p.project.view(), "ml");
  EXPECT_EQ(p.n, 2);
  EXPECT_EQ(p.total, 8);
  ASSERT_EQ(table().upsert(ev("p").n(50).desc("renamed"), 3.0), Upsert::kUpdated);
  p = get("p");
  EXPECT_EQ(p.desc.view(), "renamed");
  EXPECT_EQ(p.n, 2) << "while it has children, its own n is overridden";
}

TEST_F(NestedTest, NestsToAnyDepthAndRollsUp) {
  ASSERT_EQ(table().upsert(ev("leaf").parent("mid").n(5).total(10), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("mid").parent("root"), 1.0), Upsert::kUpdated);
  EXPECT_EQ(get("root").n, 5);
  EXPECT_EQ(get("root").total, 10);
  ASSERT_EQ(table().upsert(ev("leaf").n(7), 2.0), Upsert::kUpdated);
  EXPECT_EQ(get("mid").n, 7);
  EXPECT_EQ(get("root").n, 7);
  EXPECT_EQ(get("root").kids, 1) << "root's child is mid, not leaf";
}

TEST_F(NestedTest, RemovalSubtractsTheChildAndTheParentStaysWhileItHasChildren) {
  ASSERT_EQ(table().upsert(ev("a").parent("p").n(3).total(3).status(Status::kClose), 1.0),
            Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("b").parent("p").n(1).total(4), 1.0), Upsert::kCreated);
  EXPECT_FALSE(table().remove("p")) << "a parent with children is never removed";
  EXPECT_TRUE(table().remove("a"));
  TaskRecord p = get("p");
  EXPECT_EQ(p.n, 1);
  EXPECT_EQ(p.total, 4);
  EXPECT_EQ(p.kids, 1);
  EXPECT_EQ(p.kids_closed, 0);
  EXPECT_TRUE(table().remove("b"));
  EXPECT_EQ(get("p").kids, 0);
  EXPECT_TRUE(table().remove("p")) << "childless now";
  EXPECT_EQ(table().check(), "");
}

TEST_F(NestedTest, ReparentingMovesTheShare) {
  ASSERT_EQ(table().upsert(ev("a").parent("p").n(3).total(10), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("b").parent("p").n(1).total(1), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("a").parent("q").n(4), 2.0), Upsert::kUpdated);
  EXPECT_EQ(get("p").n, 1);
  EXPECT_EQ(get("p").kids, 1);
  EXPECT_EQ(get("q").n, 4);
  EXPECT_EQ(get("q").total, 10);
  ASSERT_EQ(table().upsert(ev("a").parent(""), 3.0), Upsert::kUpdated);
  EXPECT_EQ(get("q").kids, 0) << "an empty parent detaches";
  EXPECT_EQ(get("a").parent_id(), "");
}

TEST_F(NestedTest, CyclesAreRefused) {
  ASSERT_EQ(table().upsert(ev("a").parent("b"), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("b").parent("c"), 1.0), Upsert::kUpdated);
  EXPECT_EQ(table().upsert(ev("c").parent("a"), 2.0), Upsert::kParentCycle);
  EXPECT_EQ(table().upsert(ev("x").parent("x"), 2.0), Upsert::kParentCycle);
  EXPECT_FALSE(has("x")) << "a refused new task is not created";
  EXPECT_EQ(count(Counter::kRejectedParentCycle), 2u);
  EXPECT_EQ(get("c").parent_id(), "");
}

TEST_F(NestedTest, ChainsDeeperThanTheLimitAreRefused) {
  // t0 <- t1 <- ... : t_i's parent is t_{i-1}; t_k has k ancestors.
  for (int i = 1; i <= limits::kMaxParentDepth; ++i) {
    ASSERT_NE(table().upsert(ev(fmt::format("t{}", i)).parent(fmt::format("t{}", i - 1)).n(1), 1.0),
              Upsert::kParentTooDeep)
        << i;
  }
  const std::string deep = fmt::format("t{}", limits::kMaxParentDepth + 1);
  EXPECT_EQ(table().upsert(ev(deep).parent(fmt::format("t{}", limits::kMaxParentDepth)), 2.0),
            Upsert::kParentTooDeep);
  EXPECT_EQ(count(Counter::kRejectedParentDepth), 1u);
  EXPECT_EQ(get("t0").n, 1) << "t1's n, rolled up through every level";
}

TEST_F(NestedTest, ConcurrentChildrenEndWithExactSums) {
  constexpr int kChildren = 40;
  constexpr int kSteps = 200;
  auto worker = [&](int first) {
    for (int step = 1; step <= kSteps; ++step) {
      for (int c = first; c < kChildren; c += 2) {
        Upsert u = table().upsert(ev(fmt::format("c{}", c)).parent("job").n(step).total(kSteps),
                                  1.0 + step);
        ASSERT_TRUE(u == Upsert::kCreated || u == Upsert::kUpdated);
      }
    }
    for (int c = first; c < kChildren; c += 2) {
      ASSERT_EQ(table().upsert(ev(fmt::format("c{}", c)).status(Status::kClose), 1000.0),
                Upsert::kUpdated);
    }
  };
  std::thread t1(worker, 0), t2(worker, 1);
  t1.join();
  t2.join();
  const TaskRecord job = get("job");
  EXPECT_EQ(job.kids, kChildren);
  EXPECT_EQ(job.n, kChildren * kSteps);
  EXPECT_EQ(job.total, kChildren * kSteps);
  EXPECT_EQ(job.kids_closed, kChildren);
  EXPECT_EQ(job.status, Status::kClose);
  EXPECT_EQ(table().check(), "");
}

TEST_F(NestedTest, JsonCarriesParentAndChildren) {
  ASSERT_EQ(table().upsert(ev("a").parent("p").n(1), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("b").parent("p").status(Status::kError), 1.0), Upsert::kCreated);
  fmt::memory_buffer out;
  append_task_json(out, get("a"));
  EXPECT_NE(fmt::to_string(out).find(R"("parent":"p")"), std::string::npos) << fmt::to_string(out);
  out.clear();
  append_task_json(out, get("p"));
  EXPECT_NE(fmt::to_string(out).find(R"("children":{"count":2,"closed":0,"failed":1,"running":1})"),
            std::string::npos)
      << fmt::to_string(out);
}

TEST_F(NestedTest, MetaParentAndTopLevelParentThroughTheIngestor) {
  Ingestor ingestor(*store);
  fmt::memory_buffer out;
  auto post = [&](std::string body) {
    body.append(kParsePadding, ' ');
    const std::size_t size = body.size() - kParsePadding;
    return ingestor.apply(std::string_view(body.data(), size), body.size(), BodyFormat::kJson,
                          5.0, out);
  };
  EXPECT_EQ(post(R"({"task_id":"w","n":2,"total":4,"meta":{"parent":"fleet","host":"h"}})"), 200);
  EXPECT_EQ(get("w").parent_id(), "fleet");
  EXPECT_EQ(get("w").meta.view(), R"({"parent":"fleet","host":"h"})") << "meta is kept whole";
  EXPECT_EQ(get("fleet").n, 2);
  EXPECT_EQ(post(R"({"task_id":"v","parent":"top","meta":{"parent":"fleet"}})"), 200);
  EXPECT_EQ(get("v").parent_id(), "top") << "the field wins over meta.parent";
  EXPECT_EQ(post(R"({"task_id":"fleet","parent":"w"})"), 422);
  EXPECT_NE(fmt::to_string(out).find("cycle"), std::string::npos) << fmt::to_string(out);
  EXPECT_EQ(post(R"({"task_id":"u","parent":5})"), 422);
  EXPECT_NE(fmt::to_string(out).find("parent must be a string"), std::string::npos);
}

TEST_F(NestedTest, PersistenceRoundTripRecountsTheSums) {
  ASSERT_EQ(table().upsert(ev("a").parent("mid").n(2).total(5), 1.0), Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("b").parent("mid").n(3).total(5).status(Status::kClose), 1.0),
            Upsert::kCreated);
  ASSERT_EQ(table().upsert(ev("mid").parent("root").desc("middle"), 1.0), Upsert::kUpdated);
  fmt::memory_buffer out;
  append_snapshot(out, table());
  const std::string path =
      (std::filesystem::temp_directory_path() / fmt::format("{}.json", name.str())).string();
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fwrite(out.data(), 1, out.size(), f);
    std::fclose(f);
  }
  ScopedSegmentName other;
  auto restored = Store::open(options(other, 256));
  std::string problem = read_snapshot(path, 50.0, [&](const SavedTask& t) {
    ASSERT_NE(t.record, nullptr);
    ASSERT_NE(restored->put(*t.record), Upsert::kTableFull);
  });
  std::filesystem::remove(path);
  ASSERT_EQ(problem, "");
  restored->table().recount_families(50.0);
  TaskRecord mid, root;
  ASSERT_TRUE(restored->table().lookup("mid", mid));
  ASSERT_TRUE(restored->table().lookup("root", root));
  EXPECT_EQ(mid.parent_id(), "root");
  EXPECT_EQ(mid.desc.view(), "middle");
  EXPECT_EQ(mid.kids, 2);
  EXPECT_EQ(mid.kids_closed, 1);
  EXPECT_EQ(mid.n, 5);
  EXPECT_EQ(mid.total, 10);
  EXPECT_EQ(root.kids, 1);
  EXPECT_EQ(root.n, 5);
  EXPECT_EQ(root.total, 10);
}

TEST_F(NestedTest, EvictionPassesOverAFinishedParentWithChildren) {
  ScopedSegmentName small;
  auto s = Store::open(options(small, 4));
  TaskTable& t = s->table();
  ASSERT_EQ(t.upsert(ev("p").status(Status::kClose), 0.5), Upsert::kCreated);
  ASSERT_EQ(t.upsert(ev("a").parent("p").status(Status::kClose), 1.0), Upsert::kCreated);
  // p (closed first, one child) and a (closed) are finished; two running tasks fill the table.
  ASSERT_EQ(t.upsert(ev("r1"), 2.0), Upsert::kCreated);
  ASSERT_EQ(t.upsert(ev("r2"), 2.0), Upsert::kCreated);
  ASSERT_EQ(t.upsert(ev("r3"), 3.0), Upsert::kCreated) << "passes over p (the oldest), evicts a";
  TaskRecord rec;
  ASSERT_TRUE(t.lookup("p", rec));
  EXPECT_EQ(rec.kids, 0) << "the evicted child's share is gone";
  EXPECT_FALSE(t.lookup("a", rec));
  EXPECT_EQ(t.check(), "");
}

}  // namespace
}  // namespace progressista
