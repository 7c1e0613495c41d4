// One task card: made from #card-template, drawn from a task, and pooled for reuse.

import { STATUS_LABEL, endedEarly, fmtAgo, fmtNum, hasTotal, percent, tqdmLine, whenLine } from './format.js';
import { isAcknowledged, stalledNote } from './failures.js';
import { projectOf } from './query.js';

// Cards scrolled or sorted out of view are kept for reuse: sorted by activity at 1,000
// changes/s, about as many cards enter the view as leave it in every frame.
const CARD_POOL_MAX = 200;
const template = document.getElementById('card-template').content.firstElementChild;
const pool = [];

function makeCard(id) {
  const el = template.cloneNode(true);
  el.dataset.id = id;
  const q = (sel) => el.querySelector(sel);
  return {
    el, id,
    desc: q('.desc'), tid: q('.tid'), badge: q('.badge'), discard: q('.discard'),
    metaBtn: q('.meta-btn'), project: q('.project'), phase: q('.phase'), bar: q('.bar'),
    fill: q('.fill'), tqdm: q('.tqdm'), pct: q('.pct'), when: q('.when'), note: q('.note'),
    failRow: q('.fail-row'), ackNote: q('.ack-note'), ack: q('.ack'), kids: q('.kids'),
    last: Object.create(null),   // last values written, so unchanged ones cost nothing
  };
}

export function takeCard(id) {
  const card = pool.pop();
  if (!card) return makeCard(id);
  card.id = id;
  card.el.dataset.id = id;
  card.last = Object.create(null);
  card.ack.disabled = false;
  return card;
}

export function releaseCard(card) {
  card.el.remove();
  if (pool.length < CARD_POOL_MAX) pool.push(card);
}

// Writes through `apply` only when `value` differs from the last one written under `key`.
export function setOnce(last, key, value, apply) {
  if (last[key] !== value) { last[key] = value; apply(value); }
}

const setText = (card, key, node, value) => setOnce(card.last, key, value, (v) => { node.textContent = v; });

const setAttr = (card, key, node, name, value) => setOnce(card.last, key, value, (v) => {
  if (v === null) node.removeAttribute(name); else node.setAttribute(name, v);
});

// ctx: the store (its stalledRule and projectRule), or nothing for the defaults.
export function drawCard(card, t, now, ctx = null) {
  const status = t.status || 'update';
  setOnce(card.last, 'status', status, (v) => { card.el.dataset.status = v; });
  const title = t.desc || t.task_id;
  setText(card, 'desc', card.desc, title);
  setAttr(card, 'title', card.desc, 'title', title);
  setText(card, 'tid', card.tid, t.task_id);
  setAttr(card, 'tidTitle', card.tid, 'title', t.task_id);   // the whole id, when it is cut
  // Closed below its total: not "done" in green, but where it stopped.
  const early = endedEarly(t);
  setOnce(card.last, 'early', early !== null, (v) => {
    if (v) card.el.dataset.early = ''; else delete card.el.dataset.early;
  });
  setText(card, 'badge', card.badge, early !== null ? `ended at ${early}` : STATUS_LABEL[status] || status);
  setAttr(card, 'discardLabel', card.discard, 'aria-label', `Discard task ${t.task_id}`);
  setText(card, 'project', card.project, projectOf(t, ctx?.projectRule) || '');  // RemoteTqdm users send meta.project
  setText(card, 'phase', card.phase, t.phase || '');
  // Nested progress: a parent's toggle for its children (hidden under it by default).
  const kids = t.children?.count || 0;
  setOnce(card.last, 'hasKids', kids > 0, (v) => { card.kids.hidden = !v; });
  if (kids > 0) {
    const open = Boolean(ctx?.isExpanded?.(t.task_id));
    setText(card, 'kids', card.kids, `${open ? '▾' : '▸'} ${kids} ${kids === 1 ? 'child' : 'children'}`);
    setAttr(card, 'kidsOpen', card.kids, 'aria-expanded', open ? 'true' : 'false');
  }

  const determinate = hasTotal(t);
  const frac = determinate ? Math.min(1, Math.max(0, (t.n || 0) / t.total)) : 0;
  if (card.last.det !== determinate) {
    card.last.det = determinate;
    card.bar.classList.toggle('indeterminate', !determinate);
    card.fill.style.transform = '';
    card.last.frac = undefined;
  }
  if (determinate) setOnce(card.last, 'frac', frac, (v) => { card.fill.style.transform = `scaleX(${v})`; });
  setAttr(card, 'label', card.bar, 'aria-label', title);
  setAttr(card, 'vmax', card.bar, 'aria-valuemax', determinate ? String(t.total) : null);
  setAttr(card, 'vnow', card.bar, 'aria-valuenow', determinate ? String(t.n || 0) : null);
  setAttr(card, 'vtext', card.bar, 'aria-valuetext',
    `${fmtNum(t.n)}${determinate ? ` of ${fmtNum(t.total)}` : ''} ${t.unit || 'it'}`);
  setText(card, 'pct', card.pct, determinate ? percent(frac, 1) : '');

  const note = t.error || t.message || '';
  setText(card, 'note', card.note, note);
  setAttr(card, 'noteTitle', card.note, 'title', note || null);
  setOnce(card.last, 'isErr', Boolean(t.error), (v) => card.note.classList.toggle('error', v));

  const hasMeta = Boolean(t.meta && typeof t.meta === 'object' && Object.keys(t.meta).length > 0);
  setOnce(card.last, 'hasMeta', hasMeta, (v) => { card.metaBtn.hidden = !v; });
  setAttr(card, 'metaLabel', card.metaBtn, 'aria-label', `Show the meta of task ${t.task_id}`);

  // A failure: Acknowledge, or once acknowledged, when and Undo (failures.js, main.js).
  const failed = status === 'error';
  const acked = isAcknowledged(t);
  setOnce(card.last, 'failed', failed, (v) => { card.failRow.hidden = !v; });
  setOnce(card.last, 'acked', acked, (v) => {
    if (v) card.el.dataset.acked = ''; else delete card.el.dataset.acked;
    card.ack.textContent = v ? 'Undo' : 'Acknowledge';
    card.ack.dataset.on = v ? '0' : '1';
  });
  setAttr(card, 'ackLabel', card.ack, 'aria-label',
    failed ? `${acked ? 'Withdraw the acknowledgement of' : 'Acknowledge'} the failure of task ${t.task_id}` : null);

  drawTimes(card, t, now, ctx);
}

// The parts of a card that move with the clock alone.
export function drawTimes(card, task, now, ctx = null) {
  setText(card, 'tqdm', card.tqdm, tqdmLine(task, now));
  const stalled = stalledNote(task, now, ctx?.stalledRule);
  setOnce(card.last, 'stalled', stalled !== '', (v) => {
    if (v) card.el.dataset.stalled = ''; else delete card.el.dataset.stalled;
  });
  if (stalled) setText(card, 'badge', card.badge, 'stalled');
  else if (card.last.badge === 'stalled') setText(card, 'badge', card.badge, STATUS_LABEL[task.status || 'update'] || task.status);
  setText(card, 'when', card.when, stalled || whenLine(task, now));
  setText(card, 'ackNote', card.ackNote, isAcknowledged(task)
    ? `acknowledged ${fmtAgo(now - task.acknowledged_at)}` : 'not acknowledged yet');
}
