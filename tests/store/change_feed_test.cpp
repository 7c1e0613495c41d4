// The change feed: ordered changes, removals, lapping, holes and the snapshot protocol.
#include <thread>

#include <gtest/gtest.h>

#include "progressista/store.hpp"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using testing::ev;
using testing::ScopedSegmentName;

class ChangeFeedTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> open(std::uint32_t ring) {
    SegmentOptions o = testing::options(name, 16);
    o.ring_size = ring;
    return Store::open(o);
  }
  ScopedSegmentName name;
};

TEST_F(ChangeFeedTest, SinceReturnsChangesInOrderWithRemovals) {
  auto s = open(64);
  ASSERT_EQ(s->table().upsert(ev("a"), 1), Upsert::kCreated);
  ASSERT_EQ(s->table().upsert(ev("b"), 1), Upsert::kCreated);
  const std::uint64_t mark = s->feed().head();
  ASSERT_EQ(s->table().upsert(ev("a").n(1), 2), Upsert::kUpdated);
  ASSERT_TRUE(s->table().remove("b"));
  std::vector<Change> out;
  ASSERT_EQ(s->feed().since(mark, out, 100), ChangeFeed::Read::kOk);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].seq, mark + 1);
  EXPECT_FALSE(out[0].removed);
  TaskRecord t;
  ASSERT_TRUE(s->table().read(out[0].slot, t));
  EXPECT_EQ(t.task_id.view(), "a");
  EXPECT_EQ(t.change_seq, mark + 1);
  EXPECT_TRUE(out[1].removed);
  EXPECT_EQ(out[1].task_id.view(), "b");
}

TEST_F(ChangeFeedTest, IgnoredEventsLeaveNoTrace) {
  auto s = open(64);
  ASSERT_EQ(s->table().upsert(ev("a").ts(10), 1), Upsert::kCreated);
  const std::uint64_t head = s->feed().head();
  ASSERT_EQ(s->table().upsert(ev("a").ts(5), 2), Upsert::kIgnoredOutOfOrder);
  EXPECT_EQ(s->feed().head(), head);
}

TEST_F(ChangeFeedTest, ReaderFarBehindIsToldItWasLapped) {
  auto s = open(16);
  ASSERT_EQ(s->feed().ring_size(), 16u);
  ASSERT_EQ(s->table().upsert(ev("a"), 1), Upsert::kCreated);
  const std::uint64_t mark = s->feed().head();
  for (int i = 0; i < 20; ++i) ASSERT_EQ(s->table().upsert(ev("a").n(i), 1), Upsert::kUpdated);
  std::vector<Change> out;
  EXPECT_EQ(s->feed().since(mark, out, 100), ChangeFeed::Read::kLapped);
  FeedReader r(s->feed());
  r.seek(mark);
  EXPECT_EQ(r.poll(out), FeedReader::Poll::kLapped);
  r.start_snapshot();
  out.clear();
  EXPECT_EQ(r.poll(out), FeedReader::Poll::kOk);
  EXPECT_TRUE(out.empty());
}

TEST_F(ChangeFeedTest, ExactlyOneRingBehindIsStillCovered) {
  auto s = open(16);
  ASSERT_EQ(s->table().upsert(ev("a"), 1), Upsert::kCreated);
  const std::uint64_t mark = s->feed().head();
  for (int i = 0; i < 16; ++i) ASSERT_EQ(s->table().upsert(ev("a").n(i), 1), Upsert::kUpdated);
  std::vector<Change> out;
  EXPECT_EQ(s->feed().since(mark, out, 100), ChangeFeed::Read::kOk);
  EXPECT_EQ(out.size(), 16u);
}

TEST_F(ChangeFeedTest, ReservedButUncommittedEntryIsPendingThenAHole) {
  auto s = open(64);
  FeedReader r(s->feed());
  r.start_snapshot();
  const std::uint64_t dead = s->feed().reserve();  // a writer that dies right here
  ASSERT_EQ(s->table().upsert(ev("a"), 1), Upsert::kCreated);
  std::vector<Change> out;
  EXPECT_EQ(r.poll(out), FeedReader::Poll::kOk);
  EXPECT_TRUE(out.empty()) << "nothing past the uncommitted entry is delivered";
  EXPECT_EQ(r.cursor(), dead - 1);
  std::this_thread::sleep_for(FeedReader::kHoleTimeout + std::chrono::milliseconds(50));
  EXPECT_EQ(r.poll(out), FeedReader::Poll::kLapped) << "a stuck entry is a hole: rescan";
  r.start_snapshot();
  EXPECT_GE(r.cursor(), dead) << "the snapshot steps over the known hole";
  ASSERT_EQ(s->table().upsert(ev("a").n(1), 2), Upsert::kUpdated);
  out.clear();
  EXPECT_EQ(r.poll(out), FeedReader::Poll::kOk);
  ASSERT_EQ(out.size(), 1u);
}

TEST_F(ChangeFeedTest, AHoleWhoseWriterWasOnlySlowIsStillDelivered) {
  auto s = open(64);
  FeedReader r(s->feed());
  r.start_snapshot();
  const std::uint64_t slow = s->feed().reserve();
  std::vector<Change> out;
  EXPECT_EQ(r.poll(out), FeedReader::Poll::kOk);
  std::this_thread::sleep_for(FeedReader::kHoleTimeout + std::chrono::milliseconds(50));
  ASSERT_EQ(r.poll(out), FeedReader::Poll::kLapped);
  r.start_snapshot();
  s->feed().commit(slow, 3);  // the slow writer finally commits
  out.clear();
  EXPECT_EQ(r.poll(out), FeedReader::Poll::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, slow);
  EXPECT_EQ(out[0].slot, 3u);
}

TEST_F(ChangeFeedTest, SnapshotCursorBacksUpToUncommittedEntries) {
  auto s = open(64);
  ASSERT_EQ(s->table().upsert(ev("a"), 1), Upsert::kCreated);
  const std::uint64_t in_flight = s->feed().reserve();
  ASSERT_EQ(s->table().upsert(ev("b"), 1), Upsert::kCreated);
  FeedReader r(s->feed());
  EXPECT_EQ(r.start_snapshot(), in_flight - 1)
      << "a write reserved before the scan may publish after it: replay from there";
  s->feed().commit(in_flight, 0);
  std::vector<Change> out;
  EXPECT_EQ(r.poll(out), FeedReader::Poll::kOk);
  EXPECT_EQ(out.size(), 2u);
}

TEST_F(ChangeFeedTest, EvictionShowsUpAsARemoval) {
  auto s = open(64);
  for (int i = 0; i < 16; ++i) {
    ASSERT_EQ(s->table().upsert(ev(fmt::format("t{}", i)).status(Status::kClose), 1 + i), Upsert::kCreated);
  }
  const std::uint64_t mark = s->feed().head();
  ASSERT_EQ(s->table().upsert(ev("new"), 100), Upsert::kCreated);
  std::vector<Change> out;
  ASSERT_EQ(s->feed().since(mark, out, 10), ChangeFeed::Read::kOk);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].removed);
  EXPECT_EQ(out[0].task_id.view(), "t0");
  EXPECT_FALSE(out[1].removed);
}

}  // namespace
}  // namespace progressista
