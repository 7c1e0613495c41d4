// The toolbar and the page-wide keys: search, group by project, colour theme, '/' and Escape.
// Grouping and theme are remembered in localStorage.

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

function setupSearch(searchEl, store, lists) {
  let timer = 0;
  searchEl.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!store.setQuery(searchEl.value.trim().toLowerCase())) return;
      for (const list of lists) list.scrollToTop();
    }, SEARCH_DEBOUNCE_MS);
  });
}

function setupGrouping(store) {
  const groupEl = document.getElementById('group');
  store.setGrouped(recall('progressista.group') === '1');
  groupEl.checked = store.grouped;
  groupEl.addEventListener('change', () => {
    store.setGrouped(groupEl.checked);
    remember('progressista.group', store.grouped ? '1' : '0');
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
  setupSearch(searchEl, store, lists);
  setupGrouping(store);
  setupTheme();
  setupKeys(searchEl);
}
