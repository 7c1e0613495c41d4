#include "federation/federation_options.hpp"

#include <unistd.h>

#include <climits>

#include <CLI/CLI.hpp>

#include "config.hpp"  // parse_bytes, shared with --memory
#include "progressista/task_json.hpp"

namespace progressista::daemon::federation {

std::string FederationSettings::node(std::uint16_t port) const {
  if (!node_id.empty()) return node_id;
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return fmt::format("localhost:{}", port);
  return fmt::format("{}:{}", host, port);
}

void add_federation_options(CLI::App& cmd, FederationSettings& s) {
  cmd.add_option("--redis", s.url_text,
                 "Federate through Redis >= 7: redis://[user:password@]host:port[/db]. Every "
                 "write goes to one log every node applies (README: Several hosts). Unset: this "
                 "host's segment only. Prefer the variable: a command line is visible to local "
                 "users")
      ->envname("PROGRESSISTA_REDIS_URL");
  cmd.add_option("--redis-prefix", s.prefix, "Prefix of the federation's Redis keys")
      ->envname("PROGRESSISTA_REDIS_PREFIX")
      ->capture_default_str();
  cmd.add_option("--node-id", s.node_id,
                 "This node's name in the federation's log (default: hostname:port)")
      ->envname("PROGRESSISTA_NODE_ID");
  cmd.add_option("--redis-maxlen", s.maxlen,
                 "The log keeps about this many entries (XADD MAXLEN ~); older ones live on in "
                 "the snapshot")
      ->envname("PROGRESSISTA_REDIS_MAXLEN")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{10}, std::uint64_t{1} << 40));
  cmd.add_option("--redis-snapshot-interval", s.snapshot_interval,
                 "Seconds between snapshots written by the federation's janitor")
      ->envname("PROGRESSISTA_REDIS_SNAPSHOT_INTERVAL")
      ->capture_default_str()
      ->type_name("SECONDS")
      ->check(CLI::Range(0.05, 86400.0));
  cmd.add_option("--redis-snapshot-events", s.snapshot_events,
                 "A snapshot is also written after this many log entries")
      ->envname("PROGRESSISTA_REDIS_SNAPSHOT_EVENTS")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
  cmd.add_option("--redis-outbox-bytes", s.outbox_text,
                 "Writes kept while Redis is unreachable, in bytes (K, M, G suffixes); over it "
                 "writes are refused with 503")
      ->envname("PROGRESSISTA_REDIS_OUTBOX_BYTES")
      ->capture_default_str()
      ->type_name("BYTES");
}

void check_federation_settings(FederationSettings& s) {
  if (!parse_bytes(s.outbox_text, s.outbox_bytes) || s.outbox_bytes < 4096)
    throw CLI::ValidationError("--redis-outbox-bytes (PROGRESSISTA_REDIS_OUTBOX_BYTES)",
                               fmt::format("'{}' is not a number of bytes of 4K or more",
                                           s.outbox_text));
  if (s.prefix.empty() || s.prefix.find_first_of(" \t\r\n") != std::string::npos)
    throw CLI::ValidationError("--redis-prefix (PROGRESSISTA_REDIS_PREFIX)",
                               "must be non-empty and without blanks");
  s.url.reset();
  if (s.url_text.empty()) return;
  std::string error;
  s.url = parse_redis_url(s.url_text, error);
  if (!s.url) throw CLI::ValidationError("--redis (PROGRESSISTA_REDIS_URL)", error);
}

void append_federation_config(fmt::memory_buffer& out, const FederationSettings& s) {
  out.append(std::string_view{"  \"redis\": "});
  if (s.url) append_json_string(out, s.url->redacted());
  else out.append(std::string_view{"null"});
  out.append(std::string_view{",\n  \"redis_prefix\": "});
  append_json_string(out, s.prefix);
  out.append(std::string_view{",\n  \"node_id\": "});
  append_json_string(out, s.node_id);
  fmt::format_to(std::back_inserter(out),
                 ",\n  \"redis_maxlen\": {},\n  \"redis_snapshot_interval\": {},\n"
                 "  \"redis_snapshot_events\": {},\n  \"redis_outbox_bytes\": {},\n",
                 s.maxlen, s.snapshot_interval, s.snapshot_events, s.outbox_bytes);
}

}  // namespace progressista::daemon::federation
