// The toolbar and the page-wide keys: search, status chips, group by project, colour theme, '/'
// and Escape. The search, the chip and grouping are kept in the page's address (view_state.js)
// and restored from it; grouping (when the address does not say) and theme are remembered in
// localStorage.

import { readViewState, writeViewState } from './view_state.js';
import { getViewMode, onViewMode, setViewMode } from './view_mode.js';

const SEARCH_DEBOUNCE_MS = 120;
// The dark palette's sheet (index.html #dark-palette) applies by the system's preference, always
// or never; <html data-theme> names an explicit choice.
const DARK_MEDIA = { auto: '(prefers-color-scheme: dark)', light: 'not all', dark: 'all' };
const THEMES = Object.keys(DARK_MEDIA);

function remember(key, value) {
  try { localStorage.setItem(key, value); } catch { /* private mode: not remembered */ }
}
function recall(key) {
  try { return localStorage.getItem(key); } catch { return null; }
}

// The view into the address, replacing the current history entry; every other parameter
// (token=) stays.
function saveView(store) {
  const search = writeViewState(location.search, { q: store.query, status: store.filter, group: store.grouped, view: getViewMode() });
  if (search === location.search) return;
  const url = new URL(location.href);
  url.search = search;
  history.replaceState(history.state, '', url);
}

function setupSearch(searchEl, store, lists, initial) {
  searchEl.value = initial;
  store.setQuery(initial);
  let timer = 0;
  searchEl.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!store.setQuery(searchEl.value.trim())) return;
      for (const list of lists) list.scrollToTop();
      saveView(store);
    }, SEARCH_DEBOUNCE_MS);
  });
}

// The chips are made by summary.js, which also shows which one is pressed.
function setupChips(store, initial) {
  store.setFilter(initial);
  document.getElementById('chips').addEventListener('click', (ev) => {
    const chip = ev.target.closest('.chip');
    if (chip && store.setFilter(chip.dataset.filter)) saveView(store);
  });
}

function setupGrouping(store, initial) {
  const groupEl = document.getElementById('group');
  store.setGrouped(initial ?? recall('progressista.group') === '1');
  groupEl.checked = store.grouped;
  groupEl.addEventListener('change', () => {
    store.setGrouped(groupEl.checked);
    remember('progressista.group', store.grouped ? '1' : '0');
    saveView(store);
  });
}

function setupTheme() {
  const themeBtn = document.getElementById('theme');
  const darkPalette = document.getElementById('dark-palette');
  function apply(name) {
    darkPalette.media = DARK_MEDIA[name];
    if (name === 'auto') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = name;
    themeBtn.textContent = `Theme: ${name}`;
    themeBtn.setAttribute('aria-label', `Colour theme: ${name}. Change`);
  }
  const saved = recall('progressista.theme');
  let theme = THEMES.includes(saved) ? saved : 'auto';
  apply(theme);
  themeBtn.addEventListener('click', () => {
    theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    remember('progressista.theme', theme);
    apply(theme);
  });
}

// '/' focuses the search box (unless typing elsewhere); Escape in it clears the search.
function setupKeys(searchEl) {
  document.addEventListener('keydown', (ev) => {
    if (ev.key === '/' && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      const tag = (document.activeElement && document.activeElement.tagName) || '';
      if (tag !== 'INPUT' && tag !== 'TEXTAREA') { ev.preventDefault(); searchEl.focus(); }
    } else if (ev.key === 'Escape' && document.activeElement === searchEl && searchEl.value) {
      searchEl.value = '';
      searchEl.dispatchEvent(new Event('input'));
    }
  });
}

export function setupControls(store, lists) {
  const searchEl = document.getElementById('search');
  const initial = readViewState(location.search);
  setupSearch(searchEl, store, lists, initial.q);
  setupChips(store, initial.status);
  setupGrouping(store, initial.group);
  setViewMode(initial.view);   // cards or table (table_view.js); kept in the address as it changes
  onViewMode(() => saveView(store));
  setupTheme();
  setupKeys(searchEl);
}
