// The dashboard's connection state (static/js/connection_state.js): one value, changed by
// events, and the status line it reads as.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INITIAL, describe, nextState, serverAnswering } from '../../static/js/connection_state.js';

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
