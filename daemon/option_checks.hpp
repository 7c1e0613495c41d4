// Validators for numeric options whose messages say what is expected and what was given
// ("must be a whole number from 0 to 65535; got 'abc'"). CLI11's Range says "Value abc not in
// range" of a value that is not a number at all, and prints its bounds with six decimals.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace progressista::daemon {

// An integer in [lo, hi] (decimal digits only: no sign, no fraction, no exponent).
[[nodiscard]] CLI::Validator whole_number_in(unsigned long long lo, unsigned long long hi);
// A finite decimal number in [lo, hi]; `unit` ("seconds", or "" for none) goes in the message.
[[nodiscard]] CLI::Validator number_in(double lo, double hi, const std::string& unit);

}  // namespace progressista::daemon
