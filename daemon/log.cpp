#include "log.hpp"

#include <unistd.h>

#include <atomic>
#include <ctime>
#include <stdexcept>

namespace progressista::daemon {

namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

std::string_view level_name(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}
}  // namespace

void set_log_level(std::string_view name) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (name == level_name(l)) {
      g_level.store(static_cast<int>(l), std::memory_order_relaxed);
      return;
    }
  }
  throw std::invalid_argument(
      fmt::format("unknown log level '{}': use debug, info, warn or error", name));
}

bool log_enabled(Level level) noexcept {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void write_log_line(Level level, std::string_view message) noexcept {
  try {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm utc{};
    gmtime_r(&ts.tv_sec, &utc);
    fmt::memory_buffer line;
    fmt::format_to(std::back_inserter(line), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {:5} {}\n",
                   utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                   utc.tm_sec, ts.tv_nsec / 1'000'000, level_name(level), message);
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      const ssize_t n = ::write(STDERR_FILENO, p, left);
      if (n <= 0) break;
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  } catch (...) {
    // Logging must never take a daemon down (allocation failure while formatting).
  }
}

}  // namespace progressista::daemon
