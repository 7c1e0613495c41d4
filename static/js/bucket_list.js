// A bucket on the board as a virtualized list. Its cards are laid out in rows of `cols` cards
// (group headers take a row of their own). All rows have known heights, so the rows in view
// follow from the scroll position alone: only those (plus an overscan) are in the DOM,
// whatever the bucket holds. A bucket the status chip does not show is hidden and holds no
// cards.

import { fmtCount, percent, plural } from './format.js';
import { groupRuns } from './task_store.js';
import { drawCard, releaseCard, setOnce, takeCard } from './cards.js';

const OVERSCAN_PX = 400;
const bucketTemplate = document.getElementById('bucket-template').content.firstElementChild;
const groupTemplate = document.getElementById('group-template').content.firstElementChild;

// Sizes from the style sheet (style.css :root), shared by every list. tallH: the cards of a
// `tall` bucket (Failed: room for the whole error text).
const geometry = { cardH: 166, cardMin: 320, gap: 10, groupH: 30, tallH: 280 };

// Reads the sizes from the style sheet; true when they changed (a media query switched).
function readGeometry() {
  const css = getComputedStyle(document.documentElement);
  const px = (name, fallback) => parseFloat(css.getPropertyValue(name)) || fallback;
  const next = {
    cardH: px('--card-h', 166), cardMin: px('--card-min', 320),
    gap: px('--gap', 10), groupH: px('--group-h', 30), tallH: px('--card-tall-h', 280),
  };
  const changedSizes = Object.keys(next).some((k) => next[k] !== geometry[k]);
  Object.assign(geometry, next);
  return changedSizes;
}
readGeometry();

export class BucketList {
  rows = [];                  // { head: name } or { from, to } (indexes into the view)
  rowTop = [];                // pixel offset of each row
  height = 0;                 // of all rows
  runs = new Map();           // project -> its run in the view (grouped only)
  cols = 1;
  viewH = window.innerHeight; // scroller height, from the ResizeObserver
  scrollTop = 0;
  cards = new Map();          // id -> card in the DOM
  heads = new Map();          // project -> group header element
  last = Object.create(null); // last styles written
  layoutStale = true;         // rows must be recomputed
  moved = false;              // rows unchanged, but the window onto them moved
  collapsed = false;
  notice = null;              // the connection's text for an empty bucket (boardNotice.empty)

  // onChange() asks for a frame.
  constructor(def, store, onChange) {
    this.key = def.key;
    this.def = def;
    this.store = store;
    const el = bucketTemplate.cloneNode(true);
    this.el = el;
    el.dataset.bucket = def.key;
    el.setAttribute('aria-label', def.title);
    el.querySelector('.bucket-title').textContent = def.title;
    this.toggle = el.querySelector('.bucket-toggle');
    this.count = el.querySelector('.bucket-count');
    this.body = el.querySelector('.bucket-body');
    this.scroller = el.querySelector('.scroller');
    this.spacer = el.querySelector('.spacer');
    this.cardsEl = el.querySelector('.cards');
    this.emptyEl = el.querySelector('.empty');
    this.toggle.dataset.bucket = def.key;
    this.body.id = `bucket-${def.key}`;
    this.toggle.setAttribute('aria-controls', this.body.id);
    if (def.tall) el.dataset.tall = '';
    if (def.collapsed) this.toggleCollapsed();
    this.scroller.addEventListener('scroll', () => {
      this.scrollTop = this.scroller.scrollTop;
      this.moved = true;
      onChange();
    }, { passive: true });
  }

  toggleCollapsed() {
    this.collapsed = !this.collapsed;
    this.toggle.setAttribute('aria-expanded', String(!this.collapsed));
    this.body.hidden = this.collapsed;
    this.layoutStale = true;
  }

  // Instead of the bucket's own empty text ("No active tasks."), while the board has nothing
  // from the server: a refused token, a server not reached yet. null: its own again.
  setEmptyNotice(text) {
    if (text === this.notice) return;
    this.notice = text;
    this.moved = true;
  }

  // Scrolls this bucket's list just enough that the card at `index` of its view is in view
  // (with its group's header when it is the first of its project). For the keys (keys.js).
  reveal(index) {
    let r = -1;
    if (!this.store.grouped) r = Math.floor(index / this.cols);
    else r = this.rows.findIndex((row) => row.head === undefined && index >= row.from && index < row.to);
    if (!(r >= 0 && r < this.rows.length)) return;
    const top = r > 0 && this.rows[r - 1].head !== undefined ? this.rowTop[r - 1] : this.rowTop[r];
    const bottom = this.rowTop[r] + this.cardH;
    let to = this.scrollTop;
    if (top < to) to = top;
    else if (bottom > to + this.viewH) to = bottom - this.viewH;
    if (to === this.scrollTop) return;
    this.scroller.scrollTop = to;
    this.scrollTop = this.scroller.scrollTop;
    this.moved = true;
  }

  scrollToTop() {
    this.scroller.scrollTop = 0;
    this.scrollTop = 0;
  }

  // The scroller's new content box. A hidden or collapsed bucket measures 0: it keeps its
  // columns for when it is shown again.
  resized(width, height) {
    if (!(width > 0)) return;
    this.viewH = height || window.innerHeight;
    const cols = Math.max(1, Math.floor((width + geometry.gap) / (geometry.cardMin + geometry.gap)));
    if (cols !== this.cols) { this.cols = cols; this.layoutStale = true; } else { this.moved = true; }
  }

  // The height of this bucket's cards.
  get cardH() { return this.def.tall ? geometry.tallH : geometry.cardH; }

  // Once per frame; viewChanged says the store re-sorted this bucket's view.
  update(now, viewChanged) {
    const shown = this.store.displays(this.key);
    if (shown === this.el.hidden) {
      this.el.hidden = !shown;
      if (!shown) { this.#releaseAll(); return; }
      this.scrollToTop();
      this.layoutStale = true;
    }
    if (!shown) return;
    if (viewChanged || this.layoutStale) this.#layout();
    else if (!this.moved) return;
    this.layoutStale = false;
    this.moved = false;
    this.#render(now);
  }

  #releaseAll() {
    for (const card of this.cards.values()) releaseCard(card);
    this.cards.clear();
    for (const el of this.heads.values()) el.remove();
    this.heads.clear();
  }

  #layout() {
    const view = this.store.view(this.key);
    const { gap, groupH } = geometry;
    const { cardH } = this;
    const rows = [];
    const rowTop = [];
    let y = 0;
    const addCardRows = (from, to) => {
      for (let i = from; i < to; i += this.cols) {
        rows.push({ from: i, to: Math.min(to, i + this.cols) });
        rowTop.push(y);
        y += cardH + gap;
      }
    };
    this.runs.clear();
    if (this.store.grouped) {
      for (const run of groupRuns(view)) {
        this.runs.set(run.name, run);
        rows.push({ head: run.name });
        rowTop.push(y);
        y += groupH + gap;
        addCardRows(run.from, run.to);
      }
    } else {
      addCardRows(0, view.length);
    }
    this.rows = rows;
    this.rowTop = rowTop;
    this.height = Math.max(0, y - gap);
  }

  #groupHead(name) {
    let el = this.heads.get(name);
    if (!el) {
      el = groupTemplate.cloneNode(true);
      el.querySelector('.group-name').textContent = name;
      this.heads.set(name, el);
    }
    const run = this.runs.get(name);
    const pct = run.total > 0 ? ` · ${percent(run.n, run.total)} of ${fmtCount(run.total)}` : '';
    const text = `${plural(run.count, 'task')} here${pct}`;
    const stats = el.querySelector('.group-stats');
    if (stats.textContent !== text) stats.textContent = text;
    return el;
  }

  // First row whose bottom is below y (binary search over the row offsets).
  #rowAt(y) {
    const rowTop = this.rowTop;
    let lo = 0;
    let hi = rowTop.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (rowTop[mid + 1] !== undefined && rowTop[mid + 1] <= y) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  #setStyle(key, node, prop, value) {
    setOnce(this.last, key, value, (v) => { node.style[prop] = v; });
  }

  #render(now) {
    const store = this.store;
    const view = store.view(this.key);
    const total = store.count(this.key);
    const shown = view.length;
    const countText = store.query ? `${fmtCount(shown)} of ${fmtCount(total)}` : fmtCount(total);
    if (this.count.textContent !== countText) this.count.textContent = countText;
    const emptyText = shown === 0 ? (total === 0 ? this.notice || this.def.empty : 'No task matches the search.') : '';
    if (this.emptyEl.textContent !== emptyText) this.emptyEl.textContent = emptyText;
    this.emptyEl.hidden = shown !== 0;
    if ((total === 0) !== ('empty' in this.el.dataset)) this.el.toggleAttribute('data-empty', total === 0);

    this.#setStyle('height', this.spacer, 'height', `${this.height}px`);
    setOnce(this.last, 'cols', this.cols, (v) => this.cardsEl.style.setProperty('--cols', String(v)));

    const wanted = [];
    const keep = new Set();
    let first = 0;
    if (!this.collapsed && this.rows.length) {
      const top = Math.max(0, this.scrollTop - OVERSCAN_PX);
      const bottom = this.scrollTop + this.viewH + OVERSCAN_PX;
      first = this.#rowAt(top);
      for (let r = first; r < this.rows.length && this.rowTop[r] < bottom; r++) {
        const row = this.rows[r];
        if (row.head !== undefined) { wanted.push(this.#groupHead(row.head)); continue; }
        for (let i = row.from; i < row.to; i++) {
          const e = view[i];
          let card = this.cards.get(e.id);
          if (!card) {
            card = takeCard(e.id);
            this.cards.set(e.id, card);
            drawCard(card, e.task, now, store);
          } else if (store.isChanged(e.id)) {
            drawCard(card, e.task, now, store);
          }
          keep.add(e.id);
          wanted.push(card.el);
        }
      }
    }
    for (const [id, card] of this.cards) {
      if (!keep.has(id)) { releaseCard(card); this.cards.delete(id); }
    }
    if (!store.grouped && this.heads.size) {
      for (const el of this.heads.values()) el.remove();
      this.heads.clear();
    }
    this.#setStyle('offset', this.cardsEl, 'transform', `translateY(${this.rows.length ? this.rowTop[first] : 0}px)`);
    this.#placeInOrder(wanted);
  }

  // Puts the wanted nodes in order, moving only those out of place. A focused control inside
  // a moved card would lose focus, so it is given back.
  #placeInOrder(wanted) {
    const focused = document.activeElement;
    const parent = this.cardsEl;
    let node = parent.firstChild;
    for (const el of wanted) {
      if (node === el) node = node.nextSibling;
      else parent.insertBefore(el, node);
    }
    while (node) { const next = node.nextSibling; node.remove(); node = next; }
    if (focused && focused !== document.activeElement && focused.isConnected) {
      focused.focus({ preventScroll: true });
    }
  }
}

// One ResizeObserver for all lists: a width change may change the number of columns, and a
// style-sheet size change (media query) every layout.
export function observeSizes(lists, onChange) {
  const byScroller = new Map(lists.map((list) => [list.scroller, list]));
  const observer = new ResizeObserver((entries) => {
    if (readGeometry()) for (const list of lists) list.layoutStale = true;
    for (const entry of entries) {
      byScroller.get(entry.target).resized(entry.contentRect.width, entry.contentRect.height);
    }
    onChange();
  });
  for (const list of lists) observer.observe(list.scroller);
}
