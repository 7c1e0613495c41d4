// The fleet operator's board (issue 14) in a real headless Chromium against a real
// `progressista serve`: failures pinned first and kept until acknowledged (on every open
// dashboard), new-failure notifications, stalled tasks by the server's rule, project roll-ups
// and the throughput charts from GET /summary, at phone width and in dark.
// Run: PROGRESSISTA_BIN=build/daemon/progressista node --test board.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServe, post, getTasks, launchBrowser, openPage, screenshot, until,
  waitLive, waitEqual, waitText, noPageErrors,
} from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

// The page polls GET /summary every 5 s; under ASan everything is slower.
const SUMMARY_WAIT = 30000;

const card = (page, id) => page.locator(`.card[data-id="${id}"]`);
const inBucket = (page, bucket, id) => page.locator(`.bucket[data-bucket="${bucket}"] .card[data-id="${id}"]`);
const bucketIds = (page, bucket) => page.locator(`.bucket[data-bucket="${bucket}"] .card`).evaluateAll((cs) => cs.map((c) => c.dataset.id));
const bucketCount = (page, bucket) => page.locator(`.bucket[data-bucket="${bucket}"] .bucket-count`).textContent();
const shownBuckets = (page) => page.locator('.bucket').evaluateAll((bs) => bs.filter((b) => !b.hidden).map((b) => b.dataset.bucket));
const chipCount = (page, key) => page.locator(`#chips .chip[data-filter="${key}"] .chip-count`).textContent();
const shownIds = (page) => page.locator('.card').evaluateAll((cs) => cs.map((c) => c.dataset.id).sort());
const favicon = (page) => page.evaluate(() => document.querySelector('link[rel="icon"]').getAttribute('href'));
const stored = (page, id) => page.evaluate((x) => window.progressista.task(x), id);

async function summary(server) {
  const res = await fetch(`${server.url}/summary`);
  assert.equal(res.status, 200);
  return res.json();
}

const TRACE = 'Traceback (most recent call last):\n  File "etl.py", line 42, in <module>\n    load(shard)\n' +
  'OSError: [Errno 28] No space left on device: /scratch/shard-3.parquet (node-07 ran out of disk ' +
  'while writing the third shard; clean /scratch and retry)';

test('failures are pinned first with their whole error; acknowledge moves one on every dashboard, Undo brings it back', async () => {
  const server = await startServe();
  try {
    const a = await openPage(browser, `${server.url}/static/index.html`);
    const b = await openPage(browser, `${server.url}/static/index.html`);
    await waitLive(a);
    await waitLive(b);
    assert.equal(await favicon(a), 'favicon.svg', 'the plain icon without failures');

    await post(server, [
      { task_id: 'run-1', desc: 'Still running', n: 1, total: 10, status: 'start' },
      { task_id: 'f-old', desc: 'Old failure', n: 2, total: 10, status: 'start' },
      { task_id: 'f-new', desc: 'Shard 3', n: 3, total: 10, status: 'start' },
    ]);
    await post(server, { task_id: 'f-old', status: 'error', error: 'HTTP 503 from upstream' });
    await inBucket(a, 'error', 'f-old').waitFor();
    await post(server, { task_id: 'f-new', status: 'error', error: TRACE });

    // Failed is the board's first section, newest failure on top, above Active.
    for (const page of [a, b]) {
      await waitEqual(() => bucketIds(page, 'error'), ['f-new', 'f-old'], 'newest failure first');
      const order = await shownBuckets(page);
      assert.equal(order[0], 'error', `Failed first (${order})`);
      assert.ok(order.indexOf('error') < order.indexOf('active'));
      await until(async () => (await page.title()) === '(2 failed) Progressista', 'the failed count in the title');
      await until(async () => (await favicon(page)).startsWith('data:image/svg+xml'), 'a badge on the favicon');
    }
    assert.match(decodeURIComponent(await favicon(a)), />2<\/text>/, 'the badge says 2');

    // The whole error is there and readable: wrapped, kept line by line, scrollable inside its card.
    const note = card(a, 'f-new').locator('.note');
    assert.equal(await note.textContent(), TRACE);
    const style = await note.evaluate((el) => {
      const cs = getComputedStyle(el);
      return { whiteSpace: cs.whiteSpace, overflowY: cs.overflowY, lines: el.clientHeight / parseFloat(cs.lineHeight || '16') };
    });
    assert.equal(style.whiteSpace, 'pre-wrap');
    assert.equal(style.overflowY, 'auto');
    assert.ok(style.lines >= 3, `room for several lines (${style.lines.toFixed(1)})`);
    assert.equal(await card(a, 'f-new').locator('.ack').textContent(), 'Acknowledge');
    assert.equal(await card(a, 'run-1').locator('.ack').isVisible(), false, 'no Acknowledge on a running task');
    await screenshot(a, 'board-failed-pinned');

    // Acknowledge in one dashboard: it moves in both, still counted as failed.
    await card(a, 'f-old').locator('.ack').click();
    for (const page of [a, b]) {
      await waitEqual(() => bucketIds(page, 'error'), ['f-new'], 'the acknowledged failure leaves the pinned ones');
      await waitText(page.locator('.bucket[data-bucket="acked"] .bucket-count'), /^1$/, 'one acknowledged failure');
      assert.ok(typeof (await stored(page, 'f-old')).acknowledged_at === 'number', 'acknowledged_at in the page');
      await until(async () => (await page.title()) === '(1 failed) Progressista', 'the title counts the unacknowledged');
      assert.equal(await chipCount(page, 'failed'), '2', 'the Failed chip still counts both');
    }
    const served = (await getTasks(server))['f-old'];
    assert.equal(typeof served.acknowledged_at, 'number', 'GET /tasks has acknowledged_at');
    assert.match(await a.locator('#summary').textContent(), /2 failed \(1 acknowledged\)/);
    // The acknowledged ones are collapsed at the bottom; opened, the card offers Undo.
    assert.equal(await bucketIds(b, 'acked').then((x) => x.length), 0, 'collapsed: no cards drawn');
    assert.equal((await shownBuckets(b)).at(-1), 'acked');
    await b.locator('.bucket[data-bucket="acked"] .bucket-toggle').click();
    await inBucket(b, 'acked', 'f-old').waitFor();
    assert.equal(await card(b, 'f-old').locator('.ack').textContent(), 'Undo');
    assert.match(await card(b, 'f-old').locator('.ack-note').textContent(), /^acknowledged (just now|\d+ s ago)$/);
    await screenshot(b, 'board-acknowledged');
    await card(b, 'f-old').locator('.ack').click();
    for (const page of [a, b]) {
      await waitEqual(() => bucketIds(page, 'error'), ['f-new', 'f-old'], 'Undo: pinned again');
      await until(async () => (await page.title()) === '(2 failed) Progressista', 'two unacknowledged again');
    }
    assert.equal((await getTasks(server))['f-old'].acknowledged_at, undefined, 'withdrawn on the server');

    // The server's answers: 404 unknown task, 409 a task that has not failed.
    assert.equal((await fetch(`${server.url}/tasks/nope/acknowledge`, { method: 'POST' })).status, 404);
    const conflict = await fetch(`${server.url}/tasks/run-1/acknowledge`, { method: 'POST' });
    assert.equal(conflict.status, 409);
    assert.equal(typeof (await conflict.json()).detail, 'string');

    // A failed request is shown, never swallowed.
    await a.route(/\/acknowledge$/, (route) => route.fulfill({
      status: 500, contentType: 'application/json', body: '{"detail":"store unavailable"}' }));
    await card(a, 'f-new').locator('.ack').click();
    await waitText(a.locator('#alerts'), /Could not acknowledge the failure of task “f-new”: HTTP 500 store unavailable/, 'the error');
    await a.unroute(/\/acknowledge$/);

    // Acknowledged, then the task's next event (a restart) clears it: back among the running.
    await card(a, 'f-new').locator('.ack').click();
    await waitEqual(() => bucketIds(b, 'error'), ['f-old'], 'f-new acknowledged');
    await post(server, { task_id: 'f-new', status: 'start', n: 0 });
    await inBucket(b, 'active', 'f-new').waitFor();
    assert.equal((await stored(b, 'f-new')).acknowledged_at, undefined);
    assert.ok(!(await shownBuckets(b)).includes('acked'), 'no acknowledged failure left: the section goes');

    // No unacknowledged failure: the plain favicon and title again.
    await card(a, 'f-old').locator('.ack').click();
    for (const page of [a, b]) {
      await until(async () => (await page.title()) === 'Progressista', 'the plain title');
      await until(async () => (await favicon(page)) === 'favicon.svg', 'the plain favicon');
    }

    // A refused token (401) on Acknowledge: shown, and the page says the token was refused.
    await post(server, { task_id: 'run-1', status: 'error', error: 'late failure' });
    await inBucket(b, 'error', 'run-1').waitFor();
    await b.route(/\/(un)?acknowledge$/, (route) => route.fulfill({
      status: 401, contentType: 'application/json', body: '{"detail":"Invalid API token"}' }));
    await card(b, 'run-1').locator('.ack').click();
    await waitText(b.locator('#alerts'), /Could not acknowledge the failure of task “run-1”: HTTP 401 Invalid API token/, 'the 401');
    await until(async () => (await b.evaluate(() => document.getElementById('conn').dataset.mode)) === 'auth', 'the connection says auth');
    for (const page of [a, b]) { noPageErrors(page); await page.context().close(); }
  } finally {
    await server.cleanup();
  }
});

// A Notification that records instead of showing (headless Chromium shows none).
function stubNotifications(page) {
  return page.addInitScript(() => {
    window.__notes = [];
    window.__asked = 0;
    class FakeNotification {
      static permission = 'default';
      static async requestPermission() { window.__asked++; FakeNotification.permission = 'granted'; return 'granted'; }
      constructor(title, options = {}) { window.__notes.push({ title, body: options.body }); }
    }
    if (localStorage.getItem('progressista.notify') === '1') FakeNotification.permission = 'granted';
    window.Notification = FakeNotification;
  });
}

test('Notify me: asked on a click, remembered, a notification per new failure, none for those already there', async () => {
  const server = await startServe();
  try {
    await post(server, { task_id: 'pre', desc: 'Failed before the page', status: 'error', error: 'old news' });
    const page = await openPage(browser, `${server.url}/static/index.html`, { before: stubNotifications });
    await waitLive(page);
    await inBucket(page, 'error', 'pre').waitFor();
    const notify = page.locator('#notify');
    assert.equal(await notify.getAttribute('aria-pressed'), 'false');
    assert.equal(await page.evaluate(() => window.__asked), 0, 'no permission asked before a click');
    await notify.click();
    await until(async () => (await notify.getAttribute('aria-pressed')) === 'true', 'the toggle on');
    assert.equal(await page.evaluate(() => window.__asked), 1);
    assert.equal(await page.evaluate(() => localStorage.getItem('progressista.notify')), '1');

    await post(server, [{ task_id: 'post', desc: 'Nightly export', status: 'start', n: 1 }]);
    await post(server, { task_id: 'post', status: 'error', error: 'disk full' });
    await until(async () => (await page.evaluate(() => window.__notes.length)) === 1, 'one notification');
    assert.deepEqual(await page.evaluate(() => window.__notes), [{ title: 'Failed: Nightly export', body: 'disk full' }]);

    // Reloaded: still on, and the failures already there are not told again.
    await page.reload();
    await waitLive(page);
    await inBucket(page, 'error', 'post').waitFor();
    assert.equal(await notify.getAttribute('aria-pressed'), 'true', 'remembered');
    await post(server, { task_id: 'later', status: 'error', error: 'boom' });
    await until(async () => (await page.evaluate(() => window.__notes.map((n) => n.title))).includes('Failed: later'), 'the new one told');
    assert.deepEqual(await page.evaluate(() => window.__notes.map((n) => n.title)), ['Failed: later']);
    // Acknowledged and withdrawn (by anyone): the same failure, not told again.
    assert.equal((await fetch(`${server.url}/tasks/later/acknowledge`, { method: 'POST' })).status, 200);
    await until(async () => typeof (await page.evaluate(() => window.progressista.task('later').acknowledged_at)) === 'number', 'acknowledged');
    assert.equal((await fetch(`${server.url}/tasks/later/unacknowledge`, { method: 'POST' })).status, 200);
    await inBucket(page, 'error', 'later').waitFor();
    assert.equal(await page.evaluate(() => window.__notes.length), 1, 'no notification for an Undo');
    // Off: nothing more.
    await notify.click();
    await until(async () => (await notify.getAttribute('aria-pressed')) === 'false', 'the toggle off');
    await post(server, { task_id: 'quiet', status: 'error', error: 'boom' });
    await inBucket(page, 'error', 'quiet').waitFor();
    assert.equal(await page.evaluate(() => window.__notes.length), 1);
    noPageErrors(page);
    await page.context().close();
  } finally {
    await server.cleanup();
  }
});

test('stalled: a running task silent past the server\'s rule is marked, counted and filtered; an event brings it back', async () => {
  const server = await startServe({ args: ['--stalled-min-seconds', '2', '--stalled-factor', '4'] });
  let beating = true;
  let heart = Promise.resolve();
  try {
    const rule = (await summary(server)).stalled_rule;
    assert.deepEqual(rule, { factor: 4, min_seconds: 2 });
    const page = await openPage(browser, `${server.url}/static/index.html`);
    await waitLive(page);
    // `busy` keeps beating every 300 ms; `quiet` sends three events 200 ms apart, then nothing.
    heart = (async () => {
      for (let n = 1; beating; n++) {
        await post(server, { task_id: 'busy', desc: 'Busy worker', n, total: 100000, project: 'fleet' });
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    for (let n = 1; n <= 3; n++) {
      await post(server, { task_id: 'quiet', desc: 'Quiet worker', n, total: 10, project: 'fleet' });
      await new Promise((r) => setTimeout(r, 200));
    }
    await inBucket(page, 'stalled', 'quiet').waitFor({ timeout: SUMMARY_WAIT });
    const when = await waitText(card(page, 'quiet').locator('.when'), /^stalled — no event for \d+ s(, usually every [\d.]+ s)?$/, 'the stalled note');
    console.log(`stalled note: ${when}`);
    assert.equal(await card(page, 'quiet').getAttribute('data-stalled'), '');
    assert.equal(await card(page, 'quiet').locator('.badge').textContent(), 'stalled');
    assert.equal(await inBucket(page, 'active', 'busy').count(), 1, 'the busy one is not stalled');
    assert.equal(await chipCount(page, 'stalled'), '1');
    await waitText(page.locator('#summary'), /^2 tasks · 1 active · 1 stalled · 0 needs attention · /, 'the summary line counts it apart');
    // The server counts it too (per project as well), and the roll-up shows it.
    await until(async () => (await summary(server)).tasks.stalled === 1, '/summary counts one stalled');
    await waitText(page.locator('.rollup[data-project="fleet"] .rollup-counts'), /1 stalled/, 'the roll-up counts it', SUMMARY_WAIT);
    // The chip shows only the stalled.
    await page.locator('#chips .chip[data-filter="stalled"]').click();
    await waitEqual(() => shownIds(page), ['quiet'], 'Stalled: only the stalled');
    await screenshot(page, 'board-stalled');
    await page.locator('#chips .chip[data-filter="all"]').click();
    // An event: running again.
    await post(server, { task_id: 'quiet', n: 4 });
    await inBucket(page, 'active', 'quiet').waitFor();
    assert.equal(await card(page, 'quiet').getAttribute('data-stalled'), null);
    noPageErrors(page);
    await page.context().close();
  } finally {
    beating = false;
    await heart.catch(() => {});
    await server.cleanup();
  }
});

test('project roll-ups: bars by count, failures first, throughput and ETA where units agree, a click filters the board', async () => {
  const server = await startServe();
  try {
    await post(server, [
      // Projects by the id rule ("/" and ":"), by meta.project and by the field.
      { task_id: 'etl/1', desc: 'Shard 1', n: 10, total: 100, unit: 'rows', status: 'start' },
      { task_id: 'etl/2', desc: 'Shard 2', n: 20, total: 100, unit: 'rows', status: 'start' },
      { task_id: 'etl/3', desc: 'Shard 3', n: 5, total: 100, unit: 'rows', status: 'start' },
      { task_id: 'mix-a', desc: 'Files', n: 1, total: 10, unit: 'files', status: 'start', meta: { project: 'mixed' } },
      { task_id: 'mix-b', desc: 'Rows', n: 1, total: 10, unit: 'rows', status: 'start', meta: { project: 'mixed' } },
      { task_id: 'web-1', desc: 'Crawl', n: 5, total: 5, project: 'web', status: 'start' },
    ]);
    const page = await openPage(browser, `${server.url}/static/index.html`);
    await waitLive(page);
    await new Promise((r) => setTimeout(r, 400));   // let the server measure rates
    await post(server, [
      { task_id: 'etl/1', n: 30 }, { task_id: 'etl/2', n: 40 },
      { task_id: 'mix-a', n: 3 }, { task_id: 'mix-b', n: 4 },
      { task_id: 'etl/3', status: 'error', error: 'bad row 17' },
      { task_id: 'web-1', status: 'close' },
    ]);
    const rollupNames = () => page.locator('#rollups .rollup').evaluateAll((els) => els.map((el) => el.dataset.project));
    await waitEqual(rollupNames, ['etl', 'mixed', 'web'], 'etl first (it has a failure), then by name', SUMMARY_WAIT);
    const etl = page.locator('.rollup[data-project="etl"]');
    await waitText(etl.locator('.rollup-counts'), /^3 tasks · 1 failed · 2 running · 0 done$/, 'etl counts', SUMMARY_WAIT);
    const grow = (scope, seg) => scope.locator(`.seg-${seg}`).evaluate((el) => (el.hidden ? 0 : Number(el.style.flexGrow)));
    assert.equal(await grow(etl, 'failed'), 1);
    assert.equal(await grow(etl, 'running'), 2);
    assert.equal(await grow(etl, 'done'), 0);
    assert.equal(await etl.getAttribute('data-failing'), '');
    assert.match(await etl.locator('.stack').getAttribute('aria-label'), /3 tasks · 1 failed/);
    const web = page.locator('.rollup[data-project="web"]');
    await waitText(web.locator('.rollup-counts'), /^1 task · 0 running · 1 done$/, 'web counts', SUMMARY_WAIT);
    assert.equal(await grow(web, 'done'), 1);
    // Throughput in rows/s and a fleet ETA where units agree; mixed units say so.
    const pace = await waitText(etl.locator('.rollup-pace'), /throughput [\d.,k]+ rows\/s · ETA [\d:]+/, 'etl throughput and ETA', SUMMARY_WAIT);
    console.log(`etl: ${pace}`);
    await waitText(page.locator('.rollup[data-project="mixed"] .rollup-pace'), /mixed units \(files, rows\)/, 'mixed units');
    // Agrees with the server's per-project numbers.
    const s = await summary(server);
    assert.equal(s.project_rule.id_separators, '/:');
    assert.equal(s.projects.etl.tasks.total, 3);
    assert.equal(s.projects.etl.tasks.error, 1);
    await screenshot(page, 'board-projects');

    // A click filters the board to the project; again, all.
    await etl.locator('button').click();
    await waitEqual(() => page.inputValue('#search'), 'project:etl', 'project:etl in the search');
    await waitEqual(() => shownIds(page), ['etl/1', 'etl/2', 'etl/3'], 'only etl on the board');
    await until(async () => (await etl.locator('button').getAttribute('aria-pressed')) === 'true', 'the project shown pressed');
    await etl.locator('button').click();
    await waitEqual(() => shownIds(page), ['etl/1', 'etl/2', 'etl/3', 'mix-a', 'mix-b', 'web-1'], 'all again');
    noPageErrors(page);
    await page.context().close();
  } finally {
    await server.cleanup();
  }
});

test('throughput charts: points after events, axis labels, a title per point and a text summary', async () => {
  const server = await startServe();
  try {
    const page = await openPage(browser, `${server.url}/static/index.html`);
    await waitLive(page);
    for (let i = 0; i < 5; i++) {
      await post(server, [{ task_id: `c-${i}`, n: 1, total: 2, status: 'start' }, { task_id: `c-${i}`, n: 2 }]);
    }
    await post(server, [{ task_id: 'c-0', status: 'close' }, { task_id: 'c-1', status: 'close' }, { task_id: 'c-2', status: 'error', error: 'x' }]);
    const points = (id) => page.locator(`#${id}`).evaluate((el) => Number(el.dataset.points || 0));
    await until(async () => (await points('chart-events')) > 0, 'events/s has points', SUMMARY_WAIT);
    await until(async () => (await points('chart-closed')) > 0, 'completions/min has points', SUMMARY_WAIT);
    const events = page.locator('#chart-events');
    assert.equal(await events.locator('figcaption').textContent(), 'Events per second');
    assert.match(await events.locator('.chart-max').textContent(), /^max [\d.,]+ events\/s$/);
    assert.deepEqual(await events.locator('.chart-axis span').allTextContents(), ['10 min ago', 'now']);
    assert.match(await events.locator('svg').getAttribute('aria-label'), /^events\/s, last 10 minutes: now [\d.]+, peak [\d.,]+, average [\d.]+\.$/);
    const titles = await events.locator('.point title').allTextContents();
    assert.ok(titles.length > 0 && titles.at(-1).startsWith('now: '), `a title per point (${titles.at(-1)})`);
    const closed = page.locator('#chart-closed');
    await until(async () => (await closed.locator('.points-failed .point').count()) > 0, 'failures overlaid');
    assert.ok(await closed.locator('.points-closed .point').count() > 0, 'completions as bars');
    assert.match(await closed.locator('figcaption').textContent(), /completions\/min.*failures\/min/);
    const s = await summary(server);
    assert.equal(s.history.step, 10);
    assert.ok(s.history.closed_per_minute.some((x) => x > 0), 'the server counted the completions');
    await screenshot(page, 'board-charts');
    noPageErrors(page);
    await page.context().close();
  } finally {
    await server.cleanup();
  }
});

test('phone width and dark: the pinned failure, its Acknowledge and the panels fit', async () => {
  const server = await startServe();
  try {
    await post(server, [
      { task_id: 'etl/1', desc: 'Shard 1', n: 10, total: 100, unit: 'rows' },
      { task_id: 'etl/2', desc: 'Shard 2', n: 1, total: 100, unit: 'rows', status: 'error', error: TRACE },
      { task_id: 'web-1', desc: 'Crawl', n: 5, total: 5, project: 'web', status: 'close' },
    ]);
    const page = await openPage(browser, `${server.url}/static/index.html`, { viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
    await waitLive(page);
    await inBucket(page, 'error', 'etl/2').waitFor();
    const ack = card(page, 'etl/2').locator('.ack');
    const box = await ack.boundingBox();
    assert.ok(box && box.y + box.height <= 844 * 1.5, `Acknowledge near the top (${JSON.stringify(box)})`);
    await page.locator('#fleet-wrap').waitFor({ timeout: SUMMARY_WAIT });
    assert.equal(await page.locator('#fleet-wrap').evaluate((el) => el.open), false, 'the fleet panel starts closed on a phone');
    await page.locator('#fleet-wrap > summary').click();
    await page.locator('.rollup[data-project="etl"]').waitFor({ timeout: SUMMARY_WAIT });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling at phone width (overflow ${overflow}px)`);
    const cardOverflow = await card(page, 'etl/2').evaluate((el) => el.scrollWidth - el.clientWidth);
    assert.ok(cardOverflow <= 0, `the failure card fits (${cardOverflow}px)`);
    assert.equal(await page.evaluate(() => getComputedStyle(document.documentElement).colorScheme), 'dark');
    await screenshot(page, 'board-phone-dark');
    await ack.click();
    await waitText(page.locator('.bucket[data-bucket="acked"] .bucket-count'), /^1$/, 'acknowledged at phone width');
    noPageErrors(page);
    await page.context().close();
  } finally {
    await server.cleanup();
  }
});
