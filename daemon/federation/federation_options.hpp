// The federation's flags and variables (--redis, PROGRESSISTA_REDIS_URL, ...), checked when the
// command line is parsed, and their part of `show-config` (the password masked).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "federation/redis_url.hpp"

namespace CLI {
class App;
}

namespace progressista::daemon::federation {

struct FederationSettings {
  std::string url_text;  // --redis as given; empty: no federation
  std::string prefix = "progressista";
  std::string node_id;   // empty: <hostname>:<port>
  std::uint64_t maxlen = 1000000;
  double snapshot_interval = 30;
  std::uint64_t snapshot_events = 100000;
  std::string outbox_text = "64M";
  std::uint64_t outbox_bytes = 64ull << 20;
  std::optional<RedisUrl> url;  // parsed from url_text

  [[nodiscard]] bool enabled() const { return url.has_value(); }
  // node_id, else this host's name and the port.
  [[nodiscard]] std::string node(std::uint16_t port) const;
};

// Registers the flags on `cmd`.
void add_federation_options(CLI::App& cmd, FederationSettings& settings);
// After parsing: parses the URL and checks the values; throws CLI::ValidationError naming the
// flag and its variable (never quoting a password).
void check_federation_settings(FederationSettings& settings);
// The "federation" member of show-config's JSON (its own line, ending with ",\n").
void append_federation_config(fmt::memory_buffer& out, const FederationSettings& settings);

}  // namespace progressista::daemon::federation
