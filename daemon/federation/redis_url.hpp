// `--redis` URLs: redis://[user:password@]host:port[/db], parsed once and shown redacted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace progressista::daemon::federation {

struct RedisUrl {
  std::string host;
  std::uint16_t port = 6379;
  std::string user;      // empty: AUTH with the password alone (Redis < 6's form, "default")
  std::string password;  // empty: no AUTH
  unsigned db = 0;

  // The URL without the password ("redis://user:***@host:port/db"): the only form that is
  // ever logged, put in /health or printed by show-config.
  [[nodiscard]] std::string redacted() const;
};

// Parses `text`; on failure returns nullopt and says why in `error` (never quoting a password).
// Accepts "redis://" only (no TLS: rediss:// is refused with a message saying so), an IPv6 host
// in brackets, percent-escapes in user and password, and a database number 0..65535.
[[nodiscard]] std::optional<RedisUrl> parse_redis_url(std::string_view text, std::string& error);

}  // namespace progressista::daemon::federation
