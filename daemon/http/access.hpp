// Cross-cutting request policy shared by every route: API tokens and CORS.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "http/http_types.hpp"
#include "http/share_token.hpp"
#include "progressista/ingest.hpp"
#include "progressista/tokens.hpp"

namespace progressista::daemon {

// Who is asking: open when no tokens are configured or the request carries a valid one in
// `Authorization: Bearer <t>` or `?token=<t>` (Progressista's two places). The daemons' one
// token check; writes may still authenticate event by event (meta._token) when not open.
[[nodiscard]] Access access_of(const TokenSet& tokens, const HttpRequest& request);

// What a request's share link (`?share=<token>`) makes of it: none given, a valid one (the
// request is read-only and sees `scope` only, whatever API tokens say), or a refused one (401
// with `detail`). Share links are the `share=` parameter only: `?token=` and `Authorization`
// carry API tokens, which keep every right they have.
struct ShareAccess {
  enum class Kind : std::uint8_t { kNone, kScoped, kRefused };
  Kind kind = Kind::kNone;
  ShareScope scope;
  std::string detail;
  [[nodiscard]] bool none() const noexcept { return kind == Kind::kNone; }
  [[nodiscard]] bool scoped() const noexcept { return kind == Kind::kScoped; }
  [[nodiscard]] bool refused() const noexcept { return kind == Kind::kRefused; }
};

// The server's share secret and key id, and the share links' counters (shared by every
// thread; the counters are atomics). Without a secret every share link is refused.
class ShareLinks {
 public:
  ShareLinks() = default;
  ShareLinks(std::string secret, std::string key_id)
      : secret_(std::move(secret)), key_id_(std::move(key_id)) {}
  ShareLinks(const ShareLinks&) = delete;
  ShareLinks& operator=(const ShareLinks&) = delete;

  [[nodiscard]] bool enabled() const noexcept { return !secret_.empty(); }
  // The request's share link, checked (one HMAC); a refusal is counted by its reason.
  [[nodiscard]] ShareAccess of(const HttpRequest& request) const;
  // A valid link used for a write or a route outside its reach (403).
  void count_forbidden() const noexcept { forbidden_.fetch_add(1, std::memory_order_relaxed); }

  // Refusals by reason: malformed, signature, revoked, expired, disabled (no secret).
  static constexpr std::size_t kReasons = 5;
  [[nodiscard]] static std::string_view reason_name(std::size_t i) noexcept;
  [[nodiscard]] std::uint64_t refused(std::size_t reason) const noexcept {
    return refused_[reason].load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t forbidden() const noexcept {
    return forbidden_.load(std::memory_order_relaxed);
  }

 private:
  std::string secret_;
  std::string key_id_;
  mutable std::array<std::atomic<std::uint64_t>, kReasons> refused_{};
  mutable std::atomic<std::uint64_t> forbidden_{0};
};

// CORS for an allow-list of origins ("*" allows any). Origins not on the list get no CORS
// headers at all, so the browser blocks them.
class Cors {
 public:
  explicit Cors(std::vector<std::string> origins) : origins_(std::move(origins)) {}

  // Answers a preflight (OPTIONS with Origin and Access-Control-Request-Method) and returns
  // true; false for any other request.
  bool preflight(const HttpRequest& request, HttpResponse& response) const;
  // Adds the CORS headers to an ordinary response when its Origin is allowed.
  void decorate(const HttpRequest& request, HttpResponse& response) const;

 private:
  [[nodiscard]] bool allowed(std::string_view origin) const;
  std::vector<std::string> origins_;
};

}  // namespace progressista::daemon
