#include "cli/terminal_text.hpp"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

namespace progressista::daemon {
namespace {

// The first byte of a UTF-8 character: anything but a continuation byte (10xxxxxx).
bool starts_character(char ch) {
  return (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
}

}  // namespace

std::size_t columns(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), starts_character));
}

std::string pad(std::string text, std::size_t width) {
  const std::size_t w = columns(text);
  if (w < width) {
    text.append(width - w, ' ');
  }
  return text;
}

std::string printable(std::string_view text, std::size_t max_columns) {
  const bool cut = columns(text) > max_columns;
  std::string out;
  out.reserve(std::min(text.size(), 4 * max_columns));
  std::size_t chars = 0;
  for (const char ch : text) {
    if (starts_character(ch) && ++chars == max_columns && cut) {
      out += "\u2026";
      break;
    }
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

}  // namespace progressista::daemon
