#include "usage_errors.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace progressista::daemon {

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::vector<std::string> verb_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* cmd : app.get_subcommands([](const CLI::App*) { return true; }))
    names.push_back(cmd->get_name());
  return names;
}

// The verb on the command line: the first argument that names one.
const CLI::App* verb_of(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    for (const CLI::App* cmd : app.get_subcommands([](const CLI::App*) { return true; })) {
      if (cmd->get_name() == argv[i]) return cmd;
    }
  }
  return nullptr;
}

// "--name" of every long option and "-n" of every short one of `cmd`, help included.
std::vector<std::string> option_spellings(const CLI::App& cmd) {
  std::vector<std::string> out;
  for (const CLI::Option* opt : cmd.get_options()) {
    for (const std::string& l : opt->get_lnames()) out.push_back("--" + l);
    for (const std::string& s : opt->get_snames()) out.push_back("-" + s);
    for (const std::string& f : opt->get_fnames()) {
      // A flag's "!--no-x" false name is listed with its dashes by CLI11 2.1.
      if (f.starts_with("--")) out.push_back(f);
    }
  }
  return out;
}

// The first argument after the verb that looks like an option `cmd` does not have.
std::optional<std::string> unknown_option(const CLI::App& cmd, int argc, char** argv) {
  const std::vector<std::string> known = option_spellings(cmd);
  bool after_verb = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!after_verb) {
      after_verb = arg == cmd.get_name();
      continue;
    }
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-' || (arg[1] >= '0' && arg[1] <= '9') || arg[1] == '.')
      continue;  // a value (a negative number among them)
    std::string name(arg.substr(0, arg.find('=')));
    if (name.size() > 2 && name[1] != '-') name = name.substr(0, 2);  // -p8000
    if (std::find(known.begin(), known.end(), name) == known.end()) return name;
  }
  return std::nullopt;
}

bool on_command_line(const CLI::Option& opt, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    for (const auto& name : opt.get_lnames()) {
      const std::string flag = "--" + name;
      if (arg == flag || arg.starts_with(flag + "=")) return true;
    }
    for (const auto& name : opt.get_snames()) {
      if (arg.starts_with("-" + name)) return true;
    }
  }
  return false;
}

// The option of `cmd` that a CLI11 message is about: its name followed by ':' (validators)
// or " =" (conversions).
const CLI::Option* option_in_message(const CLI::App& cmd, std::string_view what) {
  for (const CLI::Option* opt : cmd.get_options()) {
    const std::string& name = opt->get_name();
    if (name.empty()) continue;
    if (what.find(name + ":") != std::string_view::npos ||
        what.find(name + " =") != std::string_view::npos)
      return opt;
  }
  return nullptr;
}

}  // namespace

std::string nearest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;  // too far
  for (const std::string& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

std::optional<int> check_verb(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return std::nullopt;
  const std::string_view word = argv[1];
  const std::vector<std::string> verbs = verb_names(app);
  if (std::find(verbs.begin(), verbs.end(), word) != verbs.end()) return std::nullopt;
  const std::string near = nearest(word, verbs);
  (void)std::fprintf(stderr, "progressista: unknown verb '%.*s'%s\n", static_cast<int>(word.size()),
                     word.data(),
                     near.empty() ? "" : fmt::format("; did you mean '{}'?", near).c_str());
  std::string list;
  for (const std::string& v : verbs) list += (list.empty() ? "" : ", ") + v;
  (void)std::fprintf(stderr, "The verbs are: %s. Run `progressista --help` for what each does.\n",
                     list.c_str());
  return static_cast<int>(CLI::ExitCodes::ExtrasError);
}

int report_usage_error(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  const CLI::App* cmd = verb_of(app, argc, argv);
  const std::string prefix = cmd ? "progressista " + cmd->get_name() : std::string("progressista");
  const std::string_view what = e.what();

  if (cmd && dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
    if (const auto unknown = unknown_option(*cmd, argc, argv)) {
      const std::string near = nearest(*unknown, option_spellings(*cmd));
      (void)std::fprintf(stderr, "%s: unknown option '%s'%s\nRun `%s --help` for its options.\n",
                         prefix.c_str(), unknown->c_str(),
                         near.empty() ? "" : fmt::format("; did you mean '{}'?", near).c_str(),
                         prefix.c_str());
      return e.get_exit_code();
    }
  }

  // A bad value from the environment: the command line shows nothing wrong, so the variable
  // is named, with its value (secrets named, never shown) and what it should hold.
  if (cmd != nullptr) {
    if (const CLI::Option* opt = option_in_message(*cmd, what)) {
      const std::string& env = opt->get_envname();
      const char* value = env.empty() ? nullptr : std::getenv(env.c_str());
      if (value != nullptr && !on_command_line(*opt, argc, argv)) {
        const bool secret = env.find("TOKEN") != std::string::npos;
        std::string reason(what);
        const std::string lead = opt->get_name() + ": ";
        if (const auto at = reason.find(lead); at != std::string::npos)
          reason = reason.substr(at + lead.size());
        if (dynamic_cast<const CLI::ConversionError*>(&e) != nullptr) {
          reason = opt->get_type_size() == 0 || opt->get_expected_max() == 0
                       ? "must be true or false (also 1/0, yes/no, on/off)"
                       : fmt::format("is not a valid {}", opt->get_type_name());
        }
        (void)std::fprintf(stderr, "%s: %s=%s (for %s): %s\n", prefix.c_str(), env.c_str(),
                           secret ? "(hidden)" : value, opt->get_name().c_str(), reason.c_str());
        return e.get_exit_code();
      }
    }
  }
  return app.exit(e);
}

}  // namespace progressista::daemon
