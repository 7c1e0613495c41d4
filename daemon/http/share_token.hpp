// Share links: a stateless, read-only token that names a scope (a project, a task-id prefix or
// both) and an expiry, signed with HMAC-SHA256 under the server's share secret. Nothing is
// stored: changing the key id (or the secret) revokes every link signed before. Pure: no I/O.
//
//   ps1.<key id>.<expires>.<project>.<prefix>.<mac>
//
// key id, project and prefix are base64url (no padding; an empty field is an empty string,
// and an empty project means any project), expires is Unix seconds in decimal, and mac is the
// base64url HMAC-SHA256 of everything before its dot. base64url has no '.', so the fields split
// without escaping, and the token needs no escaping in a URL.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace progressista::daemon {

// What a share link shows: the tasks of `project` (empty: any project) whose id starts with
// `prefix` (empty: any id). A task's project is its `project` field, as ?project= reads it.
struct ShareScope {
  std::string project;
  std::string prefix;

  [[nodiscard]] bool matches(std::string_view task_id, std::string_view task_project,
                             bool has_project) const noexcept {
    if (!project.empty() && (!has_project || task_project != project)) return false;
    return task_id.starts_with(prefix);
  }
  // "project 'p', ids starting with 'x'", for messages.
  [[nodiscard]] std::string describe() const;
};

struct ShareClaims {
  std::string key_id;
  ShareScope scope;
  std::int64_t expires = 0;  // Unix seconds
};

enum class ShareError : std::uint8_t { kNone, kMalformed, kSignature, kRevoked, kExpired };

// The reason as a metric label: "malformed", "signature", "revoked", "expired".
[[nodiscard]] std::string_view share_error_name(ShareError e) noexcept;

struct ShareVerdict {
  ShareError error = ShareError::kMalformed;
  ShareClaims claims;  // filled when the token parsed (even if refused)
  [[nodiscard]] bool ok() const noexcept { return error == ShareError::kNone; }
  // The 401 detail for a refused token, saying which check failed.
  [[nodiscard]] std::string detail() const;
};

// The signed token. `secret` must not be empty.
[[nodiscard]] std::string sign_share_token(const ShareClaims& claims, std::string_view secret);

// Checks, in order: the shape, the signature (constant-time, CRYPTO_memcmp), the key id
// against `key_id`, the expiry against `now` (Unix seconds). O(token size).
[[nodiscard]] ShareVerdict verify_share_token(std::string_view token, std::string_view secret,
                                              std::string_view key_id, double now);

[[nodiscard]] std::string base64url_encode(std::string_view bytes);
// False on a character outside the base64url alphabet or an impossible length.
[[nodiscard]] bool base64url_decode(std::string_view text, std::string& out);

// "30m", "12h", "7d", "2w", "90s" (a positive whole number and one unit) -> seconds; 0 when
// the text is no such duration.
[[nodiscard]] std::int64_t parse_share_duration(std::string_view text) noexcept;

}  // namespace progressista::daemon
