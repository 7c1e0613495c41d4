// Notification delivery latency: from the POST that makes a task fail to the webhook's
// arrival at a receiver on loopback, one transition at a time (digest off, no rate limit),
// through a real `progressista serve`. Prints p50/p90/p99/max over N transitions.
//   notify_bench [N] [--outbox]   (--outbox: the durable outbox file, fsync + rename twice
//                                  a message; without: in memory)
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "progressista/segment.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/wait.hpp"
#include "support/webhook_receiver.hpp"

using namespace progressista::testing;

int main(int argc, char** argv) {
  int n = 500;
  bool durable = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--outbox") == 0) {
      durable = true;
    } else {
      n = std::max(1, std::atoi(argv[i]));
    }
  }
  const std::string segment = fmt::format("notify-bench-{}", ::getpid());
  const std::string rules = fmt::format("/tmp/notify-bench-{}.json", ::getpid());
  const std::string outbox = fmt::format("/tmp/notify-bench-{}.outbox", ::getpid());
  WebhookReceiver receiver;
  std::ofstream(rules) << fmt::format(
      R"({{"rules": [{{"url": "http://127.0.0.1:{}/hook", "transitions": ["failed"]}}]}})",
      receiver.port());
  // The log level stays info: DaemonProcess reads the port from the "listening on" line.
  std::vector<std::string> args{"serve", "--segment", segment, "--notify-file", rules};
  if (durable) {
    args.push_back("--notify-outbox");
    args.push_back(outbox);
  }
  int code = 0;
  {
    DaemonProcess d(args);
    const bool ready = d.running() && eventually([&] {
      return http(d.port(), "GET", "/health").body.find("\"notify\":{\"active\":true") !=
             std::string::npos;
    }, std::chrono::seconds(30));
    if (!ready) {
      fmt::print(stderr, "the daemon did not start delivering:\n{}\n", d.log());
      code = 1;
    } else {
      std::vector<double> ms;
      ms.reserve(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) {
        const auto t0 = std::chrono::system_clock::now();
        const auto r = http(d.port(), "POST", "/progress",
                            fmt::format(R"({{"task_id":"bench-{}","status":"error"}})", i));
        if (r.status != 200) {
          fmt::print(stderr, "POST answered {}\n", r.status);
          code = 1;
          break;
        }
        if (!eventually([&] { return receiver.count() >= static_cast<std::size_t>(i + 1); },
                        std::chrono::seconds(30))) {
          fmt::print(stderr, "transition {} never arrived\n", i);
          code = 1;
          break;
        }
        const auto at = receiver.requests()[static_cast<std::size_t>(i)].at;
        ms.push_back(std::chrono::duration<double, std::milli>(at - t0).count());
      }
      if (!ms.empty()) {
        std::sort(ms.begin(), ms.end());
        const auto pct = [&](double p) {
          return ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * static_cast<double>(ms.size())))];
        };
        fmt::print("notify latency, POST -> receipt, {} transitions, outbox {}: p50 {:.1f} ms, "
                   "p90 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms\n",
                   ms.size(), durable ? "file (fsync)" : "memory", pct(0.50), pct(0.90),
                   pct(0.99), ms.back());
      }
    }
  }
  progressista::Segment::remove(segment);
  std::filesystem::remove(rules);
  std::filesystem::remove(outbox);
  return code;
}
