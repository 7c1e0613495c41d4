// Exporting the table's rows (every row the search and the status chip let through, not only
// those on screen) as CSV (RFC 4180) or JSON: the history of finished and failed tasks with
// their times and durations. Pure but for download(), which hands a file to the browser.

import { projectOf } from './query.js';
import { statusOf } from './table_model.js';

const iso = (s) => (typeof s === 'number' && Number.isFinite(s) && s > 0 ? new Date(s * 1000).toISOString() : '');
const orEmpty = (x) => (x === undefined || x === null ? '' : x);

// The fields of one exported task, in column order. duration_s: from created_at to done_at
// (a finished or failed task), else to its last update (a task still going: what is known).
export const FIELDS = ['task_id', 'desc', 'project', 'phase', 'status', 'shown_status', 'n', 'total', 'unit',
  'rate', 'eta', 'created', 'updated', 'done', 'duration_s', 'acknowledged', 'message', 'error', 'meta'];

// `project`: the task's project as the board takes it (the store's entry.project, which may
// follow GET /summary's project_rule); projectOf(t) when not given.
export function exportRecord(t, now, project = projectOf(t)) {
  const end = typeof t.done_at === 'number' ? t.done_at : t.updated_at;
  const duration = typeof t.created_at === 'number' && typeof end === 'number'
    ? Math.round(Math.max(0, end - t.created_at) * 1000) / 1000 : null;
  return {
    task_id: t.task_id,
    desc: orEmpty(t.desc),
    project,
    phase: orEmpty(t.phase),
    status: t.status || 'update',
    shown_status: statusOf(t, now).word,
    n: orEmpty(t.n),
    total: orEmpty(t.total),
    unit: t.unit || 'it',
    rate: orEmpty(t.rate),
    eta: orEmpty(t.eta),
    created: iso(t.created_at),
    updated: iso(t.updated_at),
    done: iso(t.done_at),
    duration_s: orEmpty(duration),
    acknowledged: iso(t.acknowledged_at),
    message: orEmpty(t.message),
    error: orEmpty(t.error),
    meta: t.meta && typeof t.meta === 'object' ? t.meta : null,
  };
}

// One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF (or begins or
// ends with a space), quotes doubled. Objects as JSON. Text that a spreadsheet would run as a
// formula (starting with =, +, -, @, tab or CR: OWASP's "CSV injection") gets a leading
// apostrophe, so a task's description or error from a worker cannot run in an operator's
// spreadsheet; numbers are written as they are.
export function csvField(v) {
  if (v === null || v === undefined) return '';
  let s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// rows: the table's rows, { task, project } (the store's entries).
const recordOf = (row, now) => exportRecord(row.task, now, row.project ?? projectOf(row.task));

// A header line and one line per row, CRLF after each (RFC 4180).
export function toCsv(rows, now) {
  const lines = [FIELDS.join(',')];
  for (const row of rows) {
    const r = recordOf(row, now);
    lines.push(FIELDS.map((f) => csvField(r[f])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

export function toJson(rows, now) {
  return `${JSON.stringify(rows.map((row) => recordOf(row, now)), null, 1)}\n`;
}

// progressista-tasks-2026-12-02T05-40-00Z.csv (no colons: not allowed in every file system).
export function exportFileName(ext, date = new Date()) {
  return `progressista-tasks-${date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')}.${ext}`;
}

// Hands `text` to the browser as a download named `name`.
export function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
