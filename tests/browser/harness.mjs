// Shared helpers of the browser tests: a real `progressista serve` per test (port 0, its own
// segment, stopped by PID, segment removed), Debian's Chromium through playwright-core, and
// small waiting helpers. Nothing here sleeps to wait for a result: every wait polls a condition.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { chromium } from 'playwright-core';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '../..');
export const BIN = process.env.PROGRESSISTA_BIN || path.join(REPO, 'build/daemon/progressista');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const STATIC_DIR = path.join(REPO, 'static');
export const ARTIFACTS = process.env.ARTIFACTS_DIR || path.join(REPO, 'test-artifacts', 'browser');

let segments = 0;

export function uniqueSegment(tag) {
  return `dash-${tag}-${process.pid}-${++segments}`;
}

function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PROGRESSISTA_')) env[k] = v;
  return { ...env, ...extra };
}

// Starts `progressista serve` and resolves once it logs its port. `stop()` sends SIGTERM to
// that PID (SIGKILL after 5 s) and waits for the exit; `cleanup()` also removes the segment.
export async function startServe({ port = 0, segment = uniqueSegment('t'), env = {}, args = [] } = {}) {
  const child = spawn(BIN, ['serve', '--port', String(port), '--segment', segment,
    '--static-dir', STATIC_DIR, ...args],
  { env: cleanEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const server = {
    child, pid: child.pid, segment, port: 0, url: '', exited,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid, 'SIGTERM');
        const timer = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
        await exited;
        clearTimeout(timer);
      }
    },
    async cleanup() {
      await server.stop();
      fs.rmSync(`/dev/shm/${segment}`, { force: true });
    },
  };
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start within 15 s:\n${log}`)), 15000);
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /serve listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m && !server.port) {
        server.port = Number(m[1]);
        server.url = `http://127.0.0.1:${server.port}`;
        clearTimeout(timer);
        resolve();
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code ?? signal}) before listening:\n${log}`));
    });
  });
  return server;
}

export async function post(server, events, { token } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${server.url}/progress`, { method: 'POST', headers, body: JSON.stringify(events) });
  const body = await res.text();
  if (!res.ok) throw new Error(`POST /progress -> ${res.status} ${body}`);
  return JSON.parse(body);
}

export async function getTasks(server, { token } = {}) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const res = await fetch(`${server.url}/tasks`, { headers });
  if (!res.ok) throw new Error(`GET /tasks -> ${res.status}`);
  return (await res.json()).tasks;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root Chromium needs --no-sandbox; the rest keeps it off a network it cannot reach.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
      '--disable-background-timer-throttling', '--disable-renderer-backgrounding'],
  });
}

// A fresh context and page; page errors are collected so a test can assert there were none.
export async function openPage(browser, url, { viewport = { width: 1280, height: 900 }, colorScheme = 'light', before } = {}) {
  const context = await browser.newContext({ viewport, colorScheme });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(err));
  if (before) await before(page);
  await page.goto(url);
  return page;
}

export async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

// Polls `fn` until it returns a truthy value; fails with `what` after `timeout` ms.
export async function until(fn, what, timeout = 10000, every = 50) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try { last = await fn(); } catch (err) { last = err; }
    if (last && !(last instanceof Error)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// ---- load, shared by the dashboard's load test and bench/dashboard ----

// `rate` events/s in POSTs of `batch`, each raising the `n` of a random task of `ids` by 1-5
// (at most 999, from 0), until `end` (Date.now() milliseconds). Resolves to the events posted.
export async function streamUpdates(server, ids, { rate, end, batch = 50 }) {
  const n = new Map();
  const period = (1000 * batch) / rate;
  let sent = 0;
  let next = Date.now();
  while (Date.now() < end) {
    const events = [];
    for (let k = 0; k < batch; k++) {
      const id = ids[Math.floor(Math.random() * ids.length)];
      const value = Math.min(999, (n.get(id) || 0) + 1 + Math.floor(Math.random() * 5));
      n.set(id, value);
      events.push({ task_id: id, n: value });
    }
    await post(server, events);
    sent += batch;
    next += period;
    const wait = next - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return sent;
}

// Records the interval of every animation frame in the page (and its long tasks) until
// stopFrames, which resolves to { gaps (sorted, ms), longTasks }.
export async function startFrames(page) {
  await page.evaluate(() => {
    const rec = { gaps: [], last: performance.now(), on: true, longTasks: 0 };
    window.__rec = rec;
    const loop = (t) => { rec.gaps.push(t - rec.last); rec.last = t; if (rec.on) requestAnimationFrame(loop); };
    requestAnimationFrame(loop);
    try {
      new PerformanceObserver((list) => { rec.longTasks += list.getEntries().length; }).observe({ type: 'longtask' });
    } catch { /* not supported */ }
  });
}
export async function stopFrames(page) {
  const rec = await page.evaluate(() => {
    window.__rec.on = false;
    return { gaps: window.__rec.gaps.slice(1), longTasks: window.__rec.longTasks };
  });
  rec.gaps.sort((a, b) => a - b);
  return rec;
}

// POST -> card latency measured inside the page, four times a second until `end`: a probe task
// is POSTed by the page and timed until its card shows the new count. Only the cards in view
// exist, and in Active the probe would compete with every other update for the top rows, so it
// is a 'recovered' task: alone in its bucket, always in view, drawn by the same frames.
// Resolves to { latencies (sorted, ms), misses (not shown within 5 s) }. `selector`: where the
// probe's count shows (the table view: '.tt-row[data-id="probe"] .c-count').
export async function probeLatencies(page, end, { selector = '.card[data-id="probe"] .tqdm' } = {}) {
  const latencies = [];
  let misses = 0;
  for (let k = 1; Date.now() < end - 600; k++) {
    const ms = await page.evaluate(async ([value, sel]) => {
      const t = performance.now();
      await fetch('/progress', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ task_id: 'probe', desc: 'Latency probe', n: value, total: 100000, status: 'recovered' }) });
      const want = `${value}/100000`;   // "1/100000 [..." on a card; "11/100000" is not 1's
      return new Promise((resolve) => {
        const check = () => {
          const el = document.querySelector(sel);
          if (el && el.textContent.startsWith(want)) resolve(performance.now() - t);
          else if (performance.now() - t > 5000) resolve(-1);
          else requestAnimationFrame(check);
        };
        check();
      });
    }, [k, selector]);
    if (ms < 0) misses++; else latencies.push(ms);
    await new Promise((r) => setTimeout(r, 250));
  }
  latencies.sort((a, b) => a - b);
  return { latencies, misses };
}

// ---- waits and checks shared by the dashboard's tests ----

export const connMode = (page) => page.evaluate(() => document.getElementById('conn').dataset.mode);

export async function waitLive(page, timeout = 15000) {
  await until(async () => (await connMode(page)) === 'live', 'the dashboard to be live', timeout);
}

// Waits until `read()` deep-equals `want`, then asserts it (so a timeout shows the difference).
export async function waitEqual(read, want, what, timeout = 15000) {
  await until(async () => isDeepStrictEqual(await read(), want), what, timeout).catch(() => {});
  assert.deepEqual(await read(), want, what);
}

// Waits until the locator's text matches `re`; resolves to that text.
export async function waitText(locator, re, what, timeout = 15000) {
  return until(async () => {
    const text = await locator.textContent({ timeout: 200 });
    return re.test(text) && text;
  }, what, timeout);
}

export function noPageErrors(page) {
  assert.deepEqual(page.errors.map(String), [], 'the page threw');
}
