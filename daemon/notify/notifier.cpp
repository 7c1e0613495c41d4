#include "notify/notifier.hpp"

#include <unistd.h>

#include <map>
#include <optional>
#include <random>

#include "log.hpp"
#include "notify/digest.hpp"
#include "notify/message.hpp"
#include "notify/notify_status.hpp"
#include "notify/outbox.hpp"
#include "notify/transitions.hpp"
#include "notify/webhook_client.hpp"
#include "progressista/change_feed.hpp"

namespace progressista::daemon::notify {

namespace {
constexpr std::size_t kDeliveriesPerRound = 64;  // then detection runs again
}  // namespace

struct Notifier::State {
  State(std::vector<Rule> r, NotifierOptions o)
      : rules(std::move(r)), opt(std::move(o)), outbox(opt.outbox_path, opt.outbox_max) {
    for (const Rule& rule : rules) queues.emplace_back(rule);
    targets.resize(rules.size());
    for (std::size_t i = 0; i < rules.size(); ++i) {
      targets[i].name = rules[i].name;
      targets[i].kind = std::string(target_kind_name(rules[i].kind));
      targets[i].host = rules[i].url.host;
      by_name[rules[i].name] = i;
    }
    for (const Rule& rule : rules) wants_stalled = wants_stalled || rule.wants(Transition::kStalled);
  }

  std::vector<Rule> rules;
  NotifierOptions opt;
  Outbox outbox;
  std::vector<RuleQueue> queues;
  std::vector<TargetStatus> targets;
  std::map<std::string, std::size_t, std::less<>> by_name;
  bool wants_stalled = false;

  TransitionDetector detector;
  std::optional<FeedReader> reader;
  std::vector<Change> changes;
  std::vector<Fired> fired;
  bool active = false;
  std::uint64_t generation = 0;
  double next_stall_scan = 0;
  std::mt19937_64 rng{std::random_device{}()};

  TargetStatus* target(std::string_view name) {
    const auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : &targets[it->second];
  }
};

Notifier::Notifier(Store& store, std::vector<Rule> rules, NotifierOptions options)
    : store_(store), state_(std::make_unique<State>(std::move(rules), std::move(options))) {}

Notifier::~Notifier() {
  stop();
}

void Notifier::start() {
  if (thread_.joinable()) return;
  State& s = *state_;
  if (s.outbox.durable()) {
    log(Level::kInfo, "notify: {} rule(s); outbox {} (read when this process takes the janitor "
        "lease)", s.rules.size(), s.outbox.path());
  } else {
    log(Level::kInfo,
        "notify: {} rule(s); the outbox is in memory only (no --notify-outbox nor "
        "--storage-path): messages waiting at a restart are lost",
        s.rules.size());
  }
  thread_ = std::thread([this] { loop(); });
}

void Notifier::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Notifier::loop() {
  State& s = *state_;
  const pid_t self = ::getpid();
  const auto publish = [&] {
    NotifyStatus st;
    st.active = s.active;
    st.durable = s.outbox.durable();
    st.outbox_size = s.outbox.size();
    st.targets = s.targets;
    for (TargetStatus& t : st.targets) t.retrying = t.waiting = 0;
    for (const Message& m : s.outbox.messages()) {
      if (const auto it = s.by_name.find(m.rule); it != s.by_name.end()) {
        ++st.targets[it->second].waiting;
        if (m.attempts > 0) ++st.targets[it->second].retrying;
      }
    }
    for (std::size_t i = 0; i < s.queues.size(); ++i) st.targets[i].dropped += s.queues[i].dropped();
    publish_status(std::move(st));
  };
  // Only the holder writes the file: processes of one segment may share its path (two
  // ingest daemons with one environment file), and the holder's copy is the current one.
  const auto save = [&] {
    if (!s.active) return;
    try {
      s.outbox.save();
    } catch (const std::exception& e) {
      static LogLimiter limiter;
      if (limiter.admit() >= 0) log(Level::kWarn, "notify: {}", e.what());
    }
  };
  publish();
  const auto holds_lease = [&] {
    return store_.janitor().holder() == static_cast<std::uint32_t>(self) &&
           (!s.opt.federation_lease || s.opt.federation_lease());
  };

  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, s.opt.poll);
    if (stop_) break;
    lock.unlock();
    if (!holds_lease()) {
      if (s.active) log(Level::kInfo, "notify: the janitor lease went elsewhere; not delivering");
      s.active = false;
      publish();
      lock.lock();
      continue;
    }
    double now = now_seconds();
    // Begin (again): what the table holds now is known, not news.
    if (!s.active || s.generation != store_.segment().generation()) {
      s.generation = store_.segment().generation();
      s.reader.emplace(store_.feed());
      (void)s.reader->start_snapshot();
      s.detector.clear();
      store_.table().for_each([&](const TaskRecord& t) { s.detector.seed(t, now, s.opt.stall); });
      s.next_stall_scan = now + 1;
      if (!s.active) {
        // The file as the last holder left it (possibly another process, sharing the path).
        if (const std::string problem = s.outbox.load(); !problem.empty())
          log(Level::kWarn, "notify: {}", problem);
        log(Level::kInfo,
            "notify: delivering (this process holds the janitor lease; {} tasks known, {} "
            "message(s) waiting)",
            s.detector.size(), s.outbox.size());
      }
      s.active = true;
    }

    // Detect.
    s.fired.clear();
    s.changes.clear();
    TaskRecord rec;
    if (s.reader->poll(s.changes) == FeedReader::Poll::kLapped) {
      (void)s.reader->start_snapshot();
      store_.table().for_each([&](const TaskRecord& t) { s.detector.observe(t, s.fired); });
    } else {
      for (const Change& c : s.changes) {
        if (c.removed) {
          s.detector.removed(c.task_id.view());
        } else if (store_.table().read(c.slot, rec)) {
          s.detector.observe(rec, s.fired);
        }
      }
    }
    if (s.wants_stalled && now >= s.next_stall_scan) {
      s.next_stall_scan = now + 1;
      store_.table().for_each(
          [&](const TaskRecord& t) { s.detector.check_stalled(t, now, s.opt.stall, s.fired); });
    }
    for (const Fired& f : s.fired) {
      const std::string project = task_project(f.task, s.opt.project_separators);
      for (std::size_t i = 0; i < s.rules.size(); ++i)
        if (s.rules[i].matches(f.task.task_id.view(), project, f.transition)) s.queues[i].add(f, now);
    }

    // Queue what the rules may send now.
    std::string dropped;
    for (std::size_t i = 0; i < s.rules.size(); ++i) {
      for (const auto& items : s.queues[i].take(now)) {
        s.outbox.push(compose(s.rules[i], items, now, s.opt.project_separators), dropped);
        if (!dropped.empty()) {
          if (TargetStatus* t = s.target(dropped)) ++t->dropped;
          static LogLimiter limiter;
          if (limiter.admit() >= 0)
            log(Level::kWarn, "notify: the outbox is full ({}); the oldest message was dropped",
                s.opt.outbox_max);
        }
      }
    }
    save();

    // Deliver what is due, a bounded number a round.
    for (std::size_t round = 0; round < kDeliveriesPerRound; ++round) {
      {
        std::lock_guard check(mu_);
        if (stop_) break;
      }
      // A holder that stalled past its lease has a successor, which read the outbox file:
      // stop before sending what the successor sends too.
      if (!holds_lease()) break;
      now = now_seconds();
      Message* m = s.outbox.due(now);
      if (m == nullptr) break;
      const std::uint64_t id = m->id;
      const auto it = s.by_name.find(m->rule);
      if (it == s.by_name.end()) {
        log(Level::kWarn, "notify: a message for rule '{}', which the rules no longer have, was dropped",
            m->rule);
        s.outbox.remove(id);
        save();
        continue;
      }
      const Rule& rule = s.rules[it->second];
      TargetStatus& target = s.targets[it->second];
      if (now - m->created > s.opt.give_up_seconds) {
        log(Level::kWarn, "notify: rule '{}': message {} dropped after {} failed attempts over {:.0f} s",
            rule.name, m->key, m->attempts, now - m->created);
        ++target.dropped;
        s.outbox.remove(id);
        save();
        continue;
      }
      Headers headers;
      headers.emplace_back("Content-Type", std::string(content_type(rule.kind)));
      headers.emplace_back("Idempotency-Key", m->key);
      if (!m->title.empty()) headers.emplace_back("Title", m->title);
      if (!rule.secret.empty()) headers.emplace_back("X-Progressista-Signature", signature(rule.secret, m->body));
      const PostResult r = post_message(rule.url, rule.ca_file, headers, m->body, s.opt.timeout);
      now = now_seconds();
      m = s.outbox.find(id);
      if (m == nullptr) continue;
      if (r.acknowledged()) {
        ++target.sent;
        s.outbox.remove(id);
        save();  // before anything else: an acknowledged message must not come back
        continue;
      }
      ++target.failed;
      target.last_error = r.error;
      target.last_error_at = now;
      s.outbox.retry_later(*m, now, std::uniform_real_distribution<double>(0, 1)(s.rng));
      // The host only: a Slack or ntfy URL's path is its secret.
      log(Level::kWarn, "notify: rule '{}' ({} at {}): {}; attempt {}, next in {:.1f} s", rule.name,
          target_kind_name(rule.kind), rule.url.host, r.error, m->attempts,
          m->next_attempt - now);
      save();
    }
    publish();
    lock.lock();
  }
  save();
}

}  // namespace progressista::daemon::notify
