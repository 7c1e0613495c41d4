// slot_hammer: the store's own writer loop, attached to a running segment, for bench/chaos/run.sh.
// It updates a few hot tasks with records near the field limits as fast as it can, so that
// most of its time is spent holding a slot lock (the record is decoded, the event applied and
// the shadow copy encoded under the lock); a SIGKILL then lands inside a lock most of the time
// and the next writer of that slot must recover it (the segment's lock_recoveries counter).
//
// Events follow the chaos writers' rule (bench/chaos/loadgen.py): n is the event's timestamp in
// microseconds minus --base-us, so a later event always carries a larger n and the ordering
// rules (an older timestamp is ignored) can never make the stored n go down.
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "progressista/bookkeeping.hpp"
#include "progressista/event.hpp"
#include "progressista/store.hpp"

namespace {

constexpr std::string_view kUsage =
    "usage: slot_hammer --segment NAME --base-us US [--tasks K] [--prefix P] [--seconds S]\n"
    "                   [--max-events N] [--busy-ms B --idle-ms I]\n"
    "Updates tasks P0 .. P(K-1) (chaos-hot-) of an existing segment in a loop for S seconds\n"
    "(60, at most 3600) or N events (10^9), whichever comes first; with --idle-ms, writes for\n"
    "B ms (500), then sleeps I ms, and again.\n";

struct Options {
  std::string segment;
  std::string prefix = "chaos-hot-";
  std::int64_t base_us = -1;
  unsigned tasks = 8;
  double seconds = 60;
  std::uint64_t max_events = 1'000'000'000;
  unsigned busy_ms = 500;
  unsigned idle_ms = 0;
};

template <class T>
bool number(std::string_view text, T& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i], value = argv[i + 1];
    bool ok = true;
    if (flag == "--segment") o.segment = value;
    else if (flag == "--prefix") o.prefix = value;
    else if (flag == "--base-us") ok = number(value, o.base_us);
    else if (flag == "--tasks") ok = number(value, o.tasks) && o.tasks >= 1 && o.tasks <= 1000;
    else if (flag == "--seconds") ok = number(value, o.seconds) && o.seconds > 0 && o.seconds <= 3600;
    else if (flag == "--max-events") ok = number(value, o.max_events);
    else if (flag == "--busy-ms") ok = number(value, o.busy_ms) && o.busy_ms >= 1 && o.busy_ms <= 60000;
    else if (flag == "--idle-ms") ok = number(value, o.idle_ms) && o.idle_ms <= 60000;
    else ok = false;
    if (!ok) return false;
  }
  return argc % 2 == 1 && !o.segment.empty() && o.base_us >= 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) {
    std::fputs(kUsage.data(), stderr);
    return 2;
  }
  try {
    progressista::SegmentOptions so;
    so.name = o.segment;
    so.create = false;  // the daemons own the segment; attach to what they made
    auto store = progressista::Store::open(so);
    store->enroll(progressista::Role::kTool);

    std::vector<std::string> ids;
    for (unsigned t = 0; t < o.tasks; ++t) ids.push_back(fmt::format("{}{}", o.prefix, t));
    // Near the limits (desc and message 512 bytes, meta 2048): a record of about 3 KB. The
    // message changes with every event, so no update takes the numbers-only fast path.
    const std::string desc(500, 'd');
    const std::string meta = fmt::format(R"({{"blob":"{}"}})", std::string(1900, 'm'));
    std::string message(500, 'x');

    const auto start = std::chrono::steady_clock::now();
    const auto until = start + std::chrono::duration<double>(o.seconds);
    // Bursts leave the change feed alone between them (a burst laps it: readers rescan).
    auto burst_end = start + std::chrono::milliseconds(o.busy_ms);
    std::uint64_t applied = 0, ignored = 0, other = 0, i = 0;
    for (; i < o.max_events; ++i) {
      if ((i & 255) == 0) {
        auto t = std::chrono::steady_clock::now();
        if (t >= until) break;
        if (o.idle_ms > 0 && t >= burst_end) {
          ::usleep(o.idle_ms * 1000);
          burst_end = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.busy_ms);
        }
        store->beat();
      }
      const double now = progressista::now_seconds();
      const auto us = static_cast<std::int64_t>(std::llround(now * 1e6));
      const std::string& id = ids[i % ids.size()];
      fmt::format_to_n(message.data(), 20, "{:020}", i);
      progressista::Event e;
      e.task_id = id;
      e.desc = desc;
      e.message = message;
      e.meta = meta;
      e.unit = "it";
      e.n = static_cast<double>(us - o.base_us);
      e.total = 1e12;
      e.timestamp = static_cast<double>(us) / 1e6;
      switch (store->upsert(e, now)) {
        case progressista::Upsert::kCreated:
        case progressista::Upsert::kUpdated: ++applied; break;
        case progressista::Upsert::kIgnoredOutOfOrder:
        case progressista::Upsert::kIgnoredClosed: ++ignored; break;
        default: ++other; break;
      }
    }
    store->leave();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("slot_hammer: {} events in {:.1f} s ({:.0f}/s): {} applied, {} ignored, {} other\n",
               i, secs, static_cast<double>(i) / secs, applied, ignored, other);
    return other == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "slot_hammer: {}\n", e.what());
    return 1;
  }
}
