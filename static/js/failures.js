// Failures first and kept, and stalled tasks (issue 14). The pure parts (no DOM, no clock of
// their own: callers pass `now` in epoch seconds) are exported for Node's test runner and for
// any view that needs them: isStalled, stalledNote, isAcknowledged, newFailures. The DOM parts
// (the acknowledge actions, the "Notify me" toggle) take their elements as arguments.
//
// Stalled (a per-task flag computed here) is not the server's `stale` status: `stale` is set by
// the server's janitor after --stale-seconds without an event, whatever the task's rhythm;
// stalled compares a running task's silence with its own rhythm (`cadence`, the server's
// running estimate of the task's median interval between events), by GET /summary's
// `stalled_rule`.

import { fmtAgo } from './format.js';

// Until GET /summary says otherwise.
export const DEFAULT_STALLED_RULE = Object.freeze({ factor: 10, min_seconds: 60 });

const LIVE = new Set(['start', 'update', 'recovered']);

const positive = (x) => typeof x === 'number' && Number.isFinite(x) && x > 0;

// A /summary `stalled_rule` as the rule isStalled takes: its numbers when they are sane, else
// the defaults'. factor 0: the server flags nothing (--stalled-factor 0), nor does the board.
export function readStalledRule(raw) {
  const rule = { ...DEFAULT_STALLED_RULE };
  if (raw && typeof raw === 'object') {
    if (positive(raw.factor) || raw.factor === 0) rule.factor = raw.factor;
    if (typeof raw.min_seconds === 'number' && Number.isFinite(raw.min_seconds) && raw.min_seconds >= 0) {
      rule.min_seconds = raw.min_seconds;
    }
  }
  return rule;
}

// How long a task may be silent before it is stalled: max(factor × cadence, min_seconds), or
// min_seconds while it has no cadence (before its second event).
export function stalledAfter(task, rule = DEFAULT_STALLED_RULE) {
  const floor = rule.min_seconds;
  return positive(task.cadence) ? Math.max(rule.factor * task.cadence, floor) : floor;
}

// A running task (start, update, recovered; a missing status is update) silent for longer than
// the rule allows.
export function isStalled(task, now, rule = DEFAULT_STALLED_RULE) {
  if (!task || !LIVE.has(task.status || 'update') || rule.factor === 0) return false;
  const last = task.updated_at;
  if (typeof last !== 'number' || !Number.isFinite(now)) return false;
  return now - last > stalledAfter(task, rule);
}

// A cadence as a person says it: "every 2 s", "every 1.5 s", "every 3 min".
export function fmtEvery(seconds) {
  if (!positive(seconds)) return '';
  if (seconds < 10) return `${Math.round(seconds * 10) / 10} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 6) / 10} min`;
  return `${Math.round(seconds / 360) / 10} h`;
}

// "stalled — no event for 4 min, usually every 2 s" (without a cadence: "stalled — no event
// for 4 min"); '' when the task is not stalled.
export function stalledNote(task, now, rule = DEFAULT_STALLED_RULE) {
  if (!isStalled(task, now, rule)) return '';
  const silent = fmtAgo(now - task.updated_at).replace(' ago', '');
  const usual = positive(task.cadence) ? `, usually every ${fmtEvery(task.cadence)}` : '';
  return `stalled — no event for ${silent}${usual}`;
}

// A failed task an operator has acknowledged (the server removes acknowledged_at with the
// task's next event).
export const isAcknowledged = (task) => Boolean(task && task.status === 'error' &&
  typeof task.acknowledged_at === 'number' && task.acknowledged_at > 0);

// What names one failure: the same task failing again later is a new failure.
export const failureKey = (id, task) => `${id}\u0000${task.done_at || task.updated_at || 0}`;

// The failures to tell about: those of `failed` ([id, task] pairs of every failure,
// acknowledged or not) not in `seen` (a Set of failureKey) and not acknowledged. The returned
// `seen` holds every current failure and forgets those no longer current (so it stays as large
// as the failures; an acknowledgement withdrawn is no new failure).
// The first call (seen === null) only learns what is there: failures present when the page
// loaded are never told about. Returns { seen, fresh: [[id, task], ...] }.
export function newFailures(seen, failed) {
  const first = seen === null;
  const next = new Set();
  const fresh = [];
  for (const [id, task] of failed) {
    const key = failureKey(id, task);
    next.add(key);
    if (!first && !seen.has(key) && !isAcknowledged(task)) fresh.push([id, task]);
  }
  return { seen: next, fresh };
}

// ---- DOM: acknowledge, undo, notifications ----

// POST tasks/{id}/acknowledge, or /unacknowledge to undo it (README.md, "POST
// /tasks/{task_id}/acknowledge"). `api` is api.js's.
export function acknowledge(api, id, on) {
  return api('POST', `tasks/${encodeURIComponent(id)}/${on ? 'acknowledge' : 'unacknowledge'}`);
}

const NOTIFY_KEY = 'progressista.notify';

function recall() {
  try { return localStorage.getItem(NOTIFY_KEY) === '1'; } catch { return false; }
}
function remember(on) {
  try { localStorage.setItem(NOTIFY_KEY, on ? '1' : '0'); } catch { /* private mode */ }
}

// The "Notify me" toggle (a button with aria-pressed) and the notifications of new failures.
// Permission is asked on a click only. Returns { update(failed) } to call when the failures may
// have changed, with [id, task] pairs of every failure (acknowledged too), once the board has
// its first state.
export function setupNotifier(button, { onShow = () => {} } = {}) {
  const supported = typeof window.Notification === 'function';
  let on = supported && recall() && Notification.permission === 'granted';
  let seen = null;

  function render() {
    button.setAttribute('aria-pressed', String(on));
    button.textContent = on ? 'Notify me: on' : 'Notify me';
    button.title = !supported ? 'This browser has no notifications'
      : Notification.permission === 'denied' ? 'Notifications are blocked for this page in the browser\'s settings'
        : on ? 'A desktop notification for each new failure. Click to stop'
          : 'A desktop notification for each new failure (never for those already here)';
  }

  button.hidden = false;
  button.disabled = !supported;
  render();
  button.addEventListener('click', async () => {
    if (on) { on = false; remember(false); render(); return; }
    let permission = Notification.permission;
    if (permission !== 'granted') {
      try { permission = await Notification.requestPermission(); } catch { permission = 'denied'; }
    }
    on = permission === 'granted';
    remember(on);
    render();
  });

  return {
    get on() { return on; },
    update(failed) {
      const result = newFailures(seen, failed);
      seen = result.seen;
      if (!on) return;
      for (const [id, task] of result.fresh.slice(0, 5)) {
        try {
          const n = new Notification(`Failed: ${task.desc || id}`, {
            body: task.error || task.message || `task ${id} failed`,
            tag: `progressista-failure-${id}`,
          });
          onShow(id, n);
        } catch { /* a browser that only notifies from a service worker */ }
      }
    },
  };
}
