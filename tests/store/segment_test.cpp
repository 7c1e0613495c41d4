// Segment creation, the attach handshake and its refusals, against real /dev/shm segments.
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "layout.hpp"
#include "progressista/error.hpp"
#include "progressista/segment.hpp"
#include "progressista/store.hpp"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using testing::options;
using testing::ScopedSegmentName;

mode_t file_mode(const std::string& name) {
  struct stat st {};
  EXPECT_EQ(::stat(("/dev/shm/" + name).c_str(), &st), 0);
  return st.st_mode & 0777;
}

StoreError::Code open_error(const SegmentOptions& o, std::string* message = nullptr) {
  try {
    (void)Segment::open(o);
  } catch (const StoreError& e) {
    if (message) *message = e.what();
    return e.code();
  }
  ADD_FAILURE() << "open succeeded";
  return StoreError::Code::kSystem;
}

TEST(Segment, NamesAreWhatShmOpenTakes) {
  for (const std::string_view good : {"progressista", "a", "with space", "x.y"}) {
    EXPECT_EQ(segment_name_problem(good), "") << good;
  }
  EXPECT_EQ(segment_name_problem(std::string(200, 'n')), "");
  for (const std::string_view bad : {"", ".", "..", "a/b", "/lead"}) {
    EXPECT_EQ(segment_name_problem(bad),
              fmt::format("invalid segment name '{}': use 1-200 characters without '/'", bad));
  }
  EXPECT_NE(segment_name_problem(std::string(201, 'n')), "");
  SegmentOptions slash;
  slash.name = "a/b";
  std::string msg;
  EXPECT_EQ(open_error(slash, &msg), StoreError::Code::kSystem);
  EXPECT_EQ(msg, segment_name_problem("a/b"));
}

TEST(Segment, ModesAre0600Or0660) {
  EXPECT_EQ(parse_segment_mode("0600"), 0600u);
  EXPECT_EQ(parse_segment_mode("600"), 0600u);
  EXPECT_EQ(parse_segment_mode("0660"), 0660u);
  EXPECT_EQ(parse_segment_mode("660"), 0660u);
  for (const std::string_view bad :
       {"", "0", "0640", "0666", "0777", "0700", "1600", "00600", "0600 ", "rw-------"}) {
    EXPECT_FALSE(parse_segment_mode(bad).has_value()) << bad;
  }
}

TEST(Segment, CreatesWithMode0600ByDefault) {
  ScopedSegmentName name;
  const auto seg = Segment::open(options(name));
  EXPECT_TRUE(seg->created());
  EXPECT_EQ(file_mode(name.str()), 0600u);
  EXPECT_EQ(seg->capacity(), 64u);
}

TEST(Segment, CreatesWithMode0660WhenAsked) {
  ScopedSegmentName name;
  auto o = options(name);
  o.mode = 0660;
  const auto seg = Segment::open(o);
  EXPECT_EQ(file_mode(name.str()), 0660u);
}

TEST(Segment, SecondOpenAttachesToTheSameSegment) {
  ScopedSegmentName name;
  const auto a = Segment::open(options(name));
  const auto b = Segment::open(options(name));
  EXPECT_TRUE(a->created());
  EXPECT_FALSE(b->created());
  EXPECT_EQ(a->generation(), b->generation());
}

TEST(Segment, AttachWithoutCapacityTakesWhateverExists) {
  ScopedSegmentName name;
  const auto a = Segment::open(options(name, 100));
  SegmentOptions o;
  o.name = name.str();
  const auto b = Segment::open(o);
  EXPECT_EQ(b->capacity(), 100u);
}

TEST(Segment, DefaultCapacityFitsDockers64MiBShm) {
  EXPECT_LE(Segment::bytes_for(kDefaultCapacity, 0), std::size_t{64} << 20);
  EXPECT_GE(kDefaultCapacity, 4096u);
}

TEST(Segment, MissingSegmentIsNotFoundWhenAttachOnly) {
  ScopedSegmentName name;
  auto o = options(name);
  o.create = false;
  std::string msg;
  EXPECT_EQ(open_error(o, &msg), StoreError::Code::kNotFound);
  EXPECT_NE(msg.find(name.str()), std::string::npos) << msg;
}

TEST(Segment, OtherCapacityIsRefusedWithAFix) {
  ScopedSegmentName name;
  const auto a = Segment::open(options(name, 64));
  std::string msg;
  EXPECT_EQ(open_error(options(name, 128), &msg), StoreError::Code::kCapacityMismatch);
  EXPECT_NE(msg.find("holds at most 64 tasks"), std::string::npos) << msg;
  EXPECT_NE(msg.find("128 tasks"), std::string::npos) << msg;
  EXPECT_NE(msg.find("to resize it (its tasks are kept)"), std::string::npos) << msg;
}

TEST(Segment, OtherLayoutVersionIsRefusedSayingWhatDiffers) {
  ScopedSegmentName name;
  const auto a = Segment::open(options(name));
  a->header().layout_version = detail::kLayoutVersion + 7;  // as if another build made it
  std::string msg;
  EXPECT_EQ(open_error(options(name), &msg), StoreError::Code::kLayoutMismatch);
  EXPECT_NE(msg.find(fmt::format("layout version {}", detail::kLayoutVersion + 7)),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(fmt::format("expects version {}", detail::kLayoutVersion)), std::string::npos)
      << msg;
}

TEST(Segment, OtherBlockSizeIsRefused) {
  ScopedSegmentName name;
  const auto a = Segment::open(options(name));
  a->header().block_size += 8;
  EXPECT_EQ(open_error(options(name)), StoreError::Code::kLayoutMismatch);
}

TEST(Segment, ForeignFileIsRefused) {
  ScopedSegmentName name;
  const auto a = Segment::open(options(name));
  a->header().magic.store(0x1234);
  std::string msg;
  EXPECT_EQ(open_error(options(name), &msg), StoreError::Code::kLayoutMismatch);
  EXPECT_NE(msg.find("not a Progressista segment"), std::string::npos) << msg;
}

TEST(Segment, CapacityLargerThanFreeShmIsRefusedUpFront) {
  ScopedSegmentName name;
  std::string msg;
  auto o = options(name);
  o.memory = kMaxMemory;
  EXPECT_EQ(open_error(o, &msg), StoreError::Code::kNoSpace);
  EXPECT_NE(msg.find("--memory"), std::string::npos) << msg;
  struct stat st {};
  EXPECT_NE(::stat(("/dev/shm/" + name.str()).c_str(), &st), 0) << "nothing may be left behind";
}

// Runs `body` in a child with a private mount namespace whose /dev/shm is a tmpfs of
// `size`. Returns the child's exit code, or -1 when namespaces are not permitted here.
int with_small_shm(const char* size, const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0) ::_exit(100);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(100);
    if (::mount("tmpfs", "/dev/shm", "tmpfs", 0, fmt::format("size={}", size).c_str()) != 0)
      ::_exit(100);
    ::_exit(body());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status)) return -2;
  return WEXITSTATUS(status) == 100 ? -1 : WEXITSTATUS(status);
}

TEST(Segment, SmallShmFailsAtStartWithAClearMessage) {
  const int rc = with_small_shm("8m", [] {
    SegmentOptions o;
    o.name = "pt-small-shm";
    try {
      (void)Segment::open(o);
    } catch (const StoreError& e) {
      const std::string msg = e.what();
      return e.code() == StoreError::Code::kNoSpace && msg.find("--shm-size") != std::string::npos
                 ? 0
                 : 1;
    }
    return 2;
  });
  if (rc == -1) GTEST_SKIP() << "mount namespaces are not permitted here";
  EXPECT_EQ(rc, 0);
}

TEST(Segment, DefaultCapacityWorksIn64MiBShm) {
  const int rc = with_small_shm("64m", [] {
    SegmentOptions o;
    o.name = "pt-64m-shm";
    try {
      auto store = Store::open(o);
      // Touch every slot: a SIGBUS here would mean pages were not really reserved.
      for (std::uint32_t i = 0; i < store->table().capacity(); ++i) {
        const std::string id = fmt::format("task-{}", i);
        if (store->table().upsert(testing::ev(id).n(1).status(Status::kClose), 1.0) !=
            Upsert::kCreated)
          return 3;
      }
      return 0;
    } catch (const StoreError&) {
      return 1;
    }
  });
  if (rc == -1) GTEST_SKIP() << "mount namespaces are not permitted here";
  EXPECT_EQ(rc, 0);
}

TEST(Segment, ReplacedNoticesRemovalAndRecreation) {
  ScopedSegmentName name;
  const auto a = Segment::open(options(name));
  EXPECT_FALSE(a->replaced());
  ASSERT_TRUE(Segment::remove(name.str()));
  EXPECT_TRUE(a->replaced());
  const auto b = Segment::open(options(name));
  EXPECT_TRUE(b->created());
  EXPECT_TRUE(a->replaced());
  EXPECT_FALSE(b->replaced());
  EXPECT_NE(a->generation(), b->generation());
}

TEST(Segment, ReadOnlyAttachWorks) {
  ScopedSegmentName name;
  auto store = Store::open(options(name));
  ASSERT_EQ(store->table().upsert(testing::ev("a").n(2), 1.0), Upsert::kCreated);
  auto o = options(name);
  o.read_only = true;
  auto reader = Store::open(o);
  TaskRecord t;
  ASSERT_TRUE(reader->table().lookup("a", t));
  EXPECT_EQ(t.n, 2);
}

TEST(Segment, ConcurrentCreatorsEndUpOnOneSegment) {
  ScopedSegmentName name;
  constexpr int kProcs = 8;
  int pipes[2];
  ASSERT_EQ(::pipe(pipes), 0);
  std::vector<pid_t> kids;
  for (int i = 0; i < kProcs; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(pipes[0]);
      try {
        const auto seg = Segment::open(options(name));
        const std::uint64_t g = seg->generation();
        if (::write(pipes[1], &g, sizeof g) != sizeof g) ::_exit(2);
        ::_exit(0);
      } catch (...) {
        ::_exit(1);
      }
    }
    kids.push_back(pid);
  }
  ::close(pipes[1]);
  for (const pid_t pid : kids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  std::set<std::uint64_t> generations;
  std::uint64_t g = 0;
  while (::read(pipes[0], &g, sizeof g) == sizeof g) generations.insert(g);
  ::close(pipes[0]);
  EXPECT_EQ(generations.size(), 1u);
}

TEST(Segment, RejectsNamesWithSlashes) {
  SegmentOptions o;
  o.name = "a/b";
  EXPECT_THROW((void)Segment::open(o), StoreError);
}

}  // namespace
}  // namespace progressista
