#include "event_rules.hpp"

namespace progressista::detail {

namespace {
// Weight of the newest sample in the exponential moving average (tqdm's default smoothing).
constexpr double kRateSmoothing = 0.3;
// The cadence's step towards each interval between a task's events that falls outside
// [cadence / band, cadence * band]: multiplicative, so it settles near the intervals' median
// whatever their scale, and moves neither on one long pause nor on a burst; the band keeps a
// steady task's value still, so the live frames do not carry a new one with every event.
constexpr double kCadenceStep = 1.125;
constexpr double kCadenceBand = 1.5;

void set_string(TaskRecord& rec, Field f, auto& dst, const std::optional<std::string_view>& v) {
  if (!v) return;
  dst.assign(*v);
  rec.set(f);
}

// A new (n, t) sample for the smoothed rate; sets rec.n.
void take_sample(TaskRecord& rec, double n, double t) noexcept {
  if (rec.has(kHasRatePoint) && n >= rec.rate_n) {
    const double dt = t - rec.rate_t;
    // Samples in the same instant accumulate into the next one instead of dividing by 0.
    if (dt > 0) {
      const double inst = (n - rec.rate_n) / dt;
      rec.rate = rec.has(kHasRate) ? kRateSmoothing * inst + (1 - kRateSmoothing) * rec.rate : inst;
      rec.set(kHasRate);
      rec.rate_n = n;
      rec.rate_t = t;
    }
  } else {
    // First sample, or n went backwards (a reset): start over.
    rec.set(kHasRate, false);
    rec.rate_n = n;
    rec.rate_t = t;
    rec.set(kHasRatePoint);
  }
  rec.n = n;
}
}  // namespace

Verdict judge(const TaskRecord& current, const Event& event) noexcept {
  const Status next = event.status.value_or(Status::kUpdate);
  if (is_terminal(current.status) && next != Status::kStart) return Verdict::kIgnoredClosed;
  // Ties are applied: a client may send several events within one clock tick.
  if (event.timestamp && current.has(kHasTimestamp) && *event.timestamp < current.timestamp) {
    return Verdict::kIgnoredOutOfOrder;
  }
  return Verdict::kApply;
}

void init_record(TaskRecord& rec, std::string_view task_id, double now) noexcept {
  rec = TaskRecord{};
  rec.live = 1;
  rec.status = Status::kStart;
  rec.task_id.assign(task_id);
  rec.created_at = now;
  rec.updated_at = now;
}

void apply_event(TaskRecord& rec, const Event& e, double now) noexcept {
  const Status prev = rec.status;
  const Status next = e.status.value_or(Status::kUpdate);

  if (is_terminal(prev) && next == Status::kStart) {
    // Reopened: a new run of the same task, with its own clock (Progressista 0.2.1 keeps the
    // first run's created_at, server.py:291-300, so a reused id's elapsed time included
    // every earlier run and the pauses between them).
    rec.created_at = now;
    rec.set(kHasDoneAt, false);
    rec.set(kHasRate, false);
    rec.set(kHasRatePoint, false);
    rec.set(kHasError, false);
  }

  set_string(rec, kHasDesc, rec.desc, e.desc);
  set_string(rec, kHasUnit, rec.unit, e.unit);
  set_string(rec, kHasProject, rec.project, e.project);
  set_string(rec, kHasPhase, rec.phase, e.phase);
  set_string(rec, kHasMessage, rec.message, e.message);
  set_string(rec, kHasError, rec.error, e.error);
  set_string(rec, kHasMeta, rec.meta, e.meta);
  if (e.parent) {
    rec.parent.assign(*e.parent);
    rec.set(kHasParent, !e.parent->empty());
  }

  if (e.total) {
    rec.total = *e.total;
    rec.set(kHasTotal);
  }
  std::optional<double> n = e.n;
  if (!n && e.progress) {
    // `progress` is a percentage: of the known total, or of 100 when there is none.
    if (!rec.has(kHasTotal)) {
      rec.total = 100;
      rec.set(kHasTotal);
    }
    n = *e.progress / 100.0 * rec.total;
  }

  const double t = e.timestamp.value_or(now);
  if (n) take_sample(rec, *n, t);

  // The cadence: from the second event on, a step of 1/8 towards each interval outside the
  // band around it (a first
  // event's record has updated_at == now, and events in the same instant say nothing; the
  // gap across a restart, after a restored task's last saved update, is not the task's).
  if (const double gap = now - rec.updated_at; gap > 0 && prev != Status::kRecovered) {
    if (!rec.has(kHasCadence)) {
      rec.cadence = gap;
      rec.set(kHasCadence);
    } else if (gap > rec.cadence * kCadenceBand) {
      rec.cadence *= kCadenceStep;
    } else if (gap * kCadenceBand < rec.cadence) {
      rec.cadence /= kCadenceStep;
    }
  }
  // Whatever happens next is news: an acknowledged failure is no longer acknowledged.
  rec.set(kHasAcknowledged, false);

  rec.status = next;
  rec.updated_at = now;
  rec.timestamp = t;
  rec.set(kHasTimestamp);
  if (is_terminal(next) && !rec.has(kHasDoneAt)) {
    rec.done_at = now;
    rec.set(kHasDoneAt);
  }
  if (next == Status::kStale) {
    if (!rec.has(kHasStaleAt)) {
      rec.stale_at = now;
      rec.set(kHasStaleAt);
    }
  } else {
    rec.set(kHasStaleAt, false);
  }
  // Any event after a restore means the task is live again (Progressista drops the flag).
  if (next != Status::kRecovered) rec.set(kHasRecovered, false);
}

void derive_family(TaskRecord& rec, double now, bool fails_with_child, bool live) noexcept {
  if (rec.kids <= 0) return;
  if (live) {
    if (rec.n != rec.kid_n || !rec.has(kHasRatePoint)) take_sample(rec, rec.kid_n, now);
    rec.updated_at = now;
    rec.set(kHasAcknowledged, false);
    rec.set(kHasRecovered, false);
  }
  rec.n = rec.kid_n;
  rec.total = rec.kids_untotalled > 0 ? 0 : rec.kid_total;
  rec.set(kHasTotal, rec.kids_untotalled <= 0);
  Status next = rec.status;
  if (rec.kids_failed > 0 && fails_with_child) {
    next = Status::kError;
  } else if (rec.kids_running() <= 0) {
    next = Status::kClose;
  } else if (live && (is_terminal(rec.status) || rec.status == Status::kStale ||
                      rec.status == Status::kRecovered)) {
    next = Status::kUpdate;
  } else if (is_terminal(rec.status)) {
    next = Status::kRecovered;  // recounting restored tasks: running again, not live yet
  }
  rec.status = next;
  if (is_terminal(next)) {
    if (!rec.has(kHasDoneAt)) {
      rec.done_at = now;
      rec.set(kHasDoneAt);
    }
  } else {
    rec.set(kHasDoneAt, false);
  }
  if (next != Status::kStale) rec.set(kHasStaleAt, false);
}

}  // namespace progressista::detail
