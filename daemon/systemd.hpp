// sd_notify for Type=notify units: readiness, watchdog pings, stopping. Each is a no-op
// when the process was not started by systemd (no NOTIFY_SOCKET).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace progressista::daemon {

void notify_ready(std::string_view status);
void notify_stopping();
void notify_watchdog();
// Half of WatchdogSec when the unit set one (ping at least that often), else nullopt.
[[nodiscard]] std::optional<std::chrono::milliseconds> watchdog_ping_interval();

}  // namespace progressista::daemon
