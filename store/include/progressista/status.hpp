// Task statuses: Progressista's canonical six, plus the aliases clients commonly send.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace progressista {

enum class Status : std::uint8_t {
  kStart = 0,
  kUpdate = 1,
  kClose = 2,
  kError = 3,
  kStale = 4,
  kRecovered = 5,
};

inline constexpr int kStatusCount = 6;

// The canonical wire name ("start", "update", ...).
[[nodiscard]] std::string_view status_name(Status s) noexcept;

// Maps a canonical name or an alias (case-insensitive: "Completed", "in_progress", "FAILED")
// onto a status; nullopt for anything else.
[[nodiscard]] std::optional<Status> parse_status(std::string_view text) noexcept;

// Human-readable list of every accepted spelling, for validation errors.
[[nodiscard]] std::string_view accepted_statuses() noexcept;

// The validation detail for a status `text` that parse_status refuses: "status '<text>' is not
// accepted; use one of: ...".
[[nodiscard]] std::string status_not_accepted(std::string_view text);

// close and error end a task; only a later `start` reopens it.
[[nodiscard]] constexpr bool is_terminal(Status s) noexcept {
  return s == Status::kClose || s == Status::kError;
}

}  // namespace progressista
