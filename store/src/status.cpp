#include "progressista/status.hpp"

#include <array>
#include <cctype>

#include <fmt/format.h>

namespace progressista {

namespace {

struct Spelling {
  std::string_view name;
  Status status;
};

// Canonical names first; the rest are the spellings clients and the operations-tracker model
// commonly send. Matched case-insensitively, with '-' and ' ' treated as '_'.
constexpr std::array<Spelling, 26> kSpellings{{
    {"start", Status::kStart},        {"update", Status::kUpdate},
    {"close", Status::kClose},        {"error", Status::kError},
    {"stale", Status::kStale},        {"recovered", Status::kRecovered},
    {"started", Status::kStart},      {"starting", Status::kStart},
    {"pending", Status::kStart},      {"queued", Status::kStart},
    {"updated", Status::kUpdate},     {"running", Status::kUpdate},
    {"in_progress", Status::kUpdate}, {"processing", Status::kUpdate},
    {"progress", Status::kUpdate},    {"closed", Status::kClose},
    {"completed", Status::kClose},    {"complete", Status::kClose},
    {"done", Status::kClose},         {"finished", Status::kClose},
    {"success", Status::kClose},      {"succeeded", Status::kClose},
    {"failed", Status::kError},       {"failure", Status::kError},
    {"errored", Status::kError},      {"cancelled", Status::kError},
}};

constexpr std::size_t kLongestSpelling = 16;

}  // namespace

std::string_view status_name(Status s) noexcept {
  switch (s) {
    case Status::kStart:
      return "start";
    case Status::kUpdate:
      return "update";
    case Status::kClose:
      return "close";
    case Status::kError:
      return "error";
    case Status::kStale:
      return "stale";
    case Status::kRecovered:
      return "recovered";
  }
  return "update";
}

std::optional<Status> parse_status(std::string_view text) noexcept {
  if (text.empty() || text.size() > kLongestSpelling) return std::nullopt;
  char folded[kLongestSpelling];
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    folded[i] = (c == '-' || c == ' ') ? '_' : static_cast<char>(std::tolower(c));
  }
  const std::string_view key(folded, text.size());
  for (const Spelling& s : kSpellings) {
    if (s.name == key) return s.status;
  }
  return std::nullopt;
}

std::string_view accepted_statuses() noexcept {
  return "start, update, close, error, stale, recovered (aliases: started, starting, pending, "
         "queued, updated, running, in_progress, processing, progress, closed, completed, "
         "complete, done, finished, success, succeeded, failed, failure, errored, cancelled)";
}

std::string status_not_accepted(std::string_view text) {
  return fmt::format("status '{}' is not accepted; use one of: {}", text, accepted_statuses());
}

}  // namespace progressista
