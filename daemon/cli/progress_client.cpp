#include "cli/progress_client.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <stdexcept>

#include <fmt/format.h>
#include <simdjson.h>
#include <CLI/CLI.hpp>

#include "cli/terminal_text.hpp"
#include "option_checks.hpp"
#include "log.hpp"
#include "progressista/task_json.hpp"

namespace progressista::daemon {

namespace {

// Server text goes to a terminal (through printable), a huge body cut to this many characters.
constexpr std::size_t kDetailMax = 2000;

// The `detail` of a {"detail": ...} answer (Progressista's and FastAPI's shape; FastAPI's
// validation errors make it a list, shown as JSON), else the body as it is.
std::string detail_of(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc, detail;
  if (parser.parse(body.data(), body.size()).get(doc) == simdjson::SUCCESS &&
      doc["detail"].get(detail) == simdjson::SUCCESS) {
    std::string_view text;
    if (detail.get(text) == simdjson::SUCCESS) return printable(text, kDetailMax);
    return printable(simdjson::minify(detail), kDetailMax);
  }
  return printable(body, kDetailMax);
}

}  // namespace

void add_client_options(CLI::App& cmd, ClientOptions& options) {
  cmd.add_option("--server-url", options.server_url,
                 "The server: its base URL, or its /progress endpoint as Progressista's "
                 "clients take it; http:// only")
      ->envname("PROGRESSISTA_SERVER_URL")
      ->capture_default_str()
      ->type_name("URL")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            std::string error;
            return parse_http_url(text, error) ? std::string() : error;
          },
          ""));
  cmd.add_option("--token,--api-token", options.token,
                 "API token, sent as `Authorization: Bearer TOKEN`; prefer the variable, since "
                 "a command line is visible to other local users")
      ->envname("PROGRESSISTA_API_TOKEN")
      ->type_name("TOKEN");
  cmd.add_option("--timeout", options.timeout,
                 "Seconds to wait for a connection, and for each answer")
      ->envname("PROGRESSISTA_REQUEST_TIMEOUT")
      ->capture_default_str()
      ->type_name("SECONDS")
      ->check(number_in(0.001, 3600, "seconds"));
  // A parse-complete callback also keeps CLI11 from reading this verb's variables (and
  // refusing their values) when another verb runs: CLI11 2.1 processes the environment of
  // every subcommand that has none.
  cmd.parse_complete_callback([&options] {
    const bool bad = std::any_of(options.token.begin(), options.token.end(),
                                 [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
    if (bad) {
      throw CLI::ValidationError("--token (PROGRESSISTA_API_TOKEN)",
                                 "a token cannot be blank or contain spaces or control characters");
    }
  });
}

Url progress_endpoint(std::string_view server_url) {
  std::string error;
  std::optional<Url> url = parse_http_url(server_url, error);
  if (!url) throw std::invalid_argument(error);
  if (url->path.ends_with('/')) url->path += "progress";
  return *std::move(url);
}

void append_event_json(fmt::memory_buffer& out, const EventFields& e) {
  out.append(std::string_view{"{\"task_id\":"});
  append_json_string(out, e.task_id);
  const auto text = [&](std::string_view key, const std::optional<std::string>& value) {
    if (!value) return;
    fmt::format_to(std::back_inserter(out), ",\"{}\":", key);
    append_json_string(out, *value);
  };
  const auto number = [&](std::string_view key, const std::optional<double>& value) {
    if (!value) return;
    fmt::format_to(std::back_inserter(out), ",\"{}\":", key);
    append_json_number(out, *value);
  };
  text("status", e.status);
  number("n", e.n);
  number("total", e.total);
  number("progress", e.progress);
  text("desc", e.desc);
  text("unit", e.unit);
  text("project", e.project);
  text("phase", e.phase);
  text("message", e.message);
  text("error", e.error);
  if (e.meta) {
    out.append(std::string_view{",\"meta\":"});
    out.append(std::string_view{*e.meta});
  }
  number("timestamp", e.timestamp);
  out.push_back('}');
}

std::optional<std::string> minified_json_object(std::string_view text, std::string& error) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (const auto code = parser.parse(text.data(), text.size()).get(doc)) {
    error = fmt::format("not valid JSON ({})", simdjson::error_message(code));
    return std::nullopt;
  }
  if (!doc.is_object()) {
    error = fmt::format("a JSON object is needed, e.g. '{{\"run\":7}}', not {}",
                        doc.is_array() ? "an array" : "a single value");
    return std::nullopt;
  }
  return simdjson::minify(doc);
}

ProgressClient::ProgressClient(const ClientOptions& options, std::string prefix)
    : http_(progress_endpoint(options.server_url),
            std::chrono::milliseconds(static_cast<std::int64_t>(options.timeout * 1000))),
      prefix_(std::move(prefix)) {
  if (!options.token.empty()) headers_.emplace_back("Authorization", "Bearer " + options.token);
}

ClientExit ProgressClient::send(std::string_view event_json) {
  const HttpResult r = http_.post(event_json, "application/json", headers_);
  switch (r.failure) {
    case HttpResult::Failure::kNone:
      if (r.answer.status >= 200 && r.answer.status < 300) return kSent;
      if (take_report()) report_refusal(r.answer);
      return kRefused;
    case HttpResult::Failure::kUnreachable:
      if (!take_report()) return kNoAnswer;
      fmt::print(stderr,
                 "{}: cannot reach the server at {}: {} (is `progressista ingest` or `serve` "
                 "running there? see --server-url / PROGRESSISTA_SERVER_URL)\n",
                 prefix_, redact_url(endpoint().str()), r.error);
      return kNoAnswer;
    case HttpResult::Failure::kTimeout:
    case HttpResult::Failure::kBroken:
      if (!take_report()) return kNoAnswer;
      fmt::print(stderr, "{}: no answer from {}: {}\n", prefix_, redact_url(endpoint().str()),
                 r.error);
      return kNoAnswer;
  }
  return kNoAnswer;
}

bool ProgressClient::take_report() noexcept {
  const bool first = !reported_;
  reported_ = true;
  return first || !report_once_;
}

void ProgressClient::report_refusal(const HttpAnswer& answer) const {
  std::string line = fmt::format("{}: {} {}", prefix_, answer.status, answer.reason);
  if (!answer.body.empty()) line += ": " + detail_of(answer.body);
  if (answer.status == 401 && headers_.empty()) {
    line += " (no token was sent: set PROGRESSISTA_API_TOKEN or pass --token)";
  }
  if ((answer.status == 404 || answer.status == 405) && !endpoint().path.ends_with("/progress")) {
    line +=
        fmt::format(" (events go to {} as given; a server's base URL ends in '/' or has no path)",
                    redact_url(endpoint().str()));
  }
  fmt::print(stderr, "{}\n", line);
}

}  // namespace progressista::daemon
