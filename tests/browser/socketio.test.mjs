// Socket.IO progress rooms (/socket.io/) against the official socket.io-client (pinned in
// package-lock.json) under Node, with a real `progressista serve` per test. Events are posted
// with plain HTTP POSTs; every wait polls a condition or an event, never a bare sleep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { io } from 'socket.io-client';
import { startServe, post, until } from './harness.mjs';

const EVENTS = ['progress-status', 'progress-update', 'progress-complete', 'progress-error'];
const LONG = 30000;  // generous: a loaded machine, or a sanitizer build

// A client socket that records every progress event with its arrival time.
function client(server, opts = {}) {
  const socket = io(server.url, { forceNew: true, reconnection: false, timeout: LONG, ...opts });
  socket.got = [];
  for (const name of EVENTS) {
    socket.on(name, (payload) => socket.got.push({ name, payload, at: Date.now() }));
  }
  return socket;
}

function connected(socket) {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connect within the limit')), LONG);
    socket.once('connect', () => { clearTimeout(timer); resolve(); });
    socket.once('connect_error', (err) => { clearTimeout(timer); reject(err); });
  });
}

const events = (socket, name) => socket.got.filter((e) => e.name === name);
const waitFor = (socket, name, pred = () => true, what = name) =>
  until(() => events(socket, name).find((e) => pred(e.payload)), what, LONG);

async function withServe(opts, fn) {
  const server = await startServe(opts);
  const sockets = [];
  try {
    await fn(server, (o) => { const s = client(server, o); sockets.push(s); return s; });
  } finally {
    for (const s of sockets) s.disconnect();
    await server.cleanup();
  }
}

test('websocket only: join before the task exists, then status, update, complete', async () => {
  await withServe({}, async (server, make) => {
    const s = make({ transports: ['websocket'] });
    await connected(s);
    assert.equal(s.io.engine.transport.name, 'websocket');
    s.emit('join-progress', 'ws-1');
    // The join is handled before the task appears: its first event is the status.
    await until(async () => {
      await post(server, { task_id: 'ws-1', desc: 'Import', n: 1, total: 4, phase: 'read', meta: { file: 'a.csv' } });
      return events(s, 'progress-status').length > 0;
    }, 'progress-status of a task created after the join', LONG, 300);
    const status = events(s, 'progress-status')[0].payload;
    assert.equal(status.sessionId, 'ws-1');
    assert.equal(status.status, 'processing');
    assert.equal(status.progress, 25);
    assert.equal(typeof status.timestamp, 'number');
    assert.ok(Math.abs(status.timestamp - Date.now()) < 60000, 'timestamp in epoch ms');
    assert.deepEqual(status.metadata, { file: 'a.csv', operation: 'Import', phase: 'read', currentStep: 1, totalSteps: 4 });
    await post(server, { task_id: 'ws-1', n: 3, message: 'three' });
    const upd = await waitFor(s, 'progress-update', (p) => p.metadata.currentStep === 3);
    assert.equal(upd.payload.message, 'three');
    assert.equal(upd.payload.progress, 75);
    await post(server, { task_id: 'ws-1', n: 4, status: 'close' });
    const done = await waitFor(s, 'progress-complete');
    assert.equal(done.payload.status, 'completed');
    assert.equal(done.payload.progress, 100);
  });
});

test('polling only: join after the task exists gets its current state; error', async () => {
  await withServe({}, async (server, make) => {
    await post(server, { task_id: 'poll-1', desc: 'Load', n: 5, total: 10 });
    const s = make({ transports: ['polling'], upgrade: false });
    await connected(s);
    assert.equal(s.io.engine.transport.name, 'polling');
    s.emit('join-progress', 'poll-1');
    const st = await waitFor(s, 'progress-status');
    assert.equal(st.payload.progress, 50);
    assert.equal(st.payload.metadata.operation, 'Load');
    await post(server, { task_id: 'poll-1', n: 6 });
    await waitFor(s, 'progress-update', (p) => p.metadata.currentStep === 6);
    await post(server, { task_id: 'poll-1', status: 'error', error: 'disk full' });
    const err = await waitFor(s, 'progress-error');
    assert.equal(err.payload.status, 'error');
    assert.equal(err.payload.error.detail, 'disk full');
    assert.equal(typeof err.payload.error.code, 'string');
    assert.equal(s.io.engine.transport.name, 'polling');
  });
});

test('polling upgraded to websocket keeps the room', async () => {
  await withServe({}, async (server, make) => {
    const s = make({ transports: ['polling', 'websocket'] });
    await connected(s);
    s.emit('join-progress', 'up-1');
    await until(() => s.io.engine.transport.name === 'websocket', 'the upgrade to websocket', LONG);
    await post(server, { task_id: 'up-1', n: 1, total: 2 });
    await waitFor(s, 'progress-status');
    await post(server, { task_id: 'up-1', n: 2 });
    await waitFor(s, 'progress-update', (p) => p.metadata.currentStep === 2);
    await post(server, { task_id: 'up-1', status: 'close' });
    await waitFor(s, 'progress-complete');
  });
});

test('updates of a room are at least 100 ms apart and the latest wins', async () => {
  await withServe({}, async (server, make) => {
    await post(server, { task_id: 'thr-1', n: 0, total: 1000 });
    const s = make({ transports: ['websocket'] });
    await connected(s);
    s.emit('join-progress', 'thr-1');
    await waitFor(s, 'progress-status');
    // The posts come from another process, so that this one only receives: its arrival times
    // are then the server's sending times plus loopback and scheduling.
    const posts = 60;
    const poster = spawn(process.execPath, ['-e', `
      (async () => {
        for (let i = 1; i <= ${posts}; ++i) {
          const r = await fetch('${server.url}/progress', { method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ task_id: 'thr-1', n: i }) });
          if (!r.ok) process.exit(1);
        }
      })();`], { stdio: 'ignore' });
    const exit = await new Promise((resolve) => poster.once('exit', resolve));
    assert.equal(exit, 0, 'the poster process');
    await waitFor(s, 'progress-update', (p) => p.metadata.currentStep === posts, 'the last state');
    const ups = events(s, 'progress-update');
    assert.ok(ups.length < posts, `coalesced: ${ups.length} updates for ${posts} posts`);
    for (let i = 1; i < ups.length; ++i) {
      // Sent >= 100 ms apart; an arrival may be late by some scheduling on a busy machine,
      // which shortens one gap and lengthens the next, so pairs of gaps are checked too.
      const gap = ups[i].at - ups[i - 1].at;
      assert.ok(gap >= 70, `updates ${i - 1} and ${i} ${gap} ms apart`);
      if (i >= 2) assert.ok(ups[i].at - ups[i - 2].at >= 170, `updates ${i - 2}..${i} ${ups[i].at - ups[i - 2].at} ms`);
      assert.ok(ups[i].payload.metadata.currentStep > ups[i - 1].payload.metadata.currentStep, 'never older state');
    }
  });
});

test('leave stops the events; rooms are isolated', async () => {
  await withServe({}, async (server, make) => {
    await post(server, [{ task_id: 'iso-a', n: 0, total: 9 }, { task_id: 'iso-b', n: 0, total: 9 }]);
    const a = make({ transports: ['websocket'] });
    const b = make({ transports: ['polling'], upgrade: false });
    await Promise.all([connected(a), connected(b)]);
    a.emit('join-progress', 'iso-a');
    b.emit('join-progress', 'iso-b');
    await waitFor(a, 'progress-status');
    await waitFor(b, 'progress-status');
    await post(server, { task_id: 'iso-a', n: 1 });
    await waitFor(a, 'progress-update', (p) => p.metadata.currentStep === 1);
    await post(server, { task_id: 'iso-b', n: 2 });
    await waitFor(b, 'progress-update', (p) => p.metadata.currentStep === 2);
    assert.ok(a.got.every((e) => e.payload.sessionId === 'iso-a'), 'a sees only its room');
    assert.ok(b.got.every((e) => e.payload.sessionId === 'iso-b'), 'b sees only its room');
    // Leave, acknowledged; afterwards a completion of the room no longer reaches it, while
    // the other room's still does (and comes after it: the same tick or a later one).
    const ack = await a.timeout(LONG).emitWithAck('leave-progress', 'iso-a');
    assert.equal(ack.ok, true);
    assert.equal(ack.room, 'progress-iso-a');
    await post(server, { task_id: 'iso-a', status: 'close' });
    a.emit('join-progress', 'iso-b');
    await waitFor(a, 'progress-status', (p) => p.sessionId === 'iso-b');
    await post(server, { task_id: 'iso-b', status: 'close' });
    await waitFor(a, 'progress-complete', (p) => p.sessionId === 'iso-b');
    assert.equal(events(a, 'progress-complete').filter((e) => e.payload.sessionId === 'iso-a').length, 0);
  });
});

test('1,000 sockets over 100 rooms all get their completion', async () => {
  await withServe({}, async (server, make) => {
    const rooms = 100;
    const perRoom = 10;
    await post(server, Array.from({ length: rooms }, (_, r) => ({ task_id: `many-${r}`, n: 0, total: 10 })));
    const sockets = [];
    for (let r = 0; r < rooms; ++r) {
      for (let k = 0; k < perRoom; ++k) {
        const s = make({ transports: ['websocket'] });
        s.room = `many-${r}`;
        s.on('connect', () => s.emit('join-progress', s.room));
        sockets.push(s);
      }
    }
    await until(() => sockets.every((s) => events(s, 'progress-status').length > 0),
      'every socket joined (its status)', 60000, 100);
    await post(server, Array.from({ length: rooms }, (_, r) => ({ task_id: `many-${r}`, n: 10, status: 'close' })));
    await until(() => sockets.every((s) => events(s, 'progress-complete').length === 1),
      'every socket got its completion', 60000, 100);
    for (const s of sockets) {
      const done = events(s, 'progress-complete')[0].payload;
      assert.equal(done.sessionId, s.room);
      assert.equal(done.progress, 100);
    }
  });
});

test('tokens: auth.token, ?token= and Authorization accepted; a bad one gets connect_error', async () => {
  await withServe({ env: { PROGRESSISTA_API_TOKEN: 'sekrit' } }, async (server, make) => {
    await post(server, { task_id: 'tok-1', n: 1, total: 2 }, { token: 'sekrit' });
    const good = make({ transports: ['websocket'], auth: { token: 'sekrit' } });
    await connected(good);
    good.emit('join-progress', 'tok-1');
    await waitFor(good, 'progress-status');
    const byQuery = make({ transports: ['polling'], query: { token: 'sekrit' } });
    await connected(byQuery);
    const byHeader = make({ transports: ['polling'], extraHeaders: { Authorization: 'Bearer sekrit' } });
    await connected(byHeader);
    for (const opts of [{ auth: { token: 'wrong' } }, {}]) {
      const bad = make({ transports: ['websocket'], ...opts });
      await assert.rejects(connected(bad), (err) => {
        assert.match(err.message, /Invalid API token/);
        return true;
      });
    }
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: { Authorization: 'Bearer sekrit' } })).text();
    assert.match(metrics, /progressista_socketio_rejected_total\{reason="auth"\} 2/);
  });
});

test('the server restarted: the client reconnects and re-joins', async () => {
  const first = await startServe();
  const { port, segment } = first;
  let second;
  const s = io(first.url, { forceNew: true, transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 500 });
  s.got = [];
  for (const name of EVENTS) s.on(name, (payload) => s.got.push({ name, payload, at: Date.now() }));
  let connects = 0;
  s.on('connect', () => { connects += 1; s.emit('join-progress', 'rs-1'); });
  try {
    await post(first, { task_id: 'rs-1', n: 1, total: 3 });
    await waitFor(s, 'progress-status', (p) => p.progress > 33 && p.progress < 34);
    await first.stop();
    await until(() => !s.connected, 'the disconnect', LONG);
    second = await startServe({ port, segment });
    await until(() => connects >= 2, 'the reconnect', LONG);
    await post(second, { task_id: 'rs-1', n: 2 });
    await until(() => s.got.some((e) => e.payload.metadata.currentStep === 2), 'an event after the re-join', LONG);
  } finally {
    s.disconnect();
    await first.cleanup();
    if (second) await second.cleanup();
  }
});
