// Shared helpers of the browser tests: a real `progressista serve` per test (port 0, its own
// segment, stopped by PID, segment removed), Debian's Chromium through playwright-core, and
// small waiting helpers. Nothing here sleeps to wait for a result: every wait polls a condition.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
