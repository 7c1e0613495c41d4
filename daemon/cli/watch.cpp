// `progressista watch`: follows a server's delta stream over SSE (/events, resumed with
// Last-Event-ID after a drop) and redraws the board (watch_board.hpp) in the terminal's
// alternate screen, at most ten times a second and at least once a second for the clocks.
// Everything runs on one Asio thread: the stream, the redraw timer and the signals
// (Ctrl-C and SIGTERM end it, SIGWINCH redraws at the new size).
#include "cli/watch.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "cli/http_client.hpp"
#include "cli/progress_client.hpp"
#include "cli/sse_stream.hpp"
#include "cli/terminal_text.hpp"
#include "cli/watch_board.hpp"

namespace progressista::daemon {

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct WatchOptions {
  ClientOptions client;
  std::string project, prefix;
  std::vector<std::string> statuses;
  bool once = false;
  bool ascii = false;
  bool no_color = false;
};

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The stream of the server `server_url` names (its base URL, or its /progress endpoint).
Url events_url(std::string_view server_url, const std::string& prefix) {
  std::string error;
  std::optional<Url> url = parse_http_url(server_url, error);
  if (!url) throw std::invalid_argument(error);
  if (url->path.ends_with("/progress")) url->path.resize(url->path.size() - 8);
  if (!url->path.ends_with('/')) url->path += '/';
  url->path += "events";
  url->query.clear();
  if (!prefix.empty()) {
    url->query = "prefix=";
    for (const unsigned char c : prefix) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
        url->query.push_back(static_cast<char>(c));
      else
        url->query += fmt::format("%{:02X}", c);
    }
  }
  return *std::move(url);
}

void terminal_size(WatchLook& look) {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
    look.width = ws.ws_col;
    look.height = ws.ws_row;
  }
}

class Watcher {
 public:
  Watcher(asio::io_context& io, const WatchOptions& o, Url url, WatchFilter filter)
      : io_(io), o_(o), url_(std::move(url)), board_(std::move(filter)), redraw_(io),
        signals_(io, SIGINT, SIGTERM), resize_(io, SIGWINCH) {
    tty_ = ::isatty(STDOUT_FILENO) != 0 && !o.once;
    look_.server = url_.str();
    look_.ascii = o.ascii;
    look_.color = tty_ && !o.no_color && std::getenv("NO_COLOR") == nullptr;
    look_.state = "connecting\u2026";
    if (tty_) terminal_size(look_);
    if (!o.client.token.empty()) headers_.emplace_back("Authorization", "Bearer " + o.client.token);
  }

  int run() {
    if (tty_) {
      std::fputs("\x1b[?1049h\x1b[?25l", stdout);  // the alternate screen, no cursor
      std::fflush(stdout);
    }
    signals_.async_wait([this](const boost::system::error_code& ec, int) {
      if (!ec) finish(0);
    });
    watch_resize();
    fetch_rule();
    asio::co_spawn(io_, follow(), asio::detached);
    if (tty_) tick();
    io_.run();
    if (tty_) {
      std::fputs("\x1b[?25h\x1b[?1049l", stdout);  // the screen as it was
      std::fflush(stdout);
    }
    if (!message_.empty()) std::fprintf(stderr, "progressista watch: %s\n", message_.c_str());
    return code_;
  }

 private:
  // The server's stalled rule (GET /summary's stalled_rule), so that this board flags the
  // tasks the server's API does. Best effort, once: an older server, a broadcaster without
  // /summary or no answer within 2 s leave the default rule.
  void fetch_rule() {
    Url summary = url_;
    summary.path = summary.path.substr(0, summary.path.rfind('/') + 1) + "summary";
    summary.query.clear();
    HttpClient client(summary, 2s);
    const HttpResult r = client.get(headers_);
    if (r.failure != HttpResult::Failure::kNone || r.answer.status != 200) return;
    simdjson::dom::parser parser;
    simdjson::dom::object rule;
    double factor = 0, min_seconds = 0;
    if (parser.parse(r.answer.body).get(rule) == simdjson::SUCCESS &&
        rule["stalled_rule"]["factor"].get(factor) == simdjson::SUCCESS &&
        rule["stalled_rule"]["min_seconds"].get(min_seconds) == simdjson::SUCCESS) {
      board_.set_rule(StallRule{factor, min_seconds});
    }
  }

  void finish(int code, std::string message = {}) {
    code_ = code;
    message_ = std::move(message);
    io_.stop();
  }

  void watch_resize() {
    resize_.async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      terminal_size(look_);
      std::fputs("\x1b[2J", stdout);  // nothing left over from the old size
      draw();
      watch_resize();
    });
  }

  // Redraws when something changed, at most every 100 ms, and every second for the clocks.
  void tick() {
    redraw_.expires_after(100ms);
    redraw_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      if (dirty_ || std::chrono::steady_clock::now() - drawn_ >= 1s) draw();
      tick();
    });
  }

  void draw() {
    dirty_ = false;
    drawn_ = std::chrono::steady_clock::now();
    // Over the old picture from the top left, each line cleared to its end, then the rest of
    // the screen: nothing blinks. No newline after the last line, so nothing scrolls.
    std::string out = "\x1b[H";
    const std::vector<std::string> lines = board_.render(look_, now_seconds());
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) out += "\r\n";
      out += lines[i];
      out += "\x1b[K";
    }
    out += "\x1b[J";
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
  }

  // Prints the board once, for --once or when stdout is not a terminal.
  void print_once() {
    WatchLook look = look_;
    look.state = "snapshot";
    const char* cols = std::getenv("COLUMNS");
    const int columns_env = cols != nullptr ? std::atoi(cols) : 0;
    if (::isatty(STDOUT_FILENO)) {
      terminal_size(look);
    } else {
      look.width = columns_env > 0 ? static_cast<std::size_t>(columns_env) : 120;
    }
    look.height = static_cast<std::size_t>(-1);  // every task
    for (const std::string& line : board_.render(look, now_seconds())) std::puts(line.c_str());
    std::fflush(stdout);
  }

  asio::awaitable<void> follow() {
    auto delay = 1s;
    std::string last_id;
    for (;;) {
      HttpHeaders headers = headers_;
      if (!last_id.empty()) headers.emplace_back("Last-Event-ID", last_id);
      bool got_frame = false;
      const auto timeout = std::chrono::milliseconds(static_cast<long long>(o_.client.timeout * 1000));
      const SseEnd end = co_await stream_sse(
          url_, headers, timeout, 90s, [&](const SseEvent& ev) {
            std::string error;
            if (!board_.apply(ev.data, error)) return;  // e.g. an {"type":"error"} notice
            last_id = ev.id;
            got_frame = true;
            look_.state = "live";
            dirty_ = true;
            if (!tty_) {
              print_once();
              finish(0);
            }
          });
      if (!tty_ && got_frame) co_return;
      if (end.status != 0 && end.status != 200) {
        const std::string detail = printable(end.body.substr(0, 400), 400);
        finish(kRefused, fmt::format("{} answered {}{}{}", url_.str(), end.status,
                                     detail.empty() ? "" : ": ", detail));
        co_return;
      }
      if (!tty_) {
        finish(end.status == 0 ? kNoAnswer : kRefused, end.error);
        co_return;
      }
      if (got_frame) delay = 1s;
      look_.state = fmt::format("reconnecting in {} s: {}", delay.count(), end.error);
      draw();
      asio::steady_timer wait(io_, delay);
      co_await wait.async_wait(asio::use_awaitable);
      delay = std::min(delay * 2, std::chrono::seconds(10));
      look_.state = "connecting\u2026";
      dirty_ = true;
    }
  }

  asio::io_context& io_;
  const WatchOptions& o_;
  Url url_;
  WatchBoard board_;
  WatchLook look_;
  HttpHeaders headers_;
  asio::steady_timer redraw_;
  asio::signal_set signals_, resize_;
  bool tty_ = false;
  bool dirty_ = true;
  std::chrono::steady_clock::time_point drawn_{};
  int code_ = 0;
  std::string message_;
};

}  // namespace

void add_watch_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "watch",
      "Watch a server's tasks in this terminal: tqdm-style lines, failures first, live until "
      "Ctrl-C");
  auto o = std::make_shared<WatchOptions>();
  cmd->footer(
      "Follows the server's /events stream (read tokens as for the read API) and resumes it "
      "after a drop. Without a terminal, or with --once, prints the board once and exits.\n"
      "Exit codes: 0 ended by Ctrl-C (or printed once); 1 the server refused (its status and "
      "detail on stderr); 2 with --once, no answer.");
  cmd->add_option("--project", o->project,
                  "Only this project's tasks (the task's project, else its meta.project)")
      ->type_name("NAME");
  cmd->add_option("--prefix", o->prefix, "Only tasks whose id starts with this")->type_name("TEXT");
  cmd->add_option("--status", o->statuses,
                  "Only these: running, failed, stalled, stale, done (repeat or separate with "
                  "commas)")
      ->delimiter(',')
      ->type_name("STATUS")
      ->check(CLI::Validator(
          [](std::string& w) -> std::string {
            return parse_group(w) ? std::string()
                                  : "must be running, failed, stalled, stale or done; got '" + w + "'";
          },
          ""));
  cmd->add_flag("--once", o->once, "Print the board once and exit");
  cmd->add_flag("--ascii", o->ascii, "Bars of '#' instead of Unicode blocks");
  cmd->add_flag("--no-color", o->no_color, "No colours (also when NO_COLOR is set)");
  add_client_options(*cmd, o->client);
  cmd->callback([o] {
    WatchFilter filter;
    filter.project = o->project;
    filter.prefix = o->prefix;
    for (const std::string& s : o->statuses) filter.groups.push_back(*parse_group(s));
    asio::io_context io;
    Watcher watcher(io, *o, events_url(o->client.server_url, o->prefix), std::move(filter));
    if (const int code = watcher.run(); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace progressista::daemon
