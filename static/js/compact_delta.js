// The compact delta protocol (v2, `/ws?protocol=delta2`) turned back into the tasks the store
// takes: whole v1-shaped task objects keyed by task_id. Pure state, no DOM (Node's test runner
// imports it as it is).
//
// v2 names a task by a handle the server gives it; a task's id comes once, with its whole state.
// After that an update holds only the members that changed, under short keys, with times in ms
// relative to the frame's `t` (epoch ms). See README.md, "The compact delta protocol".

// One table, read both ways: [short key, v1 member].
export const SHORT_KEYS = [
  ['id', 'task_id'], ['d', 'desc'], ['n', 'n'], ['N', 'total'], ['un', 'unit'], ['s', 'status'],
  ['ts', 'timestamp'], ['m', 'meta'], ['ca', 'created_at'], ['ua', 'updated_at'],
  ['da', 'done_at'], ['sa', 'stale_at'], ['rv', 'recovered'], ['ra', 'recovered_at'],
  ['p', 'project'], ['ph', 'phase'], ['msg', 'message'], ['err', 'error'], ['r', 'rate'],
  ['e', 'eta'], ['cd', 'cadence'], ['ak', 'acknowledged_at'], ['pa', 'parent'],
  ['ch', 'children'],
];
const LONG_OF = new Map(SHORT_KEYS);
const SHORT_OF = new Map(SHORT_KEYS.map(([s, l]) => [l, s]));
// Members sent as ms relative to the frame's time.
const TIME_KEYS = new Set(['ts', 'ca', 'ua', 'da', 'sa', 'ra', 'ak']);

// The v1 member a short key stands for; a key the table does not know keeps its name.
export const longKey = (key) => LONG_OF.get(key) ?? key;
export const shortKey = (member) => SHORT_OF.get(member) ?? member;

// Copies the members of `diff` onto `task` (a fresh object the caller owns): null deletes a
// member, relative times become epoch seconds.
function merge(task, diff, t) {
  for (const key in diff) {
    const value = diff[key];
    const member = longKey(key);
    if (value === null) delete task[member];
    else if (TIME_KEYS.has(key) && typeof value === 'number') task[member] = (t + value) / 1000;
    else task[member] = value;
  }
  if (!Object.hasOwn(task, 'total')) task.total = null;   // v1 always carries total
  return task;
}

// The v1 form of one v2 task, whole or partial, in a frame of time `t` (epoch ms): the inverse
// of decoding, for tests and tools that build frames.
export function encodeTask(task, t) {
  const out = {};
  for (const member in task) {
    const key = shortKey(member);
    const value = task[member];
    out[key] = TIME_KEYS.has(key) && typeof value === 'number' ? Math.round(value * 1000) - t : value;
  }
  return out;
}

const frameTime = (frame) => (typeof frame.t === 'number' ? frame.t : 0);

// One per socket. Every task object it hands out is new: the store keeps it as it is, and a
// later change of that task is a new object (the store compares old and new to skip redraws).
export function createCompactDecoder() {
  const byHandle = new Map();   // handle (string) -> task (v1 shape)
  const handleOf = new Map();   // task_id -> its handle

  function take(handle, task) {
    const old = handleOf.get(task.task_id);
    // The same task under a newer handle: the old one names nothing now (its removal, should it
    // still come, must not remove the task).
    if (old !== undefined && old !== handle) byHandle.delete(old);
    byHandle.set(handle, task);
    handleOf.set(task.task_id, handle);
  }

  function drop(handle) {
    const task = byHandle.get(handle);
    if (!task) return undefined;
    byHandle.delete(handle);
    if (handleOf.get(task.task_id) === handle) handleOf.delete(task.task_id);
    return task.task_id;
  }

  return {
    get size() { return byHandle.size; },

    // A v2 snapshot: every task held is dropped. Returns { task_id: task } for queueSnapshot.
    snapshot(frame) {
      byHandle.clear();
      handleOf.clear();
      const t = frameTime(frame);
      const tasks = {};
      const given = frame.tasks && typeof frame.tasks === 'object' ? frame.tasks : {};
      for (const h in given) {
        const state = given[h];
        if (!state || typeof state.id !== 'string') continue;   // nothing to name it by
        const task = merge({}, state, t);
        take(h, task);
        tasks[task.task_id] = task;
      }
      return tasks;
    },

    // A v2 delta. Returns { upserts: { task_id: task }, removed: [task_id], resync } for
    // queueDelta, which applies removals first: a task removed and created again (a new handle)
    // is in both. resync: the frame changed a handle this decoder does not hold, so only a
    // fresh snapshot can give its task (that change is skipped, the rest applies).
    delta(frame) {
      const t = frameTime(frame);
      const gone = new Set((Array.isArray(frame.x) ? frame.x : []).map(String));
      const upserts = {};
      const removed = [];
      for (const h of gone) {
        const id = drop(h);
        if (id !== undefined) removed.push(id);
      }
      let resync = false;
      const changed = frame.u && typeof frame.u === 'object' ? frame.u : {};
      for (const h in changed) {
        const diff = changed[h];
        if (!diff || typeof diff !== 'object' || gone.has(h)) continue;   // changed, then removed
        let task;
        if (typeof diff.id === 'string') {
          task = merge({}, diff, t);                          // whole state: replace
        } else {
          const held = byHandle.get(h);
          if (!held) { resync = true; continue; }
          task = merge({ ...held }, diff, t);                // changed members: merge
        }
        take(h, task);
        upserts[task.task_id] = task;
      }
      return { upserts, removed, resync };
    },
  };
}
