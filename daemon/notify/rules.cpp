#include "notify/rules.hpp"

#include <array>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <simdjson.h>

namespace progressista::daemon::notify {

namespace {

constexpr std::array<std::string_view, kTransitionCount> kTransitionNames = {
    "failed", "closed", "stalled", "ended_early", "lost"};

constexpr std::string_view kRuleKeys =
    "name, project, task_prefix, transitions, type, url, secret, ca_file, digest_seconds, "
    "rate_limit, quiet_hours";

// Line and column (1-based, columns in bytes) of `offset` in `text`.
RulesError error_at(std::string_view text, std::size_t offset, std::string message) {
  RulesError e;
  e.line = 1;
  e.column = 1;
  offset = std::min(offset, text.size());
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++e.line;
      e.column = 1;
    } else {
      ++e.column;
    }
  }
  e.message = std::move(message);
  return e;
}

// "HH:MM" -> minutes since midnight, or -1.
int minutes_of(std::string_view s) {
  if (s.size() != 5 || s[2] != ':') return -1;
  for (std::size_t i : {0u, 1u, 3u, 4u})
    if (s[i] < '0' || s[i] > '9') return -1;
  const int h = (s[0] - '0') * 10 + (s[1] - '0');
  const int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h > 23 || m > 59) return -1;
  return h * 60 + m;
}

class RulesParser {
 public:
  explicit RulesParser(std::string_view text) : text_(text), buf_(text) {}

  ParsedRules run() {
    ParsedRules out;
    simdjson::ondemand::document doc;
    if (const auto e = parser_.iterate(buf_).get(doc)) {
      out.error = error_at(text_, 0, fmt::format("not JSON: {}", simdjson::error_message(e)));
      return out;
    }
    simdjson::ondemand::object root;
    if (doc.get_object().get(root)) {
      out.error = located(doc, "the rules file must be a JSON object: {\"rules\": [ ... ]}");
      return out;
    }
    bool have_rules = false;
    for (auto field : root) {
      std::string_view key;
      if (const auto e = field.error()) return fail(out, doc, fmt::format("bad JSON: {}", simdjson::error_message(e)));
      // The key's place first: unescaped_key() consumes it.
      const std::size_t key_at = offset(field.value_unsafe().key().raw()) - 1;
      if (const auto e = field.unescaped_key().get(key))
        return fail(out, doc, fmt::format("bad JSON: {}", simdjson::error_message(e)));
      if (key != "rules") {
        out.error = error_at(text_, key_at,
                             fmt::format("unknown key '{}' (the file holds one key: rules)", key));
        return out;
      }
      simdjson::ondemand::value v = field.value();
      const std::size_t at = where(v);
      simdjson::ondemand::array rules;
      if (v.get_array().get(rules)) {
        out.error = error_at(text_, at, "'rules' must be an array of rule objects");
        return out;
      }
      have_rules = true;
      for (auto element : rules) {
        simdjson::ondemand::value rv;
        if (const auto e = element.get(rv))
          return fail(out, doc, fmt::format("bad JSON: {}", simdjson::error_message(e)));
        Rule rule;
        if (!parse_rule(rv, out.rules.size() + 1, rule, out)) return out;
        out.rules.push_back(std::move(rule));
      }
    }
    // Only blanks may follow the object (this simdjson has no document::at_end()).
    if (const char* end = nullptr; !doc.current_location().get(end)) {
      const std::size_t at = offset(end);
      const std::size_t text_at = text_.find_first_not_of(" \t\r\n", at);
      if (text_at != std::string_view::npos)
        return fail(out, doc, "unexpected text after the rules object");
    }
    if (!have_rules) out.error = error_at(text_, 0, "no 'rules' array");
    return out;
  }

 private:
  std::size_t offset(const char* p) const {
    const char* base = buf_.data();
    return p >= base ? static_cast<std::size_t>(p - base) : 0;
  }
  template <typename T>
  std::size_t where(T& v) {
    const char* p = nullptr;
    if (v.current_location().get(p)) return text_.size();
    return offset(p);
  }
  RulesError located(simdjson::ondemand::document& doc, std::string message) {
    return error_at(text_, where(doc), std::move(message));
  }
  ParsedRules& fail(ParsedRules& out, simdjson::ondemand::document& doc, std::string message) {
    out.error = located(doc, std::move(message));
    return out;
  }
  bool wrong(ParsedRules& out, std::size_t at, std::string message) {
    out.error = error_at(text_, at, std::move(message));
    return false;
  }

  bool string_of(simdjson::ondemand::value& v, std::string_view key, std::string& dest,
                 ParsedRules& out) {
    const std::size_t at = where(v);
    std::string_view s;
    if (v.get_string().get(s))
      return wrong(out, at, fmt::format("'{}' must be a string", key));
    dest.assign(s);
    return true;
  }
  bool number_of(simdjson::ondemand::value& v, std::string_view key, double lo, double hi,
                 std::string_view unit, double& dest, ParsedRules& out) {
    const std::size_t at = where(v);
    double d = 0;
    if (v.get_double().get(d))
      return wrong(out, at, fmt::format("'{}' must be a number ({})", key, unit));
    if (!std::isfinite(d) || d < lo || d > hi)
      return wrong(out, at, fmt::format("'{}' must be from {} to {} ({}); got {}", key, lo, hi,
                                        unit, d));
    dest = d;
    return true;
  }

  bool parse_rule(simdjson::ondemand::value& rv, std::size_t index, Rule& rule, ParsedRules& out) {
    const std::size_t rule_at = where(rv);
    simdjson::ondemand::object obj;
    if (rv.get_object().get(obj))
      return wrong(out, rule_at, fmt::format("rule {} must be an object", index));
    bool have_url = false, have_transitions = false;
    for (auto field : obj) {
      std::string_view key;
      if (const auto e = field.error())
        return wrong(out, rule_at, fmt::format("bad JSON in a rule: {}", simdjson::error_message(e)));
      const std::size_t key_at = offset(field.value_unsafe().key().raw()) - 1;
      if (const auto e = field.unescaped_key().get(key))
        return wrong(out, rule_at, fmt::format("bad JSON in a rule: {}", simdjson::error_message(e)));
      simdjson::ondemand::value v = field.value();
      const std::size_t at = where(v);
      if (key == "name") {
        if (!string_of(v, key, rule.name, out)) return false;
        if (rule.name.empty()) return wrong(out, at, "'name' must not be empty");
        if (!names_.insert(rule.name).second)
          return wrong(out, at, fmt::format("a rule named '{}' comes earlier", rule.name));
      } else if (key == "project") {
        if (!string_of(v, key, rule.project, out)) return false;
      } else if (key == "task_prefix") {
        if (!string_of(v, key, rule.task_prefix, out)) return false;
      } else if (key == "transitions") {
        simdjson::ondemand::array list;
        if (v.get_array().get(list))
          return wrong(out, at, "'transitions' must be an array of names (failed, closed, "
                                "stalled, ended_early, lost)");
        for (auto item : list) {
          simdjson::ondemand::value iv;
          if (const auto e = item.get(iv))
            return wrong(out, at, fmt::format("bad JSON in 'transitions': {}", simdjson::error_message(e)));
          const std::size_t item_at = where(iv);
          std::string_view name;
          if (iv.get_string().get(name))
            return wrong(out, item_at, "a transition must be a string");
          const auto t = transition_of(name);
          if (!t)
            return wrong(out, item_at,
                         fmt::format("unknown transition '{}' (expected failed, closed, stalled, "
                                     "ended_early or lost)",
                                     name));
          rule.transitions |= 1u << static_cast<unsigned>(*t);
        }
        if (rule.transitions == 0) return wrong(out, at, "'transitions' must name at least one");
        have_transitions = true;
      } else if (key == "type") {
        std::string type;
        if (!string_of(v, key, type, out)) return false;
        if (type == "webhook") {
          rule.kind = TargetKind::kWebhook;
        } else if (type == "slack" || type == "mattermost") {
          rule.kind = TargetKind::kSlack;
        } else if (type == "ntfy") {
          rule.kind = TargetKind::kNtfy;
        } else {
          return wrong(out, at, fmt::format("unknown type '{}' (expected webhook, slack, "
                                            "mattermost or ntfy)",
                                            type));
        }
      } else if (key == "url") {
        if (!string_of(v, key, rule.url_text, out)) return false;
        std::string why;
        const auto url = parse_url(rule.url_text, why);
        if (!url) return wrong(out, at, fmt::format("bad url '{}': {}", rule.url_text, why));
        rule.url = *url;
        have_url = true;
      } else if (key == "secret") {
        if (!string_of(v, key, rule.secret, out)) return false;
        if (rule.secret.empty()) return wrong(out, at, "'secret' must not be empty");
      } else if (key == "ca_file") {
        if (!string_of(v, key, rule.ca_file, out)) return false;
        if (!std::ifstream(rule.ca_file))
          return wrong(out, at, fmt::format("ca_file '{}' cannot be read", rule.ca_file));
      } else if (key == "digest_seconds") {
        if (!number_of(v, key, 0, 86400, "seconds", rule.digest_seconds, out)) return false;
      } else if (key == "rate_limit") {
        if (!number_of(v, key, 0, 1e6, "messages a minute", rule.rate_limit, out)) return false;
      } else if (key == "quiet_hours") {
        std::string span;
        if (!string_of(v, key, span, out)) return false;
        const std::size_t dash = span.find('-');
        const int from = dash == std::string::npos ? -1 : minutes_of(std::string_view(span).substr(0, dash));
        const int to = dash == std::string::npos ? -1 : minutes_of(std::string_view(span).substr(dash + 1));
        if (from < 0 || to < 0)
          return wrong(out, at, fmt::format("'quiet_hours' must be \"HH:MM-HH:MM\" (UTC); got '{}'",
                                            span));
        rule.quiet = QuietHours{from, to};
      } else {
        return wrong(out, key_at, fmt::format("unknown key '{}' in a rule (expected one of: {})",
                                              key, kRuleKeys));
      }
    }
    if (!have_url) return wrong(out, rule_at, fmt::format("rule {} has no 'url'", index));
    if (!have_transitions)
      return wrong(out, rule_at, fmt::format("rule {} has no 'transitions'", index));
    if (rule.url.tls == false && !rule.ca_file.empty())
      return wrong(out, rule_at, "'ca_file' is for https:// targets");
    if (rule.name.empty()) {
      rule.name = fmt::format("rule-{}", index);
      if (!names_.insert(rule.name).second)
        return wrong(out, rule_at, fmt::format("a rule named '{}' comes earlier", rule.name));
    }
    return true;
  }

  std::string_view text_;
  simdjson::padded_string buf_;
  simdjson::ondemand::parser parser_;
  std::set<std::string> names_;
};

}  // namespace

std::string_view transition_name(Transition t) noexcept {
  return kTransitionNames[static_cast<std::size_t>(t)];
}

std::optional<Transition> transition_of(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kTransitionNames.size(); ++i)
    if (kTransitionNames[i] == name) return static_cast<Transition>(i);
  return std::nullopt;
}

std::string_view target_kind_name(TargetKind k) noexcept {
  switch (k) {
    case TargetKind::kSlack: return "slack";
    case TargetKind::kNtfy: return "ntfy";
    case TargetKind::kWebhook: break;
  }
  return "webhook";
}

std::optional<Url> parse_url(std::string_view text, std::string& why) {
  Url url;
  std::string_view rest;
  if (text.starts_with("https://")) {
    url.tls = true;
    rest = text.substr(8);
  } else if (text.starts_with("http://")) {
    rest = text.substr(7);
  } else {
    why = "only http:// and https:// URLs are supported";
    return std::nullopt;
  }
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      why = "it holds a space or a control character";
      return std::nullopt;
    }
  }
  const std::size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  url.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (url.target.front() != '/') url.target.insert(0, "/");
  if (const std::size_t hash = url.target.find('#'); hash != std::string::npos)
    url.target.resize(hash);
  if (authority.find('@') != std::string_view::npos) {
    why = "user information (user@) is not supported; use 'secret' to sign";
    return std::nullopt;
  }
  std::string_view port;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      why = "unclosed '[' in the host";
      return std::nullopt;
    }
    url.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        why = "text after the IPv6 address";
        return std::nullopt;
      }
      port = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty()) {
    why = "no host";
    return std::nullopt;
  }
  if (port.empty()) {
    url.port = url.tls ? "443" : "80";
  } else {
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || value > 65535) {
        why = fmt::format("port '{}' is not a number from 1 to 65535", port);
        return std::nullopt;
      }
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) {
      why = fmt::format("port '{}' is not a number from 1 to 65535", port);
      return std::nullopt;
    }
    url.port = std::string(port);
  }
  return url;
}

bool QuietHours::contains(double unix_seconds) const noexcept {
  if (!enabled()) return false;
  const double day = std::fmod(unix_seconds, 86400.0);
  const int minute = static_cast<int>(day / 60);
  return from < to ? (minute >= from && minute < to) : (minute >= from || minute < to);
}

double QuietHours::end_after(double unix_seconds) const noexcept {
  if (!contains(unix_seconds)) return unix_seconds;
  const double midnight = unix_seconds - std::fmod(unix_seconds, 86400.0);
  double end = midnight + to * 60.0;
  if (end <= unix_seconds) end += 86400.0;
  return end;
}

bool Rule::matches(std::string_view task_id, std::string_view task_project,
                   Transition t) const noexcept {
  return wants(t) && (project.empty() || project == task_project) &&
         task_id.starts_with(task_prefix);
}

ParsedRules parse_rules(std::string_view text) {
  return RulesParser(text).run();
}

std::vector<Rule> load_rules(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = fmt::format("{}: cannot be read", path);
    return {};
  }
  std::ostringstream text;
  text << in.rdbuf();
  ParsedRules parsed = parse_rules(text.str());
  if (parsed.error) {
    error = fmt::format("{}:{}:{}: {}", path, parsed.error->line, parsed.error->column,
                        parsed.error->message);
    return {};
  }
  if (parsed.rules.empty()) {
    error = fmt::format("{}: 'rules' is empty", path);
    return {};
  }
  return std::move(parsed.rules);
}

}  // namespace progressista::daemon::notify
