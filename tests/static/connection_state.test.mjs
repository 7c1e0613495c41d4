// The dashboard's connection state (static/js/connection_state.js): one value, changed by
// events, and the status line it reads as.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  INITIAL, POLL_FRESH_MS, boardNotice, describe, isFresh, nextState, serverAnswering,
} from '../../static/js/connection_state.js';

const run = (...events) => events.reduce(nextState, INITIAL);
const closed = (code = 1006) => ({ type: 'socket-closed', code });
const pollOk = (at = 1000, socketOpen = false) => ({ type: 'poll-ok', at, socketOpen });
const pollFailed = (status = 0) => ({ type: 'poll-failed', status });
const view = { token: '', socketOpen: false, retryAt: 0, now: 0 };

test('connecting, then live on the first snapshot', () => {
  assert.equal(INITIAL.name, 'connecting');
  assert.equal(run({ type: 'snapshot' }).name, 'live');
});

test('the socket going down means polling; the polls tell reachable from unreachable', () => {
  const down = run({ type: 'snapshot' }, closed());
  assert.deepEqual(down, { name: 'polling', lastOk: 0 });
  assert.equal(serverAnswering(down), false, 'no answer yet');
  const answered = nextState(down, pollOk(5000));
  assert.deepEqual(answered, { name: 'polling', lastOk: 5000 });
  assert.equal(serverAnswering(answered), true);
  assert.equal(nextState(answered, closed()), answered, 'a failed reconnect changes nothing');
  const offline = nextState(answered, pollFailed());
  assert.equal(offline.name, 'offline');
  assert.equal(serverAnswering(offline), false);
  assert.equal(nextState(offline, pollOk(6000)).lastOk, 6000);
  assert.equal(run(closed()).name, 'polling', 'the first socket failing too');
  assert.equal(nextState(offline, { type: 'snapshot' }).name, 'live');
});

test('a refused token: auth until a snapshot or a poll answered with no socket opening', () => {
  const refused = run(closed(4401));
  assert.equal(refused.name, 'auth');
  assert.equal(nextState(refused, pollFailed()).name, 'auth', 'unreachable says nothing about the token');
  assert.equal(nextState(refused, closed()).name, 'auth');
  assert.equal(nextState(refused, pollOk(1, true)).name, 'auth', 'the opening socket decides');
  assert.equal(nextState(refused, pollOk(1, false)).name, 'polling');
  assert.equal(nextState(refused, { type: 'snapshot' }).name, 'live');
  assert.equal(run(closed(), pollFailed(401)).name, 'auth');
  assert.equal(run({ type: 'snapshot' }, { type: 'rejected' }).name, 'auth');
});

test('an unknown event is a bug, not a state', () => {
  assert.throws(() => nextState(INITIAL, { type: 'nonsense' }), /unknown connection event nonsense/);
});

test('describe: the mode is the state, with the texts the page shows', () => {
  assert.deepEqual(describe(INITIAL, view), { mode: 'connecting', text: 'Connecting…', retry: '' });
  assert.deepEqual(describe(run({ type: 'snapshot' }), { ...view, socketOpen: true }),
    { mode: 'live', text: 'Live: updates stream over WebSocket', retry: '' });
  assert.deepEqual(describe(run(closed()), { ...view, retryAt: 12500, now: 10000 }), {
    mode: 'polling', text: 'Disconnected: polling GET /tasks every 2 s.', retry: 'Reconnecting in 3 s.',
  });
  const answered = describe(run(closed(), pollOk(Date.UTC(2024, 0, 1))), { ...view, socketOpen: true });
  assert.match(answered.retry, /^Last answer \S.*\. Reconnecting now\.$/);
  assert.deepEqual(describe(run(closed(), pollFailed()), { ...view, retryAt: 0, now: 5000 }), {
    mode: 'offline', text: 'Disconnected: server unreachable. Polling GET /tasks every 2 s.', retry: 'Reconnecting in 0 s.',
  });
  const refused = run(closed(4401));
  assert.match(describe(refused, view).text, /^Access denied: this server needs an API token\./);
  assert.match(describe(refused, { ...view, token: 'x' }).text, /server rejected the API token/);
  assert.equal(describe(refused, { ...view, socketOpen: true }).retry, 'Reconnecting now.');
});

test('fresh: live, or polling answered within POLL_FRESH_MS; everything else dims the board', () => {
  const now = 100000;
  assert.equal(isFresh(run({ type: 'snapshot' }), now), true);
  assert.equal(isFresh(INITIAL, now), false, 'connecting');
  assert.equal(isFresh(run(closed()), now), false, 'socket down, no poll answered yet');
  assert.equal(isFresh(run(closed(), pollOk(now - 1000)), now), true, 'a fallback that delivers');
  assert.equal(isFresh(run(closed(), pollOk(now - POLL_FRESH_MS - 1)), now), false, 'polls gone quiet');
  assert.equal(isFresh(run(closed(), pollFailed()), now), false, 'offline');
  assert.equal(isFresh(run(closed(4401)), now), false, 'token refused');
});

test('boardNotice: a refused token or a server never reached is not an empty board', () => {
  const now = 100000;
  const never = { loaded: false, token: '', now };
  const had = { loaded: true, token: '', now };
  assert.deepEqual(boardNotice(run({ type: 'snapshot' }), had),
    { stale: false, kind: '', line: null, prefix: null, empty: null });
  assert.deepEqual(boardNotice(run(closed(), pollOk(now - 500)), had),
    { stale: false, kind: '', line: null, prefix: null, empty: null });

  const refused = boardNotice(run(closed(4401)), never);
  assert.equal(refused.stale, true);
  assert.equal(refused.kind, 'auth');
  assert.match(refused.line, /^Cannot load the board: the server refused access without an API token\.$/);
  assert.match(refused.empty, /API token refused/);
  assert.match(boardNotice(run(closed(4401)), { ...never, token: 'x' }).line, /refused the API token given/);
  const rotated = boardNotice(run({ type: 'snapshot' }, closed(4401)), had);
  assert.equal(rotated.line, null, 'the last known tasks are still counted');
  assert.match(rotated.prefix, /^API token refused: the last known state/);
  assert.equal(rotated.empty, null);

  const connecting = boardNotice(INITIAL, never);
  assert.deepEqual([connecting.stale, connecting.kind, connecting.empty], [true, 'offline', 'Not connected yet.']);
  assert.match(connecting.line, /^Not connected yet: connecting/);
  assert.match(boardNotice(run(closed(), pollFailed()), never).line, /^Not connected yet: the server has not answered\.$/);
  const down = boardNotice(run({ type: 'snapshot' }, closed(), pollFailed()), had);
  assert.deepEqual([down.stale, down.line, down.empty], [true, null, null]);
  assert.match(down.prefix, /^Disconnected: the last known state/);
  assert.match(boardNotice(run(closed(), pollOk(now - POLL_FRESH_MS - 1)), had).prefix, /^No answer since \S/);
});
