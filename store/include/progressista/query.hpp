// Percent-decoding and query-string lookup, shared by the daemons' routes and the nginx
// module (which hands the store its raw query string).
#pragma once

#include <string>
#include <string_view>

namespace progressista {

// Percent-decodes `s` into `out` ('+' as a space when `form` is true); false on a malformed
// escape (out then holds a prefix).
[[nodiscard]] bool url_decode(std::string_view s, std::string& out, bool form = true);

// The decoded value of `name` in `query` (the part after '?'); false when the parameter is
// absent. A value with a malformed escape is returned as sent.
[[nodiscard]] bool query_param(std::string_view query, std::string_view name, std::string& value);

}  // namespace progressista
