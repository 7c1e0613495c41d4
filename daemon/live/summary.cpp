#include "live/summary.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <optional>

#include <simdjson.h>

#include "http/health.hpp"
#include "live/read_api.hpp"  // append_iso8601
#include "progressista/task.hpp"
#include "progressista/task_json.hpp"

namespace progressista::daemon {

namespace {

// Rates over less time than this would be noise (one event in 5 ms is not 200 a second).
constexpr double kMinRateWindow = 1.0;
// An operator's summary needs no fresher than this, whatever --tick the live frames use.
constexpr std::chrono::microseconds kMinMaxAge{100'000};

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double round3(double v) {
  return std::round(v * 1000.0) / 1000.0;
}

void append_time_or_null(fmt::memory_buffer& out, double seconds) {
  out.push_back('"');
  if (seconds >= 0 && append_iso8601(out, seconds)) {
    out.push_back('"');
  } else {
    out.resize(out.size() - 1);
    out.append(std::string_view{"null"});
  }
}

// {"total":N,"start":..,"update":..,"close":..,"error":..,"stale":..,"recovered":..,
//  "stalled":..,"acknowledged":..}: the statuses, then two flags over them (stalled among the
// running ones, acknowledged among the failed ones).
void append_by_status(fmt::memory_buffer& out, std::uint64_t total,
                      const std::array<std::uint64_t, kStatusCount>& by_status,
                      std::uint64_t stalled, std::uint64_t acknowledged) {
  fmt::format_to(std::back_inserter(out), "{{\"total\":{}", total);
  for (int i = 0; i < kStatusCount; ++i) {
    fmt::format_to(std::back_inserter(out), ",\"{}\":{}", status_name(static_cast<Status>(i)),
                   by_status[static_cast<std::size_t>(i)]);
  }
  fmt::format_to(std::back_inserter(out), ",\"stalled\":{},\"acknowledged\":{}}}", stalled,
                 acknowledged);
}

bool went_back(const CounterSample& from, const CounterSample& to) {
  return to.generation != from.generation || to.events < from.events || to.closed < from.closed ||
         to.failed < from.failed;
}

}  // namespace

// ---- SampleRing ----

const CounterSample& SampleRing::at(std::size_t i) const noexcept {
  return ring_[(next_ + kSize - count_ + i) % kSize];
}

void SampleRing::push(const CounterSample& s) noexcept {
  if (count_ > 0 && went_back(at(count_ - 1), s)) count_ = 0;
  ring_[next_] = s;
  next_ = (next_ + 1) % kSize;
  if (count_ < kSize) ++count_;
}

CounterWindow SampleRing::window(const CounterSample& now, double seconds) const noexcept {
  if (count_ == 0) return {};
  const CounterSample* from = &at(0);
  for (std::size_t i = count_; i-- > 0;) {
    if (now.at - at(i).at >= seconds) {
      from = &at(i);
      break;
    }
  }
  if (from->at > now.at || went_back(*from, now)) return {};
  return {now.at - from->at, now.events - from->events, now.closed - from->closed,
          now.failed - from->failed};
}

// ---- HistoryRing ----

const CounterSample& HistoryRing::at(std::size_t i) const noexcept {
  return ring_[(next_ + ring_.size() - count_ + i) % ring_.size()];
}

void HistoryRing::push(const CounterSample& s) noexcept {
  if (count_ > 0) {
    const CounterSample& last = at(count_ - 1);
    if (went_back(last, s)) {
      count_ = 0;
    } else if (s.at - last.at < kStep) {
      return;
    }
  }
  ring_[next_] = s;
  next_ = (next_ + 1) % ring_.size();
  if (count_ < ring_.size()) ++count_;
}

std::vector<CounterWindow> HistoryRing::buckets(const CounterSample& now) const {
  std::vector<CounterWindow> out;
  if (count_ == 0) return out;
  const auto between = [](const CounterSample& a, const CounterSample& b) {
    return CounterWindow{b.at - a.at, b.events - a.events, b.closed - a.closed, b.failed - a.failed};
  };
  for (std::size_t i = 1; i < count_; ++i) out.push_back(between(at(i - 1), at(i)));
  const CounterSample& last = at(count_ - 1);
  if (!went_back(last, now) && now.at - last.at >= kMinRateWindow) {
    out.push_back(between(last, now));
  }
  if (out.size() > kPoints) out.erase(out.begin(), out.end() - kPoints);
  return out;
}

// ---- Summary ----

Summary::Summary(const Store& store, std::chrono::microseconds max_age, BoardRules rules)
    : store_(store),
      max_age_(std::max(max_age, kMinMaxAge)),
      rules_(std::move(rules)),
      parser_(std::make_unique<simdjson::dom::parser>()) {
  // Sized once for the largest meta: the pass allocates nothing per task.
  meta_.reserve(limits::kMeta + simdjson::SIMDJSON_PADDING);
  // Should it fail, the first parse allocates instead.
  [[maybe_unused]] const simdjson::error_code sized =
      parser_->allocate(limits::kMeta + simdjson::SIMDJSON_PADDING);
  const CounterSample first = read_counters();
  samples_.push(first);
  history_.push(first);
}

Summary::~Summary() = default;

CounterSample Summary::read_counters() const {
  const Counters& c = store_.counters();
  CounterSample s;
  s.at = steady_seconds();
  s.generation = store_.segment().generation();
  s.events = c.get(Counter::kEventsApplied) + c.get(Counter::kEventsIgnoredOutOfOrder) +
             c.get(Counter::kEventsIgnoredClosed);
  s.closed = c.get(Counter::kTasksClosed);
  s.failed = c.get(Counter::kTasksFailed);
  return s;
}

void Summary::sample() {
  std::lock_guard lock(samples_mutex_);
  const CounterSample s = read_counters();
  samples_.push(s);
  history_.push(s);
}

std::shared_ptr<const std::string> Summary::current() {
  const auto fresh = [this]() -> std::shared_ptr<const std::string> {
    std::lock_guard lock(cache_mutex_);
    if (cached_ && std::chrono::steady_clock::now() - cached_at_ < max_age_) return cached_;
    return nullptr;
  };
  if (auto body = fresh()) return body;
  std::lock_guard computing(compute_mutex_);
  if (auto body = fresh()) return body;  // another thread computed it while this one waited
  auto body = std::make_shared<const std::string>(compute(nullptr));
  std::lock_guard lock(cache_mutex_);
  cached_ = body;
  cached_at_ = std::chrono::steady_clock::now();
  return body;
}

std::string Summary::scoped(const ShareScope& scope) {
  std::lock_guard computing(compute_mutex_);
  return compute(&scope);
}

bool Summary::meta_project(const TaskRecord& t, std::string_view& project) {
  if (!t.has(kHasMeta)) return false;
  const std::string_view meta = t.meta.view();
  // Most metas name no project: skip the parse for them.
  if (meta.find("project") == std::string_view::npos) return false;
  meta_.assign(meta);  // capacity reserved for the largest meta plus the padding
  simdjson::dom::object object;
  return parser_->parse(meta_).get(object) == simdjson::SUCCESS &&
         object["project"].get(project) == simdjson::SUCCESS;
}

void Summary::count(Tally& tally, const TaskRecord& t, double now) const {
  ++tally.tasks;
  const auto i = static_cast<std::size_t>(t.status);
  if (i < tally.by_status.size()) ++tally.by_status[i];
  const bool stalled = is_stalled(t, now, rules_.stall);
  if (stalled) ++tally.stalled;
  if (t.status == Status::kError && t.has(kHasAcknowledged)) ++tally.acknowledged;
  if (t.status == Status::kError) {
    tally.last_failure = std::max(tally.last_failure, t.has(kHasDoneAt) ? t.done_at : t.updated_at);
  }
  if (!t.has(kHasTotal) || !std::isfinite(t.total) || t.total <= 0) return;
  const bool has_unit = t.has(kHasUnit);
  const std::string_view unit = has_unit ? t.unit.view() : std::string_view{};
  if (tally.with_total == 0) {
    tally.has_unit = has_unit;
    tally.unit.assign(unit);
  } else if (!tally.units_differ && (has_unit != tally.has_unit || unit != tally.unit)) {
    tally.units_differ = true;
    tally.other_has_unit = has_unit;
    tally.other_unit.assign(unit);
  }
  ++tally.with_total;
  tally.total += t.total;
  const double n = std::isfinite(t.n) ? std::clamp(t.n, 0.0, t.total) : 0.0;
  tally.n += n;
  // The throughput and what is left of the tasks still running (a failed, stale or stalled
  // task's units will not come at its last rate).
  if (t.status == Status::kStart || t.status == Status::kUpdate || t.status == Status::kRecovered) {
    tally.remaining += t.total - n;
    if (t.has(kHasRate) && std::isfinite(t.rate) && t.rate > 0 && !stalled) tally.rate += t.rate;
  }
}

void Summary::append_tally(const Tally& t) {
  fmt::memory_buffer& out = out_;
  out.append(std::string_view{"{\"tasks\":"});
  append_by_status(out, t.tasks, t.by_status, t.stalled, t.acknowledged);
  const std::uint64_t done = t.by_status[static_cast<std::size_t>(Status::kClose)];
  fmt::format_to(std::back_inserter(out),
                 ",\"by_tasks\":{{\"done\":{},\"total\":{},\"fraction\":", done, t.tasks);
  append_json_number(out, t.tasks > 0 ? round3(static_cast<double>(done) / t.tasks) : NAN);
  out.append(std::string_view{"},\"by_units\":"});
  if (t.with_total == 0 || t.units_differ) {
    out.append(std::string_view{"null,\"by_units_reason\":"});
    if (t.with_total == 0) {
      append_json_string(out, "no task has a total");
    } else {
      const auto name = [](bool has, const std::string& unit) {
        return has ? fmt::format("'{}'", unit) : std::string("none");
      };
      append_json_string(
          out, fmt::format("tasks with a total disagree on the unit: {} and {}",
                           name(t.has_unit, t.unit), name(t.other_has_unit, t.other_unit)));
    }
  } else {
    out.append(std::string_view{"{\"unit\":"});
    if (t.has_unit) {
      append_json_string(out, t.unit);
    } else {
      out.append(std::string_view{"null"});
    }
    fmt::format_to(std::back_inserter(out), ",\"tasks\":{},\"n\":", t.with_total);
    append_json_number(out, t.n);
    out.append(std::string_view{",\"total\":"});
    append_json_number(out, t.total);
    out.append(std::string_view{",\"fraction\":"});
    append_json_number(out, round3(t.n / t.total));
    // Units a second of the running tasks, and the time their remaining units take at it.
    out.append(std::string_view{",\"rate\":"});
    append_json_number(out, round3(t.rate));
    out.append(std::string_view{",\"remaining\":"});
    append_json_number(out, t.remaining);
    out.append(std::string_view{",\"eta\":"});
    append_json_number(out, t.rate > 0 ? round3(t.remaining / t.rate) : NAN);
    out.append(std::string_view{"},\"by_units_reason\":null"});
  }
  out.append(std::string_view{",\"last_failure\":"});
  append_time_or_null(out, t.last_failure);
  out.push_back('}');
}

void Summary::append_window(const CounterWindow& w, bool per_minute) {
  fmt::memory_buffer& out = out_;
  const bool known = w.seconds >= kMinRateWindow;
  const auto rate = [&](std::uint64_t n, double per) {
    append_json_number(out, known ? round3(static_cast<double>(n) / w.seconds * per) : NAN);
  };
  out.append(std::string_view{"{\"window_s\":"});
  append_json_number(out, round3(w.seconds));
  fmt::format_to(std::back_inserter(out), ",\"events\":{},\"events_per_s\":", w.events);
  rate(w.events, 1.0);
  if (per_minute) {
    fmt::format_to(std::back_inserter(out),
                   ",\"completions\":{},\"completions_per_min\":", w.closed);
    rate(w.closed, 60.0);
    fmt::format_to(std::back_inserter(out), ",\"failures\":{},\"failures_per_min\":", w.failed);
    rate(w.failed, 60.0);
  }
  out.push_back('}');
}

void Summary::append_history(const std::vector<CounterWindow>& buckets) {
  fmt::memory_buffer& out = out_;
  const auto series = [&](std::string_view name, auto value) {
    fmt::format_to(std::back_inserter(out), ",\"{}\":[", name);
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      if (i > 0) out.push_back(',');
      append_json_number(out, round3(value(buckets[i])));
    }
    out.push_back(']');
  };
  fmt::format_to(std::back_inserter(out), "{{\"step\":{}", HistoryRing::kStep);
  series("seconds", [](const CounterWindow& w) { return w.seconds; });
  series("events_per_second",
         [](const CounterWindow& w) { return static_cast<double>(w.events) / w.seconds; });
  series("closed_per_minute",
         [](const CounterWindow& w) { return static_cast<double>(w.closed) * 60 / w.seconds; });
  series("failed_per_minute",
         [](const CounterWindow& w) { return static_cast<double>(w.failed) * 60 / w.seconds; });
  out.push_back('}');
}

std::string Summary::compute(const ShareScope* scope) {
  projects_.clear();
  Tally overall;  // statuses only
  Tally none;     // tasks without a project
  // A project's key is copied once, when the pass meets its first task.
  const auto project_tally = [this](std::string_view project) -> Tally& {
    auto it = projects_.find(project);
    if (it == projects_.end()) it = projects_.emplace(std::string(project), Tally{}).first;
    return it->second;
  };
  const double now = now_seconds();
  store_.table().for_each([&](const TaskRecord& t) {
    if (scope != nullptr &&
        !scope->matches(t.task_id.view(), t.project.view(), t.has(kHasProject)))
      return;
    ++overall.tasks;
    const auto i = static_cast<std::size_t>(t.status);
    if (i < overall.by_status.size()) ++overall.by_status[i];
    if (is_stalled(t, now, rules_.stall)) ++overall.stalled;
    if (t.status == Status::kError && t.has(kHasAcknowledged)) ++overall.acknowledged;
    std::string_view project;
    Tally* tally = &none;
    if (t.has(kHasProject)) {
      tally = &project_tally(t.project.view());
    } else if (meta_project(t, project)) {
      tally = &project_tally(project);
    } else if (project = project_from_id(t.task_id.view(), rules_.project_id_separators);
               !project.empty()) {
      tally = &project_tally(project);
    }
    count(*tally, t, now);
  });

  CounterWindow ten, minute;
  std::vector<CounterWindow> history;
  // The rates come from the segment's counters, which are the whole fleet's: a share link's
  // summary has none (empty windows, no history) rather than other projects' activity.
  if (scope == nullptr) {
    std::lock_guard lock(samples_mutex_);
    const CounterSample counters = read_counters();
    ten = samples_.window(counters, 10.0);
    minute = samples_.window(counters, 60.0);
    history = history_.buckets(counters);
  }
  double last_failure = none.last_failure;
  for (const auto& [name, tally] : projects_) {
    last_failure = std::max(last_failure, tally.last_failure);
  }

  fmt::memory_buffer& out = out_;
  out.clear();
  out.append(std::string_view{"{\"generated_at\":"});
  append_time_or_null(out, now);
  out.append(std::string_view{",\"tasks\":"});
  append_by_status(out, overall.tasks, overall.by_status, overall.stalled, overall.acknowledged);
  out.append(std::string_view{",\"last_failure\":"});
  append_time_or_null(out, last_failure);
  out.append(std::string_view{",\"rates\":{\"10s\":"});
  append_window(ten, false);
  out.append(std::string_view{",\"1m\":"});
  append_window(minute, true);
  out.append(std::string_view{"},\"history\":"});
  append_history(history);
  out.append(std::string_view{",\"stalled_rule\":{\"factor\":"});
  append_json_number(out, rules_.stall.factor);
  out.append(std::string_view{",\"min_seconds\":"});
  append_json_number(out, rules_.stall.min_seconds);
  out.append(std::string_view{"},\"project_rule\":{\"id_separators\":"});
  append_json_string(out, rules_.project_id_separators);
  out.append(std::string_view{"},\"ingest\":"});
  if (const std::optional<double> age = ingest_heartbeat_age(store_)) {
    fmt::format_to(std::back_inserter(out),
                   "{{\"alive\":{},\"heartbeat_age\":", *age <= kHeartbeatStaleSeconds);
    append_json_number(out, round3(*age));
    out.push_back('}');
  } else {
    out.append(std::string_view{"{\"alive\":false,\"heartbeat_age\":null}"});
  }
  out.append(std::string_view{",\"projects\":{"});
  bool first = true;
  for (const auto& [name, tally] : projects_) {
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, name);
    out.push_back(':');
    append_tally(tally);
  }
  out.append(std::string_view{"},\"no_project\":"});
  if (none.tasks > 0) {
    append_tally(none);
  } else {
    out.append(std::string_view{"null"});
  }
  out.push_back('}');
  return std::string(out.data(), out.size());
}

// ---- SummaryRoutes ----

bool SummaryRoutes::handle(const HttpRequest& request, HttpResponse& response) {
  if (request.path != "/summary") return false;
  if (request.method != "GET" && request.method != "HEAD") {
    method_not_allowed(ctx_, "GET, HEAD", response);
  } else if (std::optional<ShareScope> scope; authorize_read(ctx_, request, response, scope)) {
    response.status = 200;
    response.content_type = "application/json";
    if (scope) {
      response.body = summary_.scoped(*scope);
    } else {
      response.body.assign(*summary_.current());
    }
  }
  response.set_header("Cache-Control", "no-store");
  return true;
}

}  // namespace progressista::daemon
