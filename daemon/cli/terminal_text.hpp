// Text from clients and servers on its way to a terminal: made harmless, measured and padded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace progressista::daemon {

// Display columns of UTF-8 text, one per character (wide glyphs are rare in ids and details).
[[nodiscard]] std::size_t columns(std::string_view text);

// `text` followed by spaces up to `width` columns; as it is when already that wide.
[[nodiscard]] std::string pad(std::string text, std::size_t width);

// Task ids, units and server details come from others: control bytes are escaped (ESC as
// "\x1b") so that they cannot drive the terminal, and text of more than `max_columns`
// characters is cut at a character boundary, its last column an ellipsis. max_columns >= 1.
[[nodiscard]] std::string printable(std::string_view text, std::size_t max_columns);

}  // namespace progressista::daemon
