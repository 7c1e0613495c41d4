// Levelled log lines on stderr (journald adds its own timestamps; ours are for plain
// terminals and files). One write(2) per line, so lines from threads never interleave.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace progressista::daemon {

enum class Level : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Throws std::invalid_argument for anything but debug, info, warn, error.
void set_log_level(std::string_view name);
[[nodiscard]] bool log_enabled(Level level) noexcept;
void write_log_line(Level level, std::string_view message) noexcept;

template <class... Args>
void log(Level level, fmt::format_string<Args...> format, Args&&... args) {
  if (!log_enabled(level)) return;
  write_log_line(level, fmt::format(format, std::forward<Args>(args)...));
}

// A request target or URL fit to print: the value of every `token` query parameter (any
// case, also `access_token`, `api_token`) becomes "***"; the rest is kept as it was. Every
// target or URL that reaches a log line or a message goes through it.
[[nodiscard]] std::string redact_url(std::string_view target);

// Lines that a flood could repeat (one per slow client, per refused connection): at most one
// per second per call site, the next one saying how many were left out. Use as
//   static LogLimiter limiter;  limited_log(limiter, Level::kInfo, "...", args...);
class LogLimiter {
 public:
  // The number of lines left out since the last one written, or -1 to leave this one out.
  [[nodiscard]] std::int64_t admit() noexcept;

 private:
  std::atomic<std::int64_t> next_ns_{0};
  std::atomic<std::int64_t> left_out_{0};
};

template <class... Args>
void limited_log(LogLimiter& limiter, Level level, fmt::format_string<Args...> format,
                 Args&&... args) {
  if (!log_enabled(level)) return;
  const std::int64_t left_out = limiter.admit();
  if (left_out < 0) return;
  std::string line = fmt::format(format, std::forward<Args>(args)...);
  if (left_out > 0) line += fmt::format(" ({} more like it since the previous such line)", left_out);
  write_log_line(level, line);
}

}  // namespace progressista::daemon
