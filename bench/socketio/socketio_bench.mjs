// Socket.IO fan-out beside the delta protocol, in one run against one `progressista serve`
// (started by bench/socketio/run.sh, which passes its URL and PID): phase 1, CLIENTS sockets of
// the official socket.io-client (websocket transport) spread over ROOMS rooms; phase 2, as many
// delta-protocol WebSockets (/ws?protocol=delta) watching everything. In each phase events are
// POSTed at RATE a second for DURATION seconds, round-robin over the ROOMS tasks. Latency of a
// delivered state = arrival time - the task's updated_at (both this host's clock), so it counts
// the tick and the 100 ms room throttle; the server's CPU is read from /proc/PID/stat over the
// posting window. Bounded: every phase ends after DURATION + 20 s at the latest.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../tests/browser/package.json'));
const { io } = require('socket.io-client');
const WebSocket = require('ws');  // socket.io-client's own WebSocket package (package-lock.json)

const [url, pidText] = process.argv.slice(2);
const CLIENTS = Number(process.env.CLIENTS || 1000);
const ROOMS = Number(process.env.ROOMS || 10);
const RATE = Number(process.env.RATE || 1000);
const DURATION = Number(process.env.DURATION || 10);
const pid = Number(pidText);
const ticks = 100;  // USER_HZ on Linux

function cpuSeconds() {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / ticks;  // utime + stime
}

function pct(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

async function post(body) {
  const res = await fetch(`${url}/progress`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-ndjson' }, body,
  });
  if (!res.ok) throw new Error(`POST /progress -> ${res.status}`);
  await res.text();
}

const task = (r) => `sio-bench-${r}`;
let n = 0;

// Posts RATE events a second for DURATION seconds, in NDJSON batches every 10 ms, from a child
// process (this one is busy receiving); resolves with the number of events posted.
function load() {
  const script = `
    const [url, rate, duration, rooms, n0] = process.argv.slice(1).map((v, i) => i ? Number(v) : v);
    let n = n0, sent = 0;
    const start = Date.now();
    (async () => {
      while (Date.now() - start < duration * 1000) {
        const due = Math.floor(((Date.now() - start) / 1000) * rate);
        if (sent >= due) { await new Promise((r) => setTimeout(r, 2)); continue; }
        const lines = [];
        for (; sent < due && lines.length < Math.max(1, rate / 10); ++sent)
          lines.push(JSON.stringify({ task_id: 'sio-bench-' + (sent % rooms), n: ++n, total: 1e9 }));
        const r = await fetch(url + '/progress', { method: 'POST',
          headers: { 'Content-Type': 'application/x-ndjson' }, body: lines.join('\\n') });
        if (!r.ok) process.exit(1);
        await r.text();
      }
      process.stdout.write(String(sent));
    })();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, url, RATE, DURATION, ROOMS, n],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.once('exit', (code) => {
      if (code !== 0) { reject(new Error(`the poster exited with ${code}`)); return; }
      n += Number(out);
      resolve(Number(out));
    });
  });
}

async function until(pred, what, ms) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function phase(name, open) {
  const lat = [];
  let measuring = false;
  const clients = await open((ms) => { if (measuring) lat.push(ms); });
  await new Promise((r) => setTimeout(r, 500));  // let the joins and snapshots settle
  measuring = true;
  const cpu0 = cpuSeconds();
  const t0 = Date.now();
  const sent = await load();
  const wall = (Date.now() - t0) / 1000;
  const cpu = cpuSeconds() - cpu0;
  await new Promise((r) => setTimeout(r, 500));  // the last tick and throttle window
  measuring = false;
  for (const c of clients) c.close();
  lat.sort((a, b) => a - b);
  return { name, sent, received: lat.length, p50: pct(lat, 50), p99: pct(lat, 99), cpu: (100 * cpu) / wall };
}

async function socketio(record) {
  const sockets = [];
  let joined = 0;
  for (let i = 0; i < CLIENTS; ++i) {
    const s = io(url, { forceNew: true, transports: ['websocket'], reconnection: false });
    s.once('progress-status', () => { joined += 1; });
    s.on('connect', () => s.emit('join-progress', task(i % ROOMS)));
    s.on('progress-update', (p) => record(Date.now() - p.timestamp));
    sockets.push({ close: () => s.disconnect() });
  }
  await until(() => joined === CLIENTS, 'every socket joined', 60000);
  return sockets;
}

async function delta(record) {
  const sockets = [];
  let ready = 0;
  for (let i = 0; i < CLIENTS; ++i) {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws?protocol=delta`);
    let first = true;
    ws.on('message', (data) => {
      const now = Date.now();
      const f = JSON.parse(data);
      if (first) { first = false; ready += 1; return; }  // the snapshot
      if (f.type !== 'delta') return;
      for (const t of Object.values(f.upserts || {})) record(now - t.updated_at * 1000);
    });
    sockets.push({ close: () => ws.terminate() });
  }
  await until(() => ready === CLIENTS, 'every delta client\'s snapshot', 60000);
  return sockets;
}

const limit = setTimeout(() => { console.error('socketio_bench: over its time bound'); process.exit(2); },
  (2 * DURATION + 200) * 1000);
await post(Array.from({ length: ROOMS }, (_, r) => JSON.stringify({ task_id: task(r), n: 0, total: 1e9 })).join('\n'));
const rows = [await phase('socket.io rooms', socketio), await phase('delta /ws', delta)];
clearTimeout(limit);
console.log(`${CLIENTS} clients, ${ROOMS} tasks (rooms), ${RATE} events/s for ${DURATION} s`);
console.log('| protocol | events posted | states delivered | p50 ms | p99 ms | server CPU % |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  console.log(`| ${r.name} | ${r.sent} | ${r.received} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.cpu.toFixed(1)} |`);
}
process.exit(0);
