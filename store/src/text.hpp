// Small text helpers shared by the store's parsers (internal).
#pragma once

#include <string_view>

namespace progressista::detail {

// JSON's whitespace (RFC 8259): what may surround a value or an NDJSON line.
inline constexpr std::string_view kJsonBlanks = " \t\r\n";
// What std::isspace calls a space in the C locale: around tokens and header values.
inline constexpr std::string_view kSpaces = " \t\r\n\v\f";

// `s` without leading and trailing characters from `blanks`.
[[nodiscard]] constexpr std::string_view trim(std::string_view s,
                                              std::string_view blanks = kJsonBlanks) noexcept {
  const std::size_t first = s.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(blanks) - first + 1);
}

}  // namespace progressista::detail
