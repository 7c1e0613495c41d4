// One connection to Redis through Debian's hiredis (0.14, RESP2), its synchronous API driven
// from the federation's own threads: hiredis 0.14 ships no Asio adapter, and each thread needs
// one blocking connection (the follower's XREAD BLOCK, the writer's pipelined XADDs).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "federation/redis_url.hpp"

struct redisContext;
struct redisReply;

namespace progressista::daemon::federation {

// The connection is unusable (refused, reset, timed out): reconnect.
struct RedisDown : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Redis refused our credentials or database: a configuration error, not an outage.
struct RedisRefused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A reply, freed with its connection's allocator.
class Reply {
 public:
  Reply() = default;
  explicit Reply(redisReply* r);
  [[nodiscard]] const redisReply* get() const noexcept { return r_.get(); }
  [[nodiscard]] bool is_error() const noexcept;
  [[nodiscard]] bool is_nil() const noexcept;
  // The text of a string, status or error reply ("" otherwise).
  [[nodiscard]] std::string_view text() const noexcept;

 private:
  struct Free {
    void operator()(redisReply* r) const noexcept;
  };
  std::unique_ptr<redisReply, Free> r_;
};

// Element accessors for array replies (null-safe: out of range or not an array gives null).
[[nodiscard]] const redisReply* element(const redisReply* r, std::size_t i) noexcept;
[[nodiscard]] std::size_t elements(const redisReply* r) noexcept;
[[nodiscard]] std::string_view text_of(const redisReply* r) noexcept;

class RedisLink {
 public:
  // Connects within `timeout` seconds, then AUTH and SELECT as the URL says. Throws RedisDown
  // when Redis cannot be reached, RedisRefused when it refuses the password or the database.
  RedisLink(const RedisUrl& url, double timeout);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // Sets the socket's read/write timeout (a blocking XREAD needs more than its BLOCK time).
  void set_timeout(double seconds);

  // One command; an error reply is returned (is_error()), a broken connection throws RedisDown.
  Reply command(const std::vector<std::string_view>& args);
  // Pipelining: queue commands, then read their replies in order.
  void append(const std::vector<std::string_view>& args);
  Reply next_reply();

 private:
  [[noreturn]] void down(std::string_view what);
  redisContext* c_ = nullptr;
};

}  // namespace progressista::daemon::federation
