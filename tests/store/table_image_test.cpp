// The federation's snapshot image: every record as stored, back exactly, and damage refused.
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "progressista/store.hpp"
#include "progressista/table_image.hpp"
#include "progressista/task_json.hpp"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using testing::ev;
using testing::options;
using testing::ScopedSegmentName;

std::string json_of(const TaskTable& table, std::string_view id) {
  TaskRecord t;
  if (!table.lookup(id, t)) return "missing";
  fmt::memory_buffer out;
  append_task_json(out, t);
  return fmt::to_string(out);
}

TEST(TableImage, EveryRecordComesBackAsStoredWithSumsAndServerTimes) {
  ScopedSegmentName a, b;
  auto src = Store::open(options(a, 64));
  ASSERT_EQ(src->table().upsert(ev("job").n(1).total(4).desc("désc").meta(R"({"k":1})"), 100.5),
            Upsert::kCreated);
  ASSERT_EQ(src->table().upsert(ev("child-1").n(2).total(5).parent("etl"), 101), Upsert::kCreated);
  ASSERT_EQ(src->table().upsert(ev("child-2").n(3).total(6).parent("etl").status(Status::kClose), 102),
            Upsert::kCreated);
  std::string image;
  append_table_image(image, src->table());

  auto dst = Store::open(options(b, 64));
  std::size_t n = 0;
  EXPECT_EQ(read_table_image(image, [&](const TaskRecord& r) {
              ++n;
              EXPECT_NE(dst->table().put(r), Upsert::kTableFull);
            }),
            "");
  EXPECT_EQ(n, 4u);  // job, two children and their implicit parent
  for (const char* id : {"job", "child-1", "child-2", "etl"})
    EXPECT_EQ(json_of(dst->table(), id), json_of(src->table(), id)) << id;
  EXPECT_EQ(dst->table().check(), "");
}

TEST(TableImage, DamageIsRefusedNotHalfRead) {
  ScopedSegmentName a;
  auto src = Store::open(options(a, 16));
  ASSERT_EQ(src->table().upsert(ev("x").n(1), 1), Upsert::kCreated);
  std::string image;
  append_table_image(image, src->table());
  const auto count = [](std::string_view img) {
    std::size_t n = 0;
    std::string error = read_table_image(img, [&](const TaskRecord&) { ++n; });
    return std::make_pair(n, error);
  };
  EXPECT_EQ(count(image), std::make_pair(std::size_t{1}, std::string()));
  EXPECT_EQ(count(image.substr(0, image.size() - 3)).second, "truncated or corrupt image");
  EXPECT_EQ(count("XXXX").second, "not a task table image of this version");
  EXPECT_EQ(count("PTI4").first, 0u);  // an empty table
}

}  // namespace
}  // namespace progressista
