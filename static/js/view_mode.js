// Which view of the board is shown: the cards or the table (table_view.js). The address keeps
// it (view_state.js, ?view=table, written by controls.js); the key t (keys.js) and the
// "Cards | Table" switch (table_view.js) change it.

export const VIEW_MODES = ['cards', 'table'];
let mode = 'cards';
const listeners = [];

export const getViewMode = () => mode;

export function setViewMode(next) {
  const m = VIEW_MODES.includes(next) ? next : 'cards';
  if (m === mode) return;
  mode = m;
  for (const fn of listeners) fn(mode);
}

export const toggleViewMode = () => setViewMode(mode === 'table' ? 'cards' : 'table');

// fn(mode) after every change.
export function onViewMode(fn) { listeners.push(fn); }
