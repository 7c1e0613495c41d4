// What a person reads when the command line (or a PROGRESSISTA_* variable) is wrong: an unknown
// verb or option with the nearest one ("did you mean"), and a bad value that came from the
// environment named by its variable. CLI11 parses; this only words its failures.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

namespace progressista::daemon {

// The candidate nearest `word` by edit distance, when it is near enough to be a typo of it
// (at most 2 edits, or a third of the word's length when that is more); else empty.
[[nodiscard]] std::string nearest(std::string_view word, const std::vector<std::string>& candidates);

// Before parsing: a first argument that is neither an option nor a verb gets "unknown verb",
// the nearest verb and the list of verbs on stderr. Returns the exit code then, else nullopt.
[[nodiscard]] std::optional<int> check_verb(const CLI::App& app, int argc, char** argv);

// After CLI11 threw `e` (not --help, --version or a verb's exit code): says it on stderr, in
// CLI11's words unless an unknown option or a variable's bad value can be said better.
// Returns the exit code.
int report_usage_error(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv);

}  // namespace progressista::daemon
