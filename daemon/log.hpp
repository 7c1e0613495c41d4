// Levelled log lines on stderr (journald adds its own timestamps; ours are for plain
// terminals and files). One write(2) per line, so lines from threads never interleave.
#pragma once

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

}  // namespace progressista::daemon
