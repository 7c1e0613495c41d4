// The view a dashboard address carries, so it can be shared and reopened:
// ?q=<search>&status=<chip>&group=1&view=table. Pure (works on a location.search string); every other
// parameter of the address, `token=` above all, is kept as it is.

import { FILTERS } from './task_store.js';

const FILTER_KEYS = new Set(FILTERS.map((f) => f.key));

// { q: the search text, status: a chip's key ('all' when absent or unknown), group: true,
// false, or null when the address does not say, view: 'table' or 'cards' (the default) }.
export function readViewState(search) {
  const params = new URLSearchParams(search);
  const status = params.get('status');
  return {
    q: (params.get('q') || '').trim(),
    status: FILTER_KEYS.has(status) ? status : 'all',
    group: params.has('group') ? params.get('group') === '1' : null,
    view: params.get('view') === 'table' ? 'table' : 'cards',
  };
}

// `search` with the view written into it: defaults are left out (no q, status all, not
// grouped), except a group=0 already there, which stays (it overrides a grouping remembered in
// localStorage). Returns '' or '?...'.
export function writeViewState(search, { q, status, group, view }) {
  const params = new URLSearchParams(search);
  if (q) params.set('q', q); else params.delete('q');
  if (status && status !== 'all') params.set('status', status); else params.delete('status');
  if (group) params.set('group', '1');
  else if (params.has('group')) params.set('group', '0');
  if (view === 'table') params.set('view', 'table'); else params.delete('view');
  const text = params.toString();
  return text ? `?${text}` : '';
}
