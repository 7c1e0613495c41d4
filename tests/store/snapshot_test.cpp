// Snapshots: the tasks member written for callers' own objects, and a saved snapshot read
// back into records (what `ingest` restores at start).
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "progressista/snapshot.hpp"
#include "progressista/store.hpp"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using testing::ev;
using ::testing::HasSubstr;
using testing::ScopedSegmentName;
using ::testing::StartsWith;

// A file under /tmp removed when the test ends.
class TempFile {
 public:
  TempFile() : path_(fmt::format("/tmp/progressista-snapshot-{}-{}.json", ::getpid(), ++count_)) {}
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  void write(std::string_view text) const { std::ofstream(path_) << text; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  static inline int count_ = 0;
  std::string path_;
};

struct Read {
  std::string problem;
  std::map<std::string, TaskRecord> restored;
  std::map<std::string, std::string> skipped;
};

Read read(const std::string& path, double now) {
  Read r;
  r.problem = read_snapshot(path, now, [&r](const SavedTask& t) {
    if (t.record) {
      r.restored[std::string(t.key)].copy_from(*t.record);
    } else {
      r.skipped[std::string(t.key)] = std::string(t.problem);
    }
  });
  return r;
}

class TaskSnapshot : public ::testing::Test {
 protected:
  ScopedSegmentName name_;
  std::unique_ptr<Store> store_ = Store::open(testing::options(name_, 16));
  TempFile file_;
};

TEST_F(TaskSnapshot, TasksMemberIsTheSnapshotWithoutItsBraces) {
  ASSERT_EQ(store_->upsert(ev("a").n(1).desc("d"), 100), Upsert::kCreated);
  fmt::memory_buffer whole, member;
  append_snapshot(whole, store_->table());
  append_tasks_member(member, store_->table());
  EXPECT_EQ("{" + fmt::to_string(member) + "}", fmt::to_string(whole));
  EXPECT_THAT(fmt::to_string(member), StartsWith(R"("tasks":{"a":{"task_id":"a","desc":"d")"));
}

TEST_F(TaskSnapshot, SavedTasksReadBackAsRecoveredRecords) {
  ASSERT_EQ(store_->upsert(ev("run")
                               .n(3)
                               .total(10)
                               .unit("MB")
                               .desc("Copying")
                               .project("p")
                               .phase("load")
                               .message("hi")
                               .meta(R"({"k":[1,2.5]})")
                               .ts(50),
                           100),
            Upsert::kCreated);
  ASSERT_EQ(store_->upsert(ev("done").status(Status::kClose).error("bad"), 100), Upsert::kCreated);
  fmt::memory_buffer out;
  out.append(std::string_view{R"({"version":"1",)"});
  append_tasks_member(out, store_->table());
  out.append(std::string_view{R"(,"saved_at":1})"});
  file_.write(fmt::to_string(out));

  const Read r = read(file_.path(), 200);
  EXPECT_EQ(r.problem, "");
  EXPECT_TRUE(r.skipped.empty());
  ASSERT_EQ(r.restored.size(), 2u);
  TaskRecord saved;
  ASSERT_TRUE(store_->table().lookup("run", saved));
  const TaskRecord& run = r.restored.at("run");
  EXPECT_EQ(run.live, 1);
  EXPECT_EQ(run.task_id.view(), "run");
  EXPECT_EQ(run.status, Status::kRecovered);  // neither close nor stale
  EXPECT_EQ(run.n, 3);
  EXPECT_EQ(run.total, 10);
  EXPECT_EQ(run.timestamp, 50);
  EXPECT_EQ(run.created_at, saved.created_at);
  EXPECT_EQ(run.updated_at, saved.updated_at);
  EXPECT_EQ(run.unit.view(), "MB");
  EXPECT_EQ(run.desc.view(), "Copying");
  EXPECT_EQ(run.project.view(), "p");
  EXPECT_EQ(run.phase.view(), "load");
  EXPECT_EQ(run.message.view(), "hi");
  EXPECT_EQ(run.meta.view(), R"({"k":[1,2.5]})");
  EXPECT_TRUE(run.has(kHasRecovered));
  EXPECT_EQ(run.recovered_at, 200);
  const TaskRecord& done = r.restored.at("done");
  EXPECT_EQ(done.status, Status::kClose);
  EXPECT_TRUE(done.has(kHasDoneAt));
  EXPECT_EQ(done.error.view(), "bad");
  EXPECT_FALSE(done.has(kHasDesc));
}

TEST_F(TaskSnapshot, FieldsFillInOrStayOutAsTheRulesSay) {
  const std::string long_desc(600, 'd');
  file_.write(fmt::format(
      R"({{"tasks":{{"a":{{"status":"close","updated_at":7,"desc":"{}","unit":"{}","n":"5"}},)"
      R"("b":{{"status":"stale","meta":5}}}}}})",
      long_desc, std::string(40, 'u')));
  const Read r = read(file_.path(), 300);
  ASSERT_EQ(r.restored.size(), 2u);
  const TaskRecord& a = r.restored.at("a");
  EXPECT_EQ(a.created_at, 300);  // missing: now
  EXPECT_EQ(a.updated_at, 7);
  EXPECT_EQ(a.done_at, 7);                  // a close without done_at: done when last updated
  EXPECT_EQ(a.desc.size(), limits::kDesc);  // truncated
  EXPECT_FALSE(a.has(kHasUnit));            // over its limit: left out
  EXPECT_EQ(a.n, 0);                        // not a number: left out
  const TaskRecord& b = r.restored.at("b");
  EXPECT_EQ(b.status, Status::kStale);
  EXPECT_EQ(b.updated_at, 300);  // missing: created_at
  EXPECT_FALSE(b.has(kHasMeta));
}

TEST_F(TaskSnapshot, ADamagedEntryIsSkippedWithItsReason) {
  const std::string long_id(limits::kTaskId + 1, 'x');
  file_.write(
      fmt::format(R"({{"tasks":{{"good":{{"n":1}},"five":5,"":{{}},"{}":{{}}}}}})", long_id));
  const Read r = read(file_.path(), 1);
  EXPECT_EQ(r.problem, "");
  ASSERT_EQ(r.restored.size(), 1u);
  EXPECT_EQ(r.restored.at("good").n, 1);
  ASSERT_EQ(r.skipped.size(), 3u);
  EXPECT_EQ(r.skipped.at("five"), "not a JSON object");
  EXPECT_EQ(r.skipped.at(""), "task_id must not be empty");
  EXPECT_EQ(r.skipped.at(long_id), "task_id is 257 bytes; the limit is 256");
}

TEST_F(TaskSnapshot, AFileThatIsNoSnapshotSaysWhyAndYieldsNothing) {
  bool called = false;
  const auto each = [&called](const SavedTask&) { called = true; };
  EXPECT_EQ(read_snapshot(file_.path() + ".missing", 1, each), "cannot read the file");
  file_.write("{\"tasks\":[");
  EXPECT_THAT(read_snapshot(file_.path(), 1, each), StartsWith("not a Progressista task file ("));
  file_.write(R"({"other":{}})");
  EXPECT_THAT(read_snapshot(file_.path(), 1, each), HasSubstr("not a Progressista task file ("));
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace progressista
