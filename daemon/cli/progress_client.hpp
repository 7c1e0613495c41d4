// What `post` and `demo` share as clients of a server's write API: the --server-url, --token
// and --timeout options, the event's JSON, and one place that sends an event and says what
// went wrong.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "cli/http_client.hpp"

namespace CLI {
class App;
}

namespace progressista::daemon {

// Exit codes of the client verbs (documented in their --help).
enum ClientExit : int {
  kSent = 0,      // the server accepted every event (2xx)
  kRefused = 1,   // the server answered with an error status (its detail is printed)
  kNoAnswer = 2,  // no HTTP answer: not resolved, refused, timed out or connection lost
};

struct ClientOptions {
  std::string server_url = "http://127.0.0.1:8000";
  std::string token;
  double timeout = 10.0;
};

// Registers --server-url (PROGRESSISTA_SERVER_URL), --token/--api-token
// (PROGRESSISTA_API_TOKEN) and --timeout (PROGRESSISTA_REQUEST_TIMEOUT) on `cmd`; the URL is
// checked while parsing, so a bad one is a usage error before anything is sent.
void add_client_options(CLI::App& cmd, ClientOptions& options);

// The URL events are POSTed to. Progressista's clients take the endpoint itself
// (http://localhost:8000/progress); a URL whose path is empty or ends in '/' names the server
// and gets "progress" appended. Throws std::invalid_argument for a URL parse_http_url refuses.
[[nodiscard]] Url progress_endpoint(std::string_view server_url);

// One event; fields left empty are left out of the JSON, so the task keeps their old values.
struct EventFields {
  std::string task_id;
  std::optional<std::string> status, desc, unit, project, phase, message, error;
  std::optional<std::string> meta;  // the text of a JSON object, already checked
  std::optional<double> n, total, progress, timestamp;
};

void append_event_json(fmt::memory_buffer& out, const EventFields& event);

// "{\"k\":1}" for a JSON object however it is spaced; nullopt and a reason for anything else.
[[nodiscard]] std::optional<std::string> minified_json_object(std::string_view text,
                                                              std::string& error);

// Sends events over one kept-alive connection and reports failures on stderr, each line
// starting with `prefix` (e.g. "progressista post").
class ProgressClient {
 public:
  ProgressClient(const ClientOptions& options, std::string prefix);

  // Posts one event (its JSON text); kSent on a 2xx answer, else the exit code to use, the
  // reason having been printed.
  [[nodiscard]] ClientExit send(std::string_view event_json);

  [[nodiscard]] const Url& endpoint() const noexcept { return http_.url(); }

  // For verbs that keep working without the server and retry quietly (`pipe`, `run`): only
  // the first failure is reported on stderr, later ones are not.
  void report_first_failure_only() noexcept { report_once_ = true; }
  [[nodiscard]] bool failure_reported() const noexcept { return reported_; }

 private:
  // Whether this failure is to be reported (marks it so).
  bool take_report() noexcept;
  void report_refusal(const HttpAnswer& answer) const;

  HttpClient http_;
  HttpHeaders headers_;
  std::string prefix_;
  bool report_once_ = false;
  bool reported_ = false;
};

}  // namespace progressista::daemon
