#include "option_checks.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace progressista::daemon {

CLI::Validator whole_number_in(unsigned long long lo, unsigned long long hi) {
  const std::string expected = fmt::format("must be a whole number from {} to {}", lo, hi);
  return CLI::Validator(
      [lo, hi, expected](std::string& text) -> std::string {
        unsigned long long v = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, v);
        if (text.empty() || ec != std::errc() || ptr != end || v < lo || v > hi)
          return fmt::format("{}; got '{}'", expected, text);
        return {};
      },
      fmt::format("{}..{}", lo, hi), "whole number in range");
}

CLI::Validator number_in(double lo, double hi, const std::string& unit) {
  const std::string expected = fmt::format("must be a number{}{} from {} to {}",
                                           unit.empty() ? "" : " of ", unit, lo, hi);
  return CLI::Validator(
      [lo, hi, expected](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v) || v < lo ||
            v > hi)
          return fmt::format("{}; got '{}'", expected, text);
        return {};
      },
      fmt::format("{}..{}", lo, hi), "number in range");
}

}  // namespace progressista::daemon
