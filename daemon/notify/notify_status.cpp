#include "notify/notify_status.hpp"

#include <mutex>

#include "progressista/task_json.hpp"

namespace progressista::daemon::notify {

namespace {
std::mutex g_mutex;
std::optional<NotifyStatus> g_status;

void label(fmt::memory_buffer& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out.append(std::string_view{"\\n"});
      continue;
    }
    out.push_back(c);
  }
}
}  // namespace

void publish_status(NotifyStatus status) {
  std::lock_guard lock(g_mutex);
  g_status = std::move(status);
}

std::optional<NotifyStatus> current_status() {
  std::lock_guard lock(g_mutex);
  return g_status;
}

void append_health(fmt::memory_buffer& out) {
  const auto s = current_status();
  if (!s) return;
  fmt::format_to(std::back_inserter(out),
                 ",\"notify\":{{\"active\":{},\"outbox\":\"{}\",\"outbox_size\":{},\"targets\":[",
                 s->active, s->durable ? "file" : "memory", s->outbox_size);
  bool first = true;
  for (const TargetStatus& t : s->targets) {
    if (!first) out.push_back(',');
    first = false;
    out.append(std::string_view{"{\"name\":"});
    append_json_string(out, t.name);
    out.append(std::string_view{",\"type\":"});
    append_json_string(out, t.kind);
    out.append(std::string_view{",\"host\":"});
    append_json_string(out, t.host);
    fmt::format_to(std::back_inserter(out),
                   ",\"sent\":{},\"failed\":{},\"retrying\":{},\"dropped\":{},\"waiting\":{},"
                   "\"last_error\":",
                   t.sent, t.failed, t.retrying, t.dropped, t.waiting);
    if (t.last_error.empty()) {
      out.append(std::string_view{"null"});
    } else {
      append_json_string(out, t.last_error);
      out.append(std::string_view{",\"last_error_at\":"});
      append_json_number(out, t.last_error_at);
    }
    out.push_back('}');
  }
  out.append(std::string_view{"]}"});
}

void append_metrics(fmt::memory_buffer& out) {
  const auto s = current_status();
  if (!s) return;
  const auto family = [&](std::string_view name, std::string_view type, std::string_view help,
                          auto value) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    for (const TargetStatus& t : s->targets) {
      fmt::format_to(std::back_inserter(out), "{}{{target=\"", name);
      label(out, t.name);
      fmt::format_to(std::back_inserter(out), "\"}} {}\n", value(t));
    }
  };
  family("progressista_notify_sent_total", "counter",
         "Notifications acknowledged (2xx) by the target",
         [](const TargetStatus& t) { return t.sent; });
  family("progressista_notify_failed_total", "counter",
         "Delivery attempts that failed (an error, or an answer other than 2xx)",
         [](const TargetStatus& t) { return t.failed; });
  family("progressista_notify_dropped_total", "counter",
         "Notifications given up: retried for 24 h, pushed out of a full outbox, or over a "
         "digest's bound",
         [](const TargetStatus& t) { return t.dropped; });
  family("progressista_notify_retrying", "gauge",
         "Notifications in the outbox that failed at least once",
         [](const TargetStatus& t) { return t.retrying; });
  fmt::format_to(std::back_inserter(out),
                 "# HELP progressista_notify_outbox_size Notifications waiting in the outbox\n"
                 "# TYPE progressista_notify_outbox_size gauge\nprogressista_notify_outbox_size {}\n"
                 "# HELP progressista_notify_active 1 when this process delivers notifications "
                 "(it holds the janitor lease)\n# TYPE progressista_notify_active gauge\n"
                 "progressista_notify_active {}\n",
                 s->outbox_size, s->active ? 1 : 0);
}

}  // namespace progressista::daemon::notify
