#include "log.hpp"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <ctime>
#include <stdexcept>

#include "progressista/query.hpp"

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

namespace {
bool is_secret_name(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "token" || lower.ends_with("_token");
}
}  // namespace

std::string redact_url(std::string_view target) {
  const auto query_at = target.find('?');
  if (query_at == std::string_view::npos) return std::string(target);
  const auto fragment_at = target.find('#', query_at);
  const std::string_view query = target.substr(
      query_at + 1, fragment_at == std::string_view::npos ? target.npos : fragment_at - query_at - 1);
  std::string out(target.substr(0, query_at + 1));
  std::size_t pos = 0;
  while (pos <= query.size()) {
    auto amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view pair = query.substr(pos, amp - pos);
    const auto eq = pair.find('=');
    // A percent-encoded name ("%74oken") is redacted as well.
    std::string name;
    if (!url_decode(pair.substr(0, eq), name)) name.assign(pair.substr(0, eq));
    if (eq != std::string_view::npos && is_secret_name(name)) {
      out.append(pair.substr(0, eq + 1));
      out.append("***");
    } else {
      out.append(pair);
    }
    if (amp < query.size()) out.push_back('&');
    pos = amp + 1;
  }
  if (fragment_at != std::string_view::npos) out.append(target.substr(fragment_at));
  return out;
}

std::int64_t LogLimiter::admit() noexcept {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t next = next_ns_.load(std::memory_order_relaxed);
  if (now < next ||
      !next_ns_.compare_exchange_strong(next, now + 1'000'000'000, std::memory_order_relaxed)) {
    left_out_.fetch_add(1, std::memory_order_relaxed);
    return -1;
  }
  return left_out_.exchange(0, std::memory_order_relaxed);
}

}  // namespace progressista::daemon
