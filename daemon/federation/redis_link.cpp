#include "federation/redis_link.hpp"

#include <sys/time.h>

#include <cmath>

#include <fmt/format.h>
#include <hiredis/hiredis.h>

namespace progressista::daemon::federation {

namespace {

timeval to_timeval(double seconds) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(std::floor(seconds));
  tv.tv_usec = static_cast<suseconds_t>((seconds - std::floor(seconds)) * 1e6);
  return tv;
}

}  // namespace

Reply::Reply(redisReply* r) : r_(r) {}

void Reply::Free::operator()(redisReply* r) const noexcept {
  freeReplyObject(r);
}

bool Reply::is_error() const noexcept {
  return r_ && r_->type == REDIS_REPLY_ERROR;
}

bool Reply::is_nil() const noexcept {
  return !r_ || r_->type == REDIS_REPLY_NIL;
}

std::string_view Reply::text() const noexcept {
  return text_of(r_.get());
}

const redisReply* element(const redisReply* r, std::size_t i) noexcept {
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY || i >= r->elements) return nullptr;
  return r->element[i];
}

std::size_t elements(const redisReply* r) noexcept {
  return r != nullptr && r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
}

std::string_view text_of(const redisReply* r) noexcept {
  if (r == nullptr) return {};
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
      r->type == REDIS_REPLY_ERROR)
    return {r->str, r->len};
  return {};
}

RedisLink::RedisLink(const RedisUrl& url, double timeout) {
  c_ = redisConnectWithTimeout(url.host.c_str(), url.port, to_timeval(timeout));
  if (c_ == nullptr) throw RedisDown("cannot allocate a Redis connection");
  if (c_->err != 0) {
    const std::string why = fmt::format("cannot reach Redis at {}: {}", url.redacted(), c_->errstr);
    redisFree(c_);
    c_ = nullptr;
    throw RedisDown(why);
  }
  try {
    set_timeout(timeout);
    const auto check = [&](const Reply& r, std::string_view what) {
      if (r.is_error())
        throw RedisRefused(fmt::format("Redis at {} refused {}: {}", url.redacted(), what, r.text()));
    };
    if (!url.password.empty()) {
      check(url.user.empty() ? command({"AUTH", url.password})
                             : command({"AUTH", url.user, url.password}),
            "the credentials");
    } else {
      // Without a password, a server that needs one answers NOAUTH to the first command.
      check(command({"PING"}), "a command without a password");
    }
    if (url.db != 0) check(command({"SELECT", std::to_string(url.db)}), "the database number");
  } catch (...) {
    redisFree(c_);
    c_ = nullptr;
    throw;
  }
}

RedisLink::~RedisLink() {
  if (c_ != nullptr) redisFree(c_);
}

void RedisLink::set_timeout(double seconds) {
  if (redisSetTimeout(c_, to_timeval(seconds)) != REDIS_OK) down("cannot set the socket timeout");
}

void RedisLink::down(std::string_view what) {
  throw RedisDown(fmt::format("Redis connection lost ({}): {}", what,
                              c_ != nullptr && c_->err != 0 ? c_->errstr : "no reply"));
}

namespace {
void to_argv(const std::vector<std::string_view>& args, std::vector<const char*>& argv,
             std::vector<std::size_t>& lens) {
  argv.clear();
  lens.clear();
  for (const std::string_view a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
}
}  // namespace

Reply RedisLink::command(const std::vector<std::string_view>& args) {
  append(args);
  return next_reply();
}

void RedisLink::append(const std::vector<std::string_view>& args) {
  if (c_ == nullptr || c_->err != 0) down("append");
  thread_local std::vector<const char*> argv;
  thread_local std::vector<std::size_t> lens;
  to_argv(args, argv, lens);
  if (redisAppendCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
      REDIS_OK)
    down("append");
}

Reply RedisLink::next_reply() {
  if (c_ == nullptr || c_->err != 0) down("read");
  void* reply = nullptr;
  if (redisGetReply(c_, &reply) != REDIS_OK || reply == nullptr) down("read");
  return Reply(static_cast<redisReply*>(reply));
}

}  // namespace progressista::daemon::federation
