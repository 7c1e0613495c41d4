// The notifier: a thread in each writing process that, while this process holds the janitor
// lease, follows the change feed (failed, closed, ended_early, lost) and scans the table once
// a second (stalled), passes what fired through each matching rule's digest, rate limit and
// quiet hours into the outbox, and delivers the outbox at least once. One process delivers,
// so two daemons never both send.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "notify/rules.hpp"
#include "progressista/store.hpp"

namespace progressista::daemon::notify {

struct NotifierOptions {
  std::string outbox_path;  // empty: in memory only (lost on restart)
  std::size_t outbox_max = 10000;
  StallRule stall;                       // serve's --stalled-factor / --stalled-min-seconds
  std::string project_separators = "/:";  // --project-id-separators
  std::chrono::milliseconds poll{20};     // between two reads of the change feed
  double give_up_seconds = 86400;         // a message failing this long is dropped
  std::chrono::milliseconds timeout{10000};  // one delivery attempt
  // Under federation (--redis) every node applies every transition: only the node that also
  // holds the federation's lease in Redis delivers. Null: the segment's lease alone decides.
  std::function<bool()> federation_lease;
};

class Notifier {
 public:
  Notifier(Store& store, std::vector<Rule> rules, NotifierOptions options);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Loads the outbox (a problem is logged) and starts the thread.
  void start();
  void stop();

 private:
  struct State;
  void loop();
  Store& store_;
  std::unique_ptr<State> state_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace progressista::daemon::notify
