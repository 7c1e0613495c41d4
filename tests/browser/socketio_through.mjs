// The socket.io-client side of tests/conf/nginx_site_test.cpp (ThroughNginx.SocketIo...):
// against the URL given (nginx with the shipped site), one socket that starts on polling and
// upgrades to websocket and one websocket-only socket join a room, then get its status, an
// update and its completion; the events are posted through the same URL. Exits 0 when all
// arrived, 1 (with why on stderr) otherwise; bounded by a 60 s limit.
import { io } from 'socket.io-client';

const url = process.argv[2];
const task = `nginx-${process.pid}`;
const limit = setTimeout(() => fail('timed out after 60 s'), 60000);

function fail(why) {
  process.stderr.write(`socketio_through: ${why}\n`);
  process.exit(1);
}

async function post(event) {
  const res = await fetch(`${url}/progress`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(event),
  });
  if (!res.ok) fail(`POST /progress -> ${res.status} ${await res.text()}`);
}

function open(transports) {
  const s = io(url, { forceNew: true, reconnection: false, transports });
  s.got = [];
  for (const name of ['progress-status', 'progress-update', 'progress-complete']) {
    s.on(name, (p) => { if (p.sessionId === task) s.got.push(name); });
  }
  s.on('connect_error', (err) => fail(`connect_error (${transports}): ${err.message}`));
  return new Promise((resolve) => s.on('connect', () => { s.emit('join-progress', task); resolve(s); }));
}

async function until(pred, what) {
  const deadline = Date.now() + 50000;
  while (!pred()) {
    if (Date.now() > deadline) fail(`no ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

await post({ task_id: task, n: 1, total: 3, desc: 'through nginx' });
const upgraded = await open(['polling', 'websocket']);
const ws = await open(['websocket']);
const both = [upgraded, ws];
await until(() => both.every((s) => s.got.includes('progress-status')), 'progress-status');
await until(() => upgraded.io.engine.transport.name === 'websocket', 'upgrade to websocket');
await post({ task_id: task, n: 2 });
await until(() => both.every((s) => s.got.includes('progress-update')), 'progress-update');
await post({ task_id: task, n: 3, status: 'close' });
await until(() => both.every((s) => s.got.includes('progress-complete')), 'progress-complete');
for (const s of both) s.disconnect();
clearTimeout(limit);
process.stdout.write('ok\n');
