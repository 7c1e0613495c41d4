// The board's keys (issue 14): j/k move a focus through the cards in the board's order, Enter
// opens the focused card's meta, f toggles the Failed chip, Escape clears the focus, ? shows
// them all in a dialog. ('/' and Escape in the search box are controls.js's.) No key does
// anything while the person types in a field or a dialog is open (Escape closes it natively).
//
// The focus is a task id, not an element: cards are virtualized and recycled. After every frame
// the card showing that task, when it is in the DOM, gets aria-current="true" (the ring,
// style.css); when j/k moved the focus there it also gets real focus (the template gives cards
// tabindex=-1), so a screen reader reads the card and Tab goes on into its buttons. The task
// keeps the focus as the live sort moves it; only j/k scroll to it. Focusing a card another way
// (a click, Tab into its buttons) moves the focus there too.

import { getViewMode, toggleViewMode } from './view_mode.js';

const NOT_TEXT = new Set(['checkbox', 'radio', 'button', 'submit', 'reset', 'range', 'color', 'file', 'image']);

// A field keys type into: j is a letter there.
export function isTyping(el) {
  if (!el) return false;
  if (el.isContentEditable) return true;
  const tag = el.tagName;
  return tag === 'TEXTAREA' || tag === 'SELECT' || (tag === 'INPUT' && !NOT_TEXT.has(el.type));
}

const GAP_PX = 8;   // between a card brought into view and the window's edge (or the header)

export function setupBoardKeys({ store, lists, metaDialog, schedule }) {
  const board = document.getElementById('board');
  const help = document.getElementById('help-dialog');
  const header = document.querySelector('.topbar');
  let focusId = null;                   // the focused task
  let last = { key: null, index: 0 };   // where j/k put it: to go on from when it has gone
  let ringEl = null;                    // the card element wearing aria-current
  let reveal = false;                   // j/k moved the focus: focus its card and show it

  // The buckets on the board, in its order: shown by the chip, not collapsed, not empty.
  const shownLists = () => lists.filter((l) => store.shows(l.key) && !l.collapsed && store.view(l.key).length > 0);

  // O(tasks) per key press, nothing per frame.
  function positionOf(id, shown) {
    for (let li = 0; li < shown.length; li++) {
      const index = store.view(shown[li].key).findIndex((e) => e.id === id);
      if (index >= 0) return { li, index };
    }
    return null;
  }

  function move(step) {
    const shown = shownLists();
    if (!shown.length) return;
    let li = 0;
    let index = 0;
    const pos = focusId === null ? null : positionOf(focusId, shown);
    if (pos) {
      ({ li } = pos);
      index = pos.index + step;
    } else if (focusId !== null) {
      // Its task left the view: go on from where it was (the card that took its place).
      li = shown.findIndex((l) => l.key === last.key);
      if (li < 0) li = 0; else index = last.index + (step > 0 ? 0 : -1);
    }
    for (;;) {
      const len = store.view(shown[li].key).length;
      if (index >= len) {
        if (li + 1 < shown.length) { li++; index = 0; } else { index = len - 1; break; }
      } else if (index < 0) {
        if (li > 0) { li--; index = store.view(shown[li].key).length - 1; } else { index = 0; break; }
      } else break;
    }
    const list = shown[li];
    focusId = store.view(list.key)[index].id;
    last = { key: list.key, index };
    list.reveal(index);
    reveal = true;
    schedule();
  }

  function cardOf(id) {
    if (id === null) return null;
    for (const list of lists) {
      const card = list.cards.get(id);
      if (card) return card.el;
    }
    return null;
  }

  function setRing(el) {
    if (el === ringEl) return;
    if (ringEl) ringEl.removeAttribute('aria-current');
    if (el) el.setAttribute('aria-current', 'true');
    ringEl = el;
  }

  // The window scrolled just enough to show the card below the sticky header.
  function scrollWindowTo(el) {
    const r = el.getBoundingClientRect();
    const top = header.getBoundingClientRect().bottom + GAP_PX;
    if (r.top < top) window.scrollBy(0, r.top - top);
    else if (r.bottom > window.innerHeight - GAP_PX) window.scrollBy(0, r.bottom - window.innerHeight + GAP_PX);
  }

  function clearFocus() {
    focusId = null;
    reveal = false;
    if (ringEl && document.activeElement === ringEl) ringEl.blur();
    setRing(null);
  }

  // Enter: the focused card's meta, when it has one. False when Enter is not ours (a button
  // has the focus: it presses it).
  function openMeta() {
    const active = document.activeElement;
    if (focusId === null || (active && active !== document.body && active !== ringEl)) return false;
    const meta = store.get(focusId)?.task.meta;
    if (meta && typeof meta === 'object' && Object.keys(meta).length > 0) metaDialog.open(focusId);
    return true;
  }

  // f: the Failed chip, or All again; through the chips' own click (the address follows).
  function toggleFailed() {
    const key = store.filter === 'failed' ? 'all' : 'failed';
    document.querySelector(`#chips .chip[data-filter="${key}"]`)?.click();
  }

  document.addEventListener('keydown', (ev) => {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing) return;
    if (isTyping(ev.target) || document.querySelector('dialog[open]')) return;
    // Not the cards' in the table view (t): there j and k move through its rows (table_view.js).
    if (getViewMode() === 'table' && (ev.key === 'j' || ev.key === 'k' || ev.key === 'Enter')) return;
    switch (ev.key) {
      case 'j': move(1); break;
      case 'k': move(-1); break;
      case 'Enter': if (!openMeta()) return; break;
      case 'f': toggleFailed(); break;
      case 't': toggleViewMode(); break;
      case 'Escape': if (focusId === null) return; clearFocus(); break;
      case '?': help.showModal(); break;
      default: return;
    }
    ev.preventDefault();
  });

  document.getElementById('help-open').addEventListener('click', () => help.showModal());

  board.addEventListener('focusin', (ev) => {
    const card = ev.target.closest('.card');
    if (!card || card.dataset.id === focusId) return;
    focusId = card.dataset.id;
    const shown = shownLists();
    const pos = positionOf(focusId, shown);
    if (pos) last = { key: shown[pos.li].key, index: pos.index };
    setRing(card);
  });

  return {
    // After every frame: the ring on the focused task's card (O(buckets)), and after j/k its
    // focus and the window scrolled to it.
    afterFrame() {
      const el = cardOf(focusId);
      setRing(el);
      if (!reveal) return;
      reveal = false;
      if (!el) return;
      if (!isTyping(document.activeElement)) el.focus({ preventScroll: true });
      scrollWindowTo(el);
    },
  };
}
