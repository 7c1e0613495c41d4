// What a task is to the search box and to grouping: its project, the words its status answers
// to, the text a plain word is looked for in, and the queries over them. Pure: no DOM, so
// Node's test runner imports it as it is.
//
// A query is terms separated by spaces, all of which must match (AND), case-insensitively:
//   word            anywhere: task id, description, project, phase, message, error, status
//                   (its API name and as shown: running, failed, done, stale...), meta values
//   status:failed   the status, by any of its words (a prefix is enough: status:fail)
//   project:vision  the task's project, else meta.project (projectOf)
//   key:value       the task's own field of that name (id, desc, phase, unit, message, error),
//                   else its meta key (host:node-07); a task with neither is matched on the
//                   whole term as text, so "10:42" or a URL still finds a message
//   "two words"     quotes keep spaces inside one term (also after key:)
// Values match as substrings (project:vis finds vision); `key:` alone: the task has the field.

import { STATUS_LABEL } from './format.js';

const isObject = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
const metaOf = (t) => (isObject(t.meta) ? t.meta : null);

// The project a task is grouped and rolled up under: its `project`, else `meta.project`
// (RemoteTqdm users can only send meta), else, with GET /summary's `project_rule`
// ({id_separators: "/:"}), the part of its task_id before the first of those characters when
// there is one not at position 0 (`etl/shard-3` -> `etl`), else ''. No rule (null, or ''
// separators): no project from the id, as before the server says.
export function projectOf(t, rule = null) {
  if (typeof t.project === 'string' && t.project !== '') return t.project;
  const p = metaOf(t)?.project;
  if (typeof p === 'string' && p !== '') return p;
  if (typeof p === 'number' && Number.isFinite(p)) return String(p);
  const seps = rule && typeof rule.id_separators === 'string' ? rule.id_separators : '';
  if (seps !== '' && typeof t.task_id === 'string') {
    for (let i = 1; i < t.task_id.length; i++) {
      if (seps.includes(t.task_id[i])) return t.task_id.slice(0, i);
    }
  }
  return '';
}

// The words a status answers to: its API name, the card's badge (format.js), the status chip's
// name and a few an operator types. A missing status is `update`, as the server says.
const MORE_WORDS = {
  start: ['running', 'active'], update: ['active'], recovered: ['running'],
  close: ['closed', 'completed', 'finished'],
};
const statusWordCache = new Map();
export function statusWords(status) {
  const s = status || 'update';
  let words = statusWordCache.get(s);
  if (!words) {
    words = [...new Set([s, STATUS_LABEL[s], ...(MORE_WORDS[s] || [])].filter(Boolean))];
    if (statusWordCache.size < 64) statusWordCache.set(s, words);
  }
  return words;
}

// A meta value as text: strings and numbers as they are, objects and arrays as JSON.
function valueText(v) {
  if (v === null || v === undefined) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

// The lower-case text plain words are looked for in, one field a line (a word never matches
// across two fields).
export function searchText(t, projectRule = null) {
  const parts = [t.task_id, t.desc, projectOf(t, projectRule), t.phase, t.message, t.error, statusWords(t.status).join(' ')];
  const meta = metaOf(t);
  if (meta) for (const k in meta) parts.push(valueText(meta[k]));
  return parts.filter((p) => typeof p === 'string' && p !== '').join('\n').toLowerCase();
}

// key: names of the task's own text fields.
const OWN_FIELDS = {
  id: 'task_id', task_id: 'task_id', desc: 'desc', description: 'desc', phase: 'phase',
  unit: 'unit', message: 'message', msg: 'message', error: 'error',
};

// The value a `key:` term is matched against (not lower-cased), or undefined when the task has
// no such field: project by projectOf, an own field when set, else the meta key (its name
// matched without regard to case).
export function fieldValue(t, key, projectRule = null) {
  if (key === 'project') return projectOf(t, projectRule) || undefined;
  const own = OWN_FIELDS[key];
  if (own && typeof t[own] === 'string' && t[own] !== '') return t[own];
  const meta = metaOf(t);
  if (!meta) return undefined;
  if (Object.hasOwn(meta, key)) return valueText(meta[key]);
  for (const k in meta) if (k.toLowerCase() === key) return valueText(meta[k]);
  return undefined;
}

// One run of non-space text, where a quoted part may hold spaces (an unclosed quote runs to
// the end).
const TOKEN = /(?:[^\s"]+|"[^"]*(?:"|$))+/g;
const FIELD = /^([^\s:"]+):(.*)$/s;
const unquote = (s) => s.replace(/"/g, '');

// The terms of a query: { key: null | lower-case name, value, text (the whole term) }, all
// lower-case; empty terms ("") are dropped.
export function parseQuery(query) {
  const terms = [];
  for (const [raw] of String(query || '').matchAll(TOKEN)) {
    const m = FIELD.exec(raw);
    const text = unquote(raw).toLowerCase();
    if (m) terms.push({ key: m[1].toLowerCase(), value: unquote(m[2]).toLowerCase(), text });
    else if (text !== '') terms.push({ key: null, value: text, text });
  }
  return terms;
}

// A term as a test (task, hay) where hay() gives the task's searchText, asked for only when
// the term needs it.
function termTest({ key, value, text }, projectRule) {
  if (key === null) return (t, hay) => hay().includes(value);
  if (key === 'status') return (t) => statusWords(t.status).some((w) => w.startsWith(value));
  return (t, hay) => {
    const v = fieldValue(t, key, projectRule);
    return v === undefined ? hay().includes(text) : v.toLowerCase().includes(value);
  };
}

// A query as a predicate (task, textOf = searchText) -> boolean, or null when the query asks
// for nothing (every task matches). textOf(task) is called at most once, and only when a term
// needs the text: the store passes one that keeps it. projectRule: as projectOf's (the
// project: term and the text follow it).
export function compileQuery(query, { projectRule = null } = {}) {
  const tests = parseQuery(query).map((term) => termTest(term, projectRule));
  if (!tests.length) return null;
  return (task, textOf = (t) => searchText(t, projectRule)) => {
    let text;
    const hay = () => (text ??= textOf(task));
    for (const test of tests) if (!test(task, hay)) return false;
    return true;
  };
}
