#include "federation/redis_url.hpp"

#include <charconv>

#include <fmt/format.h>

#include "progressista/query.hpp"

namespace progressista::daemon::federation {

namespace {

bool parse_number(std::string_view text, unsigned limit, unsigned& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size() && out <= limit;
}

}  // namespace

std::string RedisUrl::redacted() const {
  std::string auth;
  if (!password.empty()) auth = fmt::format("{}:***@", user);
  else if (!user.empty()) auth = fmt::format("{}@", user);
  const bool v6 = host.find(':') != std::string::npos;
  return fmt::format("redis://{}{}{}{}:{}/{}", auth, v6 ? "[" : "", host, v6 ? "]" : "", port, db);
}

std::optional<RedisUrl> parse_redis_url(std::string_view text, std::string& error) {
  constexpr std::string_view kScheme = "redis://";
  if (text.starts_with("rediss://")) {
    error = "rediss:// (TLS) is not supported; use redis:// over a private network or a TLS "
            "tunnel such as stunnel";
    return std::nullopt;
  }
  if (!text.starts_with(kScheme)) {
    error = "expected redis://[user:password@]host:port[/db]";
    return std::nullopt;
  }
  std::string_view rest = text.substr(kScheme.size());
  RedisUrl url;
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    const std::string_view user = userinfo.substr(0, colon);
    const std::string_view password =
        colon == std::string_view::npos ? std::string_view{} : userinfo.substr(colon + 1);
    if (!url_decode(user, url.user, false) || !url_decode(password, url.password, false)) {
      error = "the user or password has a malformed percent-escape";
      return std::nullopt;
    }
  }
  std::string_view hostport = rest;
  if (const std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && !parse_number(db, 65535, url.db)) {
      error = fmt::format("the database '{}' is not a number from 0 to 65535", db);
      return std::nullopt;
    }
  }
  std::string_view port;
  if (hostport.starts_with('[')) {
    const std::size_t close = hostport.find(']');
    if (close == std::string_view::npos) {
      error = "an IPv6 host needs its closing ']'";
      return std::nullopt;
    }
    url.host = std::string(hostport.substr(1, close - 1));
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) {
      error = "expected ':port' after the IPv6 host";
      return std::nullopt;
    }
    if (!after.empty()) port = after.substr(1);
  } else {
    const std::size_t colon = hostport.rfind(':');
    url.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) port = hostport.substr(colon + 1);
  }
  if (url.host.empty()) {
    error = "the host is missing";
    return std::nullopt;
  }
  if (!port.empty()) {
    unsigned p = 0;
    if (!parse_number(port, 65535, p) || p == 0) {
      error = fmt::format("the port '{}' is not a number from 1 to 65535", port);
      return std::nullopt;
    }
    url.port = static_cast<std::uint16_t>(p);
  }
  return url;
}

}  // namespace progressista::daemon::federation
