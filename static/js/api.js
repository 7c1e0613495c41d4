// Where the server is, the API token, and REST calls to it.

const FETCH_TIMEOUT_MS = 10000;

let token = new URLSearchParams(location.search).get('token') || '';

export const getToken = () => token;

// A share link's token (?share= in the page address): read-only, one scope; it goes with
// every request the board makes, REST and WebSocket alike, beside any API token.
const share = new URLSearchParams(location.search).get('share') || '';
export const getShare = () => share;

// A token typed into the page replaces the one in its address, so a reload keeps it.
export function setToken(next) {
  token = next;
  const url = new URL(location.href);
  if (token) url.searchParams.set('token', token); else url.searchParams.delete('token');
  history.replaceState(null, '', url);
}

// The dashboard lives at <base>static/index.html; the API at <base>tasks, <base>ws. A reverse
// proxy that mounts Progressista under a prefix therefore needs no configuration here.
const staticAt = location.pathname.lastIndexOf('/static/');
const BASE = staticAt >= 0 ? location.pathname.slice(0, staticAt + 1) : '/';

export function wsUrl() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = new URLSearchParams({ protocol: 'delta2' });
  if (token) q.set('token', token);
  if (share) q.set('share', share);
  return `${proto}//${location.host}${BASE}ws?${q}`;
}

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

// One REST call. The token travels as a bearer header (kept out of access logs); failures
// become an ApiError whose message is fit to show to a person.
export async function api(method, path) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
  let res;
  try {
    const target = share
      ? `${path}${path.includes('?') ? '&' : '?'}share=${encodeURIComponent(share)}` : path;
    res = await fetch(BASE + target, { method, headers, signal: ctl.signal, cache: 'no-store' });
  } catch {
    throw new ApiError(ctl.signal.aborted
      ? `the server did not answer within ${FETCH_TIMEOUT_MS / 1000} s`
      : 'the server could not be reached', 0);
  } finally {
    clearTimeout(timer);
  }
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok) {
    let detail = body && body.detail !== undefined ? body.detail : res.statusText;
    if (typeof detail !== 'string') detail = JSON.stringify(detail);
    const hint = res.status === 401 ? ' (check the ?token= in the page address)' : '';
    throw new ApiError(`HTTP ${res.status} ${detail}${hint}`, res.status);
  }
  return body;
}
