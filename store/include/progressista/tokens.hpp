// API tokens (PROGRESSISTA_API_TOKEN / PROGRESSISTA_API_TOKENS): one set, compared in
// constant time, shared by the daemons and the nginx module.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace progressista {

class TokenSet {
 public:
  TokenSet() = default;
  explicit TokenSet(std::vector<std::string> tokens);
  // Progressista's rule: a non-empty comma-separated `list` wins over `single`; blanks dropped.
  [[nodiscard]] static TokenSet from_settings(std::string_view single, std::string_view list);
  // A tokens file: tokens separated by newlines or commas, blanks trimmed, lines starting
  // with '#' ignored. Throws std::runtime_error naming the file when it cannot be read.
  [[nodiscard]] static TokenSet from_file(const std::string& path);

  // Adds one token (blanks trimmed; an empty one is ignored), or every token of `other`.
  void add(std::string_view token);
  void add(const TokenSet& other);

  // No tokens configured: the API is open.
  [[nodiscard]] bool empty() const noexcept { return tokens_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return tokens_.size(); }
  // Compares against every token without stopping early, each in time that depends only on
  // the token's length, so response times do not reveal how much of a guess was right.
  [[nodiscard]] bool contains(std::string_view candidate) const noexcept;
  // Progressista's request rule: true when no tokens are configured, or the request presents
  // a valid one as `Authorization: Bearer <t>` or as `?token=<t>` in its raw query string.
  [[nodiscard]] bool admits(std::string_view authorization, std::string_view query) const;

 private:
  std::vector<std::string> tokens_;
};

// The bearer token of an Authorization header value ("Bearer <t>", scheme case-insensitive),
// or an empty view.
[[nodiscard]] std::string_view bearer_token(std::string_view authorization) noexcept;

}  // namespace progressista
