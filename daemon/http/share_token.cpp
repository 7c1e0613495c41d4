#include "http/share_token.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace progressista::daemon {

namespace {

constexpr std::string_view kVersion = "ps1";
constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
// A token longer than this is refused before any work (a project and a prefix are bounded
// well below it by the event limits).
constexpr std::size_t kMaxToken = 4096;

std::array<unsigned char, 32> mac_of(std::string_view signed_text, std::string_view secret) {
  std::array<unsigned char, 32> mac{};
  unsigned int size = 0;
  (void)HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(),
             mac.data(), &size);
  return mac;
}

int value_of(char c) noexcept {
  const std::size_t i = kAlphabet.find(c);
  return i == std::string_view::npos ? -1 : static_cast<int>(i);
}

}  // namespace

std::string ShareScope::describe() const {
  if (project.empty()) return fmt::format("task ids starting with '{}'", prefix);
  if (prefix.empty()) return fmt::format("project '{}'", project);
  return fmt::format("project '{}', task ids starting with '{}'", project, prefix);
}

std::string_view share_error_name(ShareError e) noexcept {
  switch (e) {
    case ShareError::kNone:
      return "none";
    case ShareError::kMalformed:
      return "malformed";
    case ShareError::kSignature:
      return "signature";
    case ShareError::kRevoked:
      return "revoked";
    case ShareError::kExpired:
      return "expired";
  }
  return "malformed";
}

std::string ShareVerdict::detail() const {
  switch (error) {
    case ShareError::kNone:
      return {};
    case ShareError::kMalformed:
      return "Invalid share link: the share token is malformed";
    case ShareError::kSignature:
      return "Invalid share link: the signature does not match (altered, or signed with another "
             "secret)";
    case ShareError::kRevoked:
      return fmt::format(
          "Invalid share link: signed with key id '{}', which this server no longer accepts "
          "(revoked)",
          claims.key_id);
    case ShareError::kExpired:
      return fmt::format("Invalid share link: it expired at {} (Unix seconds); ask for a new one",
                         claims.expires);
  }
  return "Invalid share link";
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char ch : bytes) {
    acc = (acc << 8) | static_cast<unsigned char>(ch);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 == 1) return false;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char ch : text) {
    const int v = value_of(ch);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // The leftover bits must be zero: one text per byte string, so a token cannot be altered
  // in its last character without the signature noticing a different text.
  return (acc & ((1u << bits) - 1)) == 0;
}

std::string sign_share_token(const ShareClaims& claims, std::string_view secret) {
  std::string text = fmt::format("{}.{}.{}.{}.{}", kVersion, base64url_encode(claims.key_id),
                                 claims.expires, base64url_encode(claims.scope.project),
                                 base64url_encode(claims.scope.prefix));
  const auto mac = mac_of(text, secret);
  text.push_back('.');
  text += base64url_encode(
      std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
  return text;
}

ShareVerdict verify_share_token(std::string_view token, std::string_view secret,
                                std::string_view key_id, double now) {
  ShareVerdict v;
  if (token.size() > kMaxToken) return v;
  std::vector<std::string_view> parts;
  for (std::size_t from = 0;;) {
    const std::size_t dot = token.find('.', from);
    parts.push_back(token.substr(from, dot == std::string_view::npos ? dot : dot - from));
    if (dot == std::string_view::npos) break;
    from = dot + 1;
  }
  if (parts.size() != 6 || parts[0] != kVersion) return v;
  const std::string_view expires = parts[2];
  const auto [end, ec] =
      std::from_chars(expires.data(), expires.data() + expires.size(), v.claims.expires);
  if (ec != std::errc{} || end != expires.data() + expires.size() || expires.empty() ||
      expires.front() == '-')
    return v;
  std::string mac;
  if (!base64url_decode(parts[1], v.claims.key_id) ||
      !base64url_decode(parts[3], v.claims.scope.project) ||
      !base64url_decode(parts[4], v.claims.scope.prefix) || !base64url_decode(parts[5], mac) ||
      mac.size() != 32)
    return v;
  const std::string_view signed_text = token.substr(0, token.size() - parts[5].size() - 1);
  const auto expected = mac_of(signed_text, secret);
  if (CRYPTO_memcmp(expected.data(), mac.data(), expected.size()) != 0) {
    v.error = ShareError::kSignature;
    return v;
  }
  if (v.claims.key_id != key_id) {
    v.error = ShareError::kRevoked;
    return v;
  }
  if (!(static_cast<double>(v.claims.expires) > now)) {
    v.error = ShareError::kExpired;
    return v;
  }
  v.error = ShareError::kNone;
  return v;
}

std::int64_t parse_share_duration(std::string_view text) noexcept {
  if (text.size() < 2) return 0;
  std::int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'w':
      unit = 7 * 86400;
      break;
    default:
      return 0;
  }
  const std::string_view digits = text.substr(0, text.size() - 1);
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc{} || end != digits.data() + digits.size() || n <= 0 ||
      n > std::numeric_limits<std::int64_t>::max() / unit / 2)
    return 0;
  return n * unit;
}

}  // namespace progressista::daemon
