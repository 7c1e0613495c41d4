// The connection as one state value, and what the page says about it. Pure: connection.js
// feeds it events and renders describe(); Node's test runner imports it as it is.
//
//   connecting  the first socket is opening; nothing polled yet
//   live        the socket delivered its snapshot; updates stream over it
//   polling     the socket is down; GET /tasks runs (lastOk: time of its last answer, or 0)
//   offline     the socket is down and GET /tasks fails too
//   auth        the server refused the token (socket closed with 4401, or a 401)

export const POLL_MS = 2000;     // GET /tasks period while the socket is down

export const INITIAL = Object.freeze({ name: 'connecting' });
const LIVE = Object.freeze({ name: 'live' });
const OFFLINE = Object.freeze({ name: 'offline' });
const AUTH = Object.freeze({ name: 'auth' });
const WS_UNAUTHORIZED = 4401;    // the close code of a socket whose token was refused

// Events:
//   { type: 'snapshot' }                          the socket delivered a whole state
//   { type: 'socket-closed', code }
//   { type: 'poll-ok', at (ms), socketOpen }      socketOpen: a socket is opening meanwhile
//   { type: 'poll-failed', status }               status: HTTP status, 0 when unreachable
//   { type: 'rejected' }                          a REST call was refused with 401
export function nextState(state, event) {
  switch (event.type) {
    case 'snapshot':
      return LIVE;
    case 'socket-closed':
      if (event.code === WS_UNAUTHORIZED) return AUTH;
      // Once the socket is down, the polls (started now, or already running) tell how it goes.
      return state.name === 'live' || state.name === 'connecting' ? { name: 'polling', lastOk: 0 } : state;
    case 'poll-ok':
      // While a socket is opening, its answer decides whether the token is good.
      if (state.name === 'auth' && event.socketOpen) return state;
      return { name: 'polling', lastOk: event.at };
    case 'poll-failed':
      if (event.status === 401) return AUTH;
      return state.name === 'auth' ? state : OFFLINE;
    case 'rejected':
      return AUTH;
    default:
      throw new Error(`unknown connection event ${event.type}`);
  }
}

// True when the last poll was answered: a poll answering after a silence is the moment to
// try the socket again instead of waiting out the backoff.
export const serverAnswering = (state) => state.name === 'polling' && state.lastOk > 0;

// { mode (the state's name, for #conn[data-mode]), text, retry (the reconnect countdown) }.
// socketOpen: a socket is opening; retryAt: when the next one opens (ms); now (ms).
export function describe(state, { token, socketOpen, retryAt, now }) {
  const mode = state.name;
  const retryIn = Math.max(0, Math.ceil((retryAt - now) / 1000));
  const retry = socketOpen ? 'Reconnecting now.' : `Reconnecting in ${retryIn} s.`;
  const every = `every ${POLL_MS / 1000} s`;
  switch (mode) {
    case 'connecting':
      return { mode, text: 'Connecting…', retry: '' };
    case 'live':
      return { mode, text: 'Live: updates stream over WebSocket', retry: '' };
    case 'auth':
      return {
        mode,
        retry,
        text: token
          ? 'Access denied: the server rejected the API token given in the page address (?token=). Enter the right token.'
          : 'Access denied: this server needs an API token. Add ?token=… to the page address or enter it here.',
      };
    case 'offline':
      return { mode, text: `Disconnected: server unreachable. Polling GET /tasks ${every}.`, retry };
    default:
      return {
        mode,
        text: `Disconnected: polling GET /tasks ${every}.`,
        retry: state.lastOk ? `Last answer ${new Date(state.lastOk).toLocaleTimeString()}. ${retry}` : retry,
      };
  }
}

// Polled answers older than this no longer count as a live view (a poll hanging until its
// timeout, 10 s, would otherwise leave old numbers looking current).
export const POLL_FRESH_MS = 3 * POLL_MS;

// Whether the board shows what the server holds now. Live, and polling whose last answer is
// recent (GET /tasks delivers the whole state every POLL_MS: a fallback that works is a view as
// current as any), are fresh; connecting, offline, a refused token and polling with no recent
// answer are not, and the board is dimmed (#board[data-stale-view]).
export function isFresh(state, now) {
  if (state.name === 'live') return true;
  return state.name === 'polling' && state.lastOk > 0 && now - state.lastOk <= POLL_FRESH_MS;
}

// What the summary line and the empty buckets say about the connection, so a refused token or
// a server never reached does not read as an empty board ("0 tasks", "No active tasks").
// loaded: the page has had a state from the server (a snapshot or a poll) at least once.
// { stale (dim the board), kind ('' | 'auth' | 'offline': the summary's colour),
//   line (replaces the summary line, or null), prefix (put before it, or null),
//   empty (a bucket with no task says this instead of its own text, or null) }.
export function boardNotice(state, { loaded, token, now }) {
  const stale = !isFresh(state, now);
  const notice = { stale, kind: '', line: null, prefix: null, empty: null };
  if (!stale) return notice;
  if (state.name === 'auth') {
    notice.kind = 'auth';
    if (loaded) {
      notice.prefix = 'API token refused: the last known state, not updating.';
    } else {
      notice.line = token
        ? 'Cannot load the board: the server refused the API token given.'
        : 'Cannot load the board: the server refused access without an API token.';
      notice.empty = 'Cannot load: API token refused.';
    }
    return notice;
  }
  notice.kind = 'offline';
  if (!loaded) {
    notice.line = state.name === 'connecting'
      ? 'Not connected yet: connecting to the server…'
      : 'Not connected yet: the server has not answered.';
    notice.empty = 'Not connected yet.';
  } else if (state.name === 'polling' && state.lastOk > 0) {
    notice.prefix = `No answer since ${new Date(state.lastOk).toLocaleTimeString()}: the last known state.`;
  } else {
    notice.prefix = 'Disconnected: the last known state, not updating.';
  }
  return notice;
}
