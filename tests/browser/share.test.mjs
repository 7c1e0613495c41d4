// A share link in a real headless Chromium against a real `progressista serve` with an API
// token and a share secret: the board opened with ?share= shows only the link's scope, live,
// and its requests (REST and WebSocket) all carry the link.
// Run: PROGRESSISTA_BIN=build/daemon/progressista node --test share.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  BIN, startServe, post, launchBrowser, openPage, screenshot, waitLive, waitEqual, noPageErrors,
} from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const SECRET = 'browser-test-share-secret-0123456789';
const WRITER = 'writer-token';
const shownIds = (page) => page.locator('.card').evaluateAll((cs) => cs.map((c) => c.dataset.id).sort());

test('a board opened with ?share= shows only its project, live, and never asks for a token', async () => {
  const server = await startServe({
    env: { PROGRESSISTA_API_TOKEN: WRITER, PROGRESSISTA_SHARE_SECRET: SECRET },
  });
  try {
    await post(server, [
      { task_id: 'alpha-1', project: 'alpha', desc: 'Alpha one', n: 1, total: 10, status: 'start' },
      { task_id: 'alpha-2', project: 'alpha', desc: 'Alpha two', n: 2, total: 10, status: 'start' },
      { task_id: 'beta-1', project: 'beta', desc: 'Beta one', n: 3, total: 10, status: 'start' },
    ], { token: WRITER });

    // The link as `progressista share` prints it, with the server's secret.
    const made = spawnSync(BIN, ['share', '--project', 'alpha', '--expires', '1h', '--base-url', server.url],
      { env: { PATH: process.env.PATH, PROGRESSISTA_SHARE_SECRET: SECRET }, encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const link = made.stdout.trim();
    assert.match(link, /\/\?share=ps1\./);

    const requests = [];
    const page = await openPage(browser, link, {
      before: (p) => {
        p.on('request', (r) => { if (!r.url().includes('/static/')) requests.push(r.url()); });
        p.on('websocket', (ws) => requests.push(ws.url()));
      },
    });
    await waitLive(page);
    await waitEqual(() => shownIds(page), ['alpha-1', 'alpha-2'], 'only the link\'s project');
    assert.equal(await page.locator('#token-form').isHidden(), true, 'no token asked for');
    // Read-only: no control that writes (the server would answer 403).
    for (const sel of ['#clear-close', '#clear-stale', '.card .discard', '.card .ack']) {
      assert.equal(await page.locator(sel).first().isVisible(), false, `${sel} hidden`);
    }

    // Live: a change in the scope shows, one outside never does.
    await post(server, [
      { task_id: 'beta-2', project: 'beta', desc: 'Beta two', n: 1, total: 10, status: 'start' },
      { task_id: 'alpha-3', project: 'alpha', desc: 'Alpha three', n: 1, total: 10, status: 'start' },
    ], { token: WRITER });
    await waitEqual(() => shownIds(page), ['alpha-1', 'alpha-2', 'alpha-3'], 'the new alpha task, not beta-2');
    await screenshot(page, 'share-alpha');

    assert.ok(requests.some((u) => u.startsWith('ws') && u.includes('share=')), `a WebSocket with the link: ${requests}`);
    for (const u of requests.filter((x) => /\/(tasks|summary|ws)\b/.test(x))) {
      assert.ok(u.includes('share='), `${u} carries the link`);
    }
    noPageErrors(page);
    await page.close();
  } finally {
    await server.cleanup();
  }
});
