// The live link to the server: a WebSocket (the compact delta protocol, delta2, decoded by
// compact_delta.js) while it holds, GET /tasks polling while it is down, reconnecting with
// backoff, and the #conn status line. The state shown is one value from connection_state.js;
// the socket and the timers here only feed it events.

import { api, getToken, setToken, wsUrl } from './api.js';
import { showAlert } from './alerts.js';
import { createCompactDecoder } from './compact_delta.js';
import { INITIAL, POLL_MS, boardNotice, describe, nextState, serverAnswering } from './connection_state.js';

const BACKOFF_BASE_MS = 500;     // first reconnect delay; doubles per failed attempt
const BACKOFF_MAX_MS = 30000;    // issue 5: capped at 30 s

// onNotice(notice) is called when what the board should say about the connection changes
// (connection_state.js boardNotice: dimmed, the summary's and empty buckets' texts).
export function createConnection(store, { onNotice = () => {} } = {}) {
  const connEl = document.getElementById('conn');
  const connText = document.getElementById('conn-text');
  const connRetry = document.getElementById('conn-retry');
  const tokenForm = document.getElementById('token-form');
  const tokenInput = document.getElementById('token-input');

  let state = INITIAL;
  let ws = null;                 // the socket opening or open
  let attempt = 0;               // failed connection attempts since the last good one
  let retryTimer = 0;
  let retryAt = 0;
  let polling = false;
  let pollTimer = 0;
  let pollRound = 0;             // a poll answering after its round ended is dropped
  let loaded = false;            // a snapshot or a poll has given the board a state
  let noticeKey = '';            // the last notice passed to onNotice

  function render() {
    const { mode, text, retry } = describe(state, {
      token: getToken(), socketOpen: ws !== null, retryAt, now: Date.now(),
    });
    if (connEl.dataset.mode !== mode) connEl.dataset.mode = mode;
    if (connText.textContent !== text) connText.textContent = text;
    if (connRetry.textContent !== retry) connRetry.textContent = retry;
    const notice = boardNotice(state, { loaded, token: getToken(), now: Date.now() });
    const key = JSON.stringify(notice);
    if (key !== noticeKey) { noticeKey = key; onNotice(notice); }
  }

  function dispatch(event) {
    if (event.type === 'snapshot' || event.type === 'poll-ok') loaded = true;
    state = nextState(state, event);
    tokenForm.hidden = state.name !== 'auth';
    render();
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    if (ws) return;
    let sock;
    try {
      sock = new WebSocket(wsUrl());
    } catch (err) {
      showAlert(`Cannot open the WebSocket: ${err.message}`);
      scheduleReconnect();
      return;
    }
    ws = sock;
    let sockSeq = 0;       // seq of the newest state this socket delivered
    let synced = false;    // this socket delivered its snapshot: deltas apply on top of it
    const decoder = createCompactDecoder();   // v2 frames name tasks by handles held here
    let resyncing = false; // asked for a fresh snapshot, not yet had it
    render();
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg.type === 'delta') {
        // A delta at or below the state already held repeats it: skip it.
        if (typeof msg.seq === 'number' && msg.seq <= sockSeq) return;
        if (typeof msg.seq === 'number') sockSeq = msg.seq;
        if (!synced) return;
        if (msg.v !== 2) { store.queueDelta(msg); return; }
        const delta = decoder.delta(msg);
        store.queueDelta(delta);
        // An update of a task this socket never got: only a snapshot can give it. Unsubscribe
        // (back to everything, the view this page always watches) is answered with one.
        if (delta.resync && !resyncing) {
          resyncing = true;
          sock.send(JSON.stringify({ op: 'unsubscribe' }));
        }
      } else if (msg.type === 'snapshot' || (msg.type === undefined && msg.tasks)) {
        sockSeq = typeof msg.seq === 'number' ? msg.seq : 0;
        resyncing = false;
        store.queueSnapshot(msg.v === 2 ? decoder.snapshot(msg) : msg.tasks);
        if (!synced) {
          synced = true;
          attempt = 0;
          stopPolling();
          dispatch({ type: 'snapshot' });
        }
      } else if (msg.type === 'error') {
        showAlert(`Server: ${typeof msg.detail === 'string' ? msg.detail : JSON.stringify(msg.detail)}`);
      }
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      dispatch({ type: 'socket-closed', code: ev.code });
      scheduleReconnect();
      startPolling();
    };
  }

  function scheduleReconnect() {
    clearTimeout(retryTimer);
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 16));
    const delay = Math.min(BACKOFF_MAX_MS, base * (0.8 + Math.random() * 0.4));
    attempt++;
    retryAt = Date.now() + delay;
    retryTimer = setTimeout(connect, delay);
    render();
  }

  function reconnectNow() {
    if (ws) return;
    attempt = 0;
    connect();
  }

  function startPolling() {
    if (polling) return;
    polling = true;
    pollOnce(++pollRound);
  }

  function stopPolling() {
    polling = false;
    pollRound++;
    clearTimeout(pollTimer);
    pollTimer = 0;
  }

  async function pollOnce(round) {
    if (round !== pollRound) return;
    const wasAnswering = serverAnswering(state);
    try {
      const body = await api('GET', 'tasks');
      if (round !== pollRound) return;  // the socket came back meanwhile: its snapshot is newer
      store.queueSnapshot(body && body.tasks);
      dispatch({ type: 'poll-ok', at: Date.now(), socketOpen: ws !== null });
      // The server answers again after a silence: try the socket now instead of waiting out
      // the backoff. (A proxy that never lets the socket through keeps polls steady, so this
      // cannot turn into a fast reconnect loop.)
      if (!wasAnswering) reconnectNow();
    } catch (err) {
      if (round !== pollRound) return;
      dispatch({ type: 'poll-failed', status: err.status });
    } finally {
      if (round === pollRound) pollTimer = setTimeout(pollOnce, POLL_MS, round);
      render();
    }
  }

  tokenForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    setToken(tokenInput.value.trim());
    tokenInput.value = '';
    if (ws) { const old = ws; ws = null; old.close(); }
    reconnectNow();
  });

  window.addEventListener('online', reconnectNow);

  return {
    start() { render(); connect(); },
    // Once a second: the reconnect countdown.
    render,
    // A REST call was refused with 401.
    rejected() { dispatch({ type: 'rejected' }); },
  };
}
