// Each task's recent rates, kept in the page as updates arrive (the server keeps only the
// latest), and the tiny SVG line the table draws from them. Bounded: RATE_POINTS values per
// task in one shared Float32Array, a task's slot freed when the task is removed. Pure (no
// DOM), so Node's test runner imports it.

export const RATE_POINTS = 30;

// An SVG path through `values` (oldest first) in a width x height box: x evenly spaced, y
// from 0 (bottom) to the largest value (top), one pixel of margin. '' for no values; one
// value draws a flat stroke.
export function sparkPath(values, width, height) {
  const n = values.length;
  if (n === 0) return '';
  let max = 0;
  for (const v of values) if (v > max) max = v;
  const top = 1;
  const bottom = height - 1;
  const y = (v) => (max > 0 ? bottom - (Math.max(0, v) / max) * (bottom - top) : bottom);
  const r = (x) => Math.round(x * 10) / 10;
  if (n === 1) return `M0,${r(y(values[0]))}H${width}`;
  const step = width / (n - 1);
  let d = '';
  for (let i = 0; i < n; i++) d += `${i ? 'L' : 'M'}${r(i * step)},${r(y(values[i]))}`;
  return d;
}

export class RateHistory {
  #slots = new Map();        // id -> { slot, len, head, version, task (the last one recorded) }
  #free = [];
  #data = new Float32Array(RATE_POINTS * 1024);
  #next = 0;

  get size() { return this.#slots.size; }

  // Records the task's rate when `task` is not the object last recorded for `id` (one value
  // per update the page applied). Tasks without a rate record nothing.
  record(id, task) {
    let h = this.#slots.get(id);
    if (h && h.task === task) return false;
    const rate = task.rate;
    if (typeof rate !== 'number' || !Number.isFinite(rate)) { if (h) h.task = task; return false; }
    if (!h) {
      h = { slot: this.#take(), len: 0, head: 0, version: 0, task };
      this.#slots.set(id, h);
    }
    h.task = task;
    const base = h.slot * RATE_POINTS;
    this.#data[base + h.head] = rate;
    h.head = (h.head + 1) % RATE_POINTS;
    if (h.len < RATE_POINTS) h.len++;
    h.version++;
    return true;
  }

  // The values, oldest first.
  values(id) {
    const h = this.#slots.get(id);
    if (!h) return [];
    const out = new Array(h.len);
    const base = h.slot * RATE_POINTS;
    const start = (h.head - h.len + RATE_POINTS) % RATE_POINTS;
    for (let i = 0; i < h.len; i++) out[i] = this.#data[base + ((start + i) % RATE_POINTS)];
    return out;
  }

  // Changes whenever a value is recorded for the task (-1: none kept).
  version(id) { return this.#slots.get(id)?.version ?? -1; }

  drop(id) {
    const h = this.#slots.get(id);
    if (!h) return;
    this.#slots.delete(id);
    this.#free.push(h.slot);
  }

  // Drops every task `keep(id)` says is gone.
  prune(keep) {
    for (const id of this.#slots.keys()) if (!keep(id)) this.drop(id);
  }

  #take() {
    if (this.#free.length) return this.#free.pop();
    const slot = this.#next++;
    if ((slot + 1) * RATE_POINTS > this.#data.length) {
      const grown = new Float32Array(this.#data.length * 2);
      grown.set(this.#data);
      this.#data = grown;
    }
    return slot;
  }
}
