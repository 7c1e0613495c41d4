// The dashboard's table view (issue 14, "the fleet operator's board") in a real headless
// Chromium against a real `progressista serve`: columns, sorting with a stable order, pinned
// failures, filters, export, virtualized rows with one page scroll, phone width.
// Run: PROGRESSISTA_BIN=build/daemon/progressista node --test table.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import {
  startServe, post, launchBrowser, openPage, screenshot, until, streamUpdates,
  waitLive, waitEqual, waitText, noPageErrors,
} from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const row = (page, id) => page.locator(`.tt-rows .tt-row[data-id="${id}"]`);
const cell = (page, id, col) => row(page, id).locator(`.c-${col}`);
// The table's rows in order (every row, not only those in the DOM) and those in the DOM.
const tableIds = (page) => page.evaluate(() => window.progressista.table.ids());
const domIds = (page) => page.evaluate(() => window.progressista.table.domIds());
const header = (page, col) => page.locator(`.tt-header .c-${col}`);
const viewParams = (page) => Object.fromEntries(new URL(page.url()).searchParams);

test('the table: its columns, t and the switch, sorting, a stable order re-sorted on request, pinned failures', async () => {
  const server = await startServe();
  try {
    const GiB = 2 ** 30;
    await post(server, [
      { task_id: 'alpha', desc: 'Alpha job', n: 10, total: 100, project: 'vision', phase: 'train', status: 'start', message: 'epoch 1' },
      { task_id: 'beta', desc: 'Beta job', n: 5, total: 10, meta: { project: 'data' } },
      { task_id: 'gamma', desc: 'Gamma loop', n: 0, total: 100, status: 'start' },
      { task_id: 'delta', desc: 'Delta', n: 0, total: 10, status: 'start' },
      { task_id: 'dl', desc: 'Download', n: 1.81 * GiB, total: 3.17 * GiB, unit: 'B', status: 'start' },
      { task_id: 'a-task-with-a-very-long-identifier-that-does-not-fit-in-its-cell', desc: 'Long id', n: 1, total: 4 },
    ]);
    await post(server, [
      { task_id: 'gamma', n: 45, status: 'close' },
      { task_id: 'delta', n: 10, status: 'close' },
      { task_id: 'boom', desc: 'Exploded', n: 3, total: 10, status: 'error', error: 'Disk full on /scratch' },
    ]);
    const page = await openPage(browser, `${server.url}/static/index.html`, { viewport: { width: 1400, height: 900 } });
    await waitLive(page);
    await page.locator('.card[data-id="alpha"]').waitFor();
    assert.equal(await page.locator('#table-view').isVisible(), false, 'the cards first');

    // t: the table; the address says so; the switch shows it.
    await page.keyboard.press('t');
    await page.locator('#table-view').waitFor();
    assert.equal(await page.locator('#board').isVisible(), false, 'the cards are hidden');
    await waitEqual(() => viewParams(page), { view: 'table' }, 'view=table in the address');
    assert.equal(await page.locator('.view-switch [data-view="table"]').getAttribute('aria-pressed'), 'true');
    await waitEqual(async () => (await tableIds(page)).length, 7, 'seven rows');

    // The columns.
    await waitText(cell(page, 'alpha', 'count'), /^10\/100$/, 'alpha n/total');
    assert.equal(await cell(page, 'alpha', 'desc').textContent(), 'Alpha job');
    assert.equal(await cell(page, 'alpha', 'project').textContent(), 'vision');
    assert.equal(await cell(page, 'beta', 'project').textContent(), 'data', 'meta.project (projectOf)');
    assert.equal(await cell(page, 'alpha', 'phase').textContent(), 'train');
    assert.equal(await cell(page, 'alpha', 'message').textContent(), 'epoch 1');
    assert.equal(await cell(page, 'alpha', 'status').locator('.tt-chip').textContent(), 'running');
    assert.equal(await cell(page, 'gamma', 'status').locator('.tt-chip').textContent(), 'ended at 45%');
    assert.equal(await cell(page, 'delta', 'status').locator('.tt-chip').textContent(), 'done');
    assert.equal(await cell(page, 'boom', 'status').locator('.tt-chip').textContent(), 'failed');
    assert.equal(await cell(page, 'boom', 'message').textContent(), 'Disk full on /scratch');
    assert.match(await cell(page, 'dl', 'count').textContent(), /^1\.81G\/3\.17G$/, 'tqdm unit scaling');
    assert.match(await cell(page, 'alpha', 'progress').textContent(), /^10%$/);
    assert.match(await cell(page, 'alpha', 'updated').textContent(), /^(just now|\d+ s ago)$/);
    assert.equal(await cell(page, 'delta', 'eta').textContent(), '00:00');
    const longId = 'a-task-with-a-very-long-identifier-that-does-not-fit-in-its-cell';
    assert.equal(await cell(page, longId, 'id').getAttribute('title'), longId, 'the whole id in a tooltip');
    const cut = await cell(page, longId, 'id').evaluate((el) => el.scrollWidth > el.clientWidth && getComputedStyle(el).textOverflow);
    assert.equal(cut, 'ellipsis', 'the id cut with an ellipsis');

    // A failure nobody acknowledged is pinned on top, with Acknowledge; the default sort
    // (updated, newest first) puts the rest in order.
    assert.equal((await tableIds(page))[0], 'boom');
    assert.equal(await row(page, 'boom').getAttribute('data-pinned'), '');
    assert.ok(await cell(page, 'boom', 'status').locator('.tt-ack').isVisible());
    assert.equal(await cell(page, 'alpha', 'status').locator('.tt-ack').isVisible(), false);
    assert.equal(await header(page, 'updated').getAttribute('aria-sort'), 'descending');

    // Sort by task id: ascending, again descending; the pinned row stays on top.
    await header(page, 'id').locator('button').click();
    const byId = ['a-task-with-a-very-long-identifier-that-does-not-fit-in-its-cell', 'alpha', 'beta', 'delta', 'dl', 'gamma'];
    await waitEqual(() => tableIds(page), ['boom', ...byId], 'sorted by id');
    await waitEqual(() => domIds(page), ['boom', ...byId], 'the DOM in that order');
    assert.equal(await header(page, 'id').getAttribute('aria-sort'), 'ascending');
    assert.equal(await header(page, 'updated').getAttribute('aria-sort'), null);
    await header(page, 'id').locator('button').click();
    await waitEqual(() => tableIds(page), ['boom', ...byId.slice().reverse()], 'reversed');
    assert.equal(await header(page, 'id').getAttribute('aria-sort'), 'descending');

    // j/k: a focus ring through the rows in the table's order (real focus too); Escape clears it.
    const ringed = () => page.locator('.tt-rows .tt-row[aria-current="true"]').evaluateAll((rs) => rs.map((r) => r.dataset.id));
    await page.keyboard.press('j');
    await waitEqual(ringed, ['boom'], 'j: the first row');
    await page.keyboard.press('j');
    await waitEqual(ringed, ['gamma'], 'j: the next row');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.id), 'gamma', 'the row has the focus');
    await page.keyboard.press('k');
    await waitEqual(ringed, ['boom'], 'k: back');
    await page.keyboard.press('Escape');
    await waitEqual(ringed, [], 'Escape clears it');

    // Sort by progress (highest first); then updates that would reorder it leave the rows where
    // they are, with the pointer on the table, and the re-sort button shows.
    await header(page, 'progress').locator('button').click();
    // delta 100 %, dl 57 %, beta 50 %, gamma 45 %, the long one 25 %, alpha 10 %.
    const progressOrder = ['delta', 'dl', 'beta', 'gamma', 'a-task-with-a-very-long-identifier-that-does-not-fit-in-its-cell', 'alpha'];
    await waitEqual(() => tableIds(page), ['boom', ...progressOrder], 'sorted by progress');
    assert.equal(await page.locator('#table-resort').isVisible(), false, 'in order: no re-sort');
    await row(page, 'alpha').hover();
    await post(server, [{ task_id: 'alpha', n: 99 }, { task_id: 'newcomer', desc: 'New', n: 10, total: 10 }]);
    await waitText(cell(page, 'alpha', 'count'), /^99\/100$/, 'alpha at 99');
    await waitEqual(() => tableIds(page), ['boom', ...progressOrder, 'newcomer'], 'alpha kept its place, the new task at the end');
    await page.locator('#table-resort').waitFor();
    await screenshot(page, 'table-out-of-date');
    await page.locator('#table-resort').click();
    await waitEqual(() => tableIds(page), ['boom', 'delta', 'newcomer', 'alpha', 'dl', 'beta', 'gamma',
      'a-task-with-a-very-long-identifier-that-does-not-fit-in-its-cell'], 're-sorted on request');
    await page.locator('#table-resort').waitFor({ state: 'hidden' });

    // The pointer leaving the table re-sorts too; a removed task's row disappears.
    await row(page, 'dl').hover();
    await post(server, { task_id: 'dl', n: 3.17 * GiB });
    await waitText(cell(page, 'dl', 'count'), /^3\.17G\/3\.17G$/, 'dl complete');
    assert.equal((await tableIds(page)).indexOf('dl'), 4, 'dl keeps its place while the pointer is on the table');
    await page.mouse.move(700, 5);   // onto the top bar
    // 100 %: delta, dl, newcomer (ties by id).
    await waitEqual(async () => (await tableIds(page)).slice(0, 4), ['boom', 'delta', 'dl', 'newcomer'], 'dl moved up once the pointer left');
    assert.equal((await fetch(`${server.url}/tasks/beta`, { method: 'DELETE' })).status, 200);
    await until(async () => !(await tableIds(page)).includes('beta') && !(await domIds(page)).includes('beta'), 'beta gone');

    // Acknowledge: a refusal is shown as the cards show theirs, and the row stays pinned...
    await page.route('**/tasks/boom/acknowledge', (route) => route.fulfill({
      status: 503, contentType: 'application/json', body: '{"detail":"try again"}' }));
    await cell(page, 'boom', 'status').locator('.tt-ack').click();
    await waitText(page.locator('#alerts'), /Could not acknowledge task “boom”: HTTP 503 try again/, 'the refusal shown');
    assert.equal(await row(page, 'boom').getAttribute('data-pinned'), '', 'still pinned');
    await page.unroute('**/tasks/boom/acknowledge');
    // ...and once the server takes it (POST /tasks/{id}/acknowledge), the row is no longer
    // pinned: it goes among the others, at the end until the next sort.
    await cell(page, 'boom', 'status').locator('.tt-ack').click();
    await until(async () => (await tableIds(page)).at(-1) === 'boom', 'boom unpinned, at the end');
    assert.equal(await row(page, 'boom').count() === 0 || (await row(page, 'boom').getAttribute('data-pinned')) === null, true);
    assert.ok(typeof (await page.evaluate(() => window.progressista.task('boom').acknowledged_at)) === 'number', 'acknowledged_at from the server');
    assert.equal(await cell(page, 'boom', 'status').locator('.tt-chip').textContent(), 'failed');
    assert.equal(await cell(page, 'boom', 'status').locator('.tt-ack').isVisible(), false, 'no Acknowledge once acknowledged');

    // The rate sparkline: values kept as updates arrive, dropped with the task.
    for (let k = 1; k <= 4; k++) {
      await new Promise((r) => setTimeout(r, 150));   // time between updates: the server measures a rate
      await post(server, { task_id: 'alpha', n: 99 + k, total: 200 });
      await waitText(cell(page, 'alpha', 'count'), new RegExp(`^${99 + k}/200$`), `alpha at ${99 + k}`);
    }
    await until(async () => (await page.evaluate(() => window.progressista.table.rates('alpha').length)) >= 3, 'three rates kept');
    const d = await cell(page, 'alpha', 'rate').locator('path').getAttribute('d');
    assert.ok((d.match(/L/g) || []).length >= 2, `a line through the rates: ${d}`);
    assert.match(await cell(page, 'alpha', 'rate').textContent(), /it\/s|s\/it/);
    assert.equal((await fetch(`${server.url}/tasks/alpha`, { method: 'DELETE' })).status, 200);
    await until(async () => (await page.evaluate(() => window.progressista.table.rates('alpha').length)) === 0,
      'the history dropped with the task', 5000);

    // t again: the cards, up to date.
    await page.keyboard.press('t');
    await page.locator('#board').waitFor();
    await waitEqual(() => viewParams(page), {}, 'cards: nothing in the address');
    await page.locator('.card[data-id="newcomer"]').waitFor();
    assert.match(await page.locator('.card[data-id="dl"] .tqdm').textContent(), /^3\.17G\/3\.17G /);
    await page.keyboard.press('?');
    assert.match(await page.locator('#help-dialog').textContent(), /t\s*Cards or table view/);
    await page.keyboard.press('Escape');
    noPageErrors(page);
    await page.context().close();
  } finally {
    await server.cleanup();
  }
});

// A minimal RFC 4180 reader: records of fields.
function parseCsv(text) {
  const rows = [];
  let rowFields = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (ch === '"') quoted = false; else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { rowFields.push(field); field = ''; } else if (ch === '\r' && text[i + 1] === '\n') {
      rowFields.push(field); rows.push(rowFields); rowFields = []; field = ''; i++;
    } else field += ch;
  }
  return rows;
}

test('the chips and the search filter the table as they do the cards; export takes every matching row', async () => {
  const server = await startServe();
  try {
    const events = [];
    for (let i = 0; i < 120; i++) {
      events.push({ task_id: `job-${String(i).padStart(3, '0')}`, desc: `Job ${i}`, n: i % 10, total: 10,
        project: i % 2 ? 'data' : 'web', meta: { host: `node-${i % 3}` } });
    }
    events.push({ task_id: 'quoted', desc: 'Load "orders", part 2', n: 1, total: 2, project: 'data', message: 'line one\nline two' });
    await post(server, events);
    const closes = [];
    for (let i = 0; i < 120; i += 4) closes.push({ task_id: `job-${String(i).padStart(3, '0')}`, status: 'close', n: 10 });
    for (let i = 1; i < 120; i += 20) closes.push({ task_id: `job-${String(i).padStart(3, '0')}`, status: 'error', error: 'HTTP 503, again' });
    await post(server, closes);
    const page = await openPage(browser, `${server.url}/static/index.html?view=table`, { viewport: { width: 1400, height: 900 } });
    await waitLive(page);
    await waitEqual(async () => (await tableIds(page)).length, 121, 'every task a row');
    assert.equal(await page.locator('.view-switch [data-view="table"]').getAttribute('aria-pressed'), 'true', 'the view from the address');

    // The Failed chip: the failed rows only (six); Done: the closed (thirty).
    await page.locator('#chips .chip[data-filter="failed"]').click();
    await waitEqual(async () => (await tableIds(page)).sort(), ['job-001', 'job-021', 'job-041', 'job-061', 'job-081', 'job-101'], 'failed only');
    await waitEqual(() => viewParams(page), { view: 'table', status: 'failed' }, 'the chip and the view in the address');
    await page.locator('#chips .chip[data-filter="done"]').click();
    await waitEqual(async () => (await tableIds(page)).length, 30, 'done only');
    // The search narrows within the chip: done on project data is none (job-000, job-004... are even: web).
    await page.fill('#search', 'project:data');
    await waitEqual(async () => (await tableIds(page)).length, 0, 'done and data: none');
    await waitText(page.locator('.tt-empty'), /No task matches/, 'the empty text');
    await page.locator('#chips .chip[data-filter="all"]').click();
    await page.fill('#search', 'project:data host:node-1');
    // Odd i with i % 3 == 1: 1, 7, 13, ..., 115 (20 of them); "quoted" has no host.
    const want = [];
    for (let i = 1; i < 120; i += 6) want.push(`job-${String(i).padStart(3, '0')}`);
    await waitEqual(async () => (await tableIds(page)).slice().sort(), want, 'the search');
    // The cards agree (the switch's buttons: t would type into the search box).
    const cards = async () => {
      await page.locator('.view-switch [data-view="cards"]').click();
      await page.locator('#board').waitFor();
      await until(async () => (await page.locator('.card').count()) === want.length, 'the cards of the search');
      const ids = await page.locator('.card').evaluateAll((cs) => cs.map((c) => c.dataset.id).sort());
      await page.locator('.view-switch [data-view="table"]').click();
      await page.locator('#table-view').waitFor();
      return ids;
    };
    assert.deepEqual(await cards(), want, 'the cards show the same tasks');

    // Export CSV: a download of every matching row (the DOM holds fewer when they are many).
    await page.fill('#search', 'project:data');
    await waitEqual(async () => (await tableIds(page)).length, 61, 'sixty data jobs and quoted');
    const [csvDownload] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
    assert.match(csvDownload.suggestedFilename(), /^progressista-tasks-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.csv$/);
    const csv = fs.readFileSync(await csvDownload.path(), 'utf8');
    const records = parseCsv(csv);
    const head = records[0];
    assert.deepEqual(head.slice(0, 6), ['task_id', 'desc', 'project', 'phase', 'status', 'shown_status']);
    assert.equal(records.length, 62, 'a header and 61 rows');
    const col = (name) => head.indexOf(name);
    const quoted = records.find((r) => r[0] === 'quoted');
    assert.equal(quoted[col('desc')], 'Load "orders", part 2');
    assert.equal(quoted[col('message')], 'line one\nline two');
    const failedRec = records.find((r) => r[0] === 'job-001');
    assert.equal(failedRec[col('status')], 'error');
    assert.equal(failedRec[col('error')], 'HTTP 503, again');
    assert.match(failedRec[col('created')], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.match(failedRec[col('done')], /^\d{4}-\d\d-\d\dT/);
    assert.ok(Number(failedRec[col('duration_s')]) >= 0);
    assert.deepEqual(JSON.parse(failedRec[col('meta')]), { host: 'node-1' });

    // Export JSON: the same rows.
    const [jsonDownload] = await Promise.all([page.waitForEvent('download'), page.click('#export-json')]);
    assert.match(jsonDownload.suggestedFilename(), /^progressista-tasks-.*Z\.json$/);
    const json = JSON.parse(fs.readFileSync(await jsonDownload.path(), 'utf8'));
    assert.equal(json.length, 61);
    assert.deepEqual(json.map((r) => r.task_id).sort(), records.slice(1).map((r) => r[0]).sort());
    assert.equal(json.find((r) => r.task_id === 'job-005').shown_status, 'running');
    assert.equal(json.find((r) => r.task_id === 'job-001').shown_status, 'failed');

    // Live under a chip: a task that closes leaves Running, a new one comes, a reopened one
    // comes back; a task that only advances stays where it is.
    await page.fill('#search', '');
    await page.locator('#chips .chip[data-filter="running"]').click();
    await waitEqual(async () => (await tableIds(page)).length, 85, 'the running rows (121 - 30 done - 6 failed)');
    const kept = (await tableIds(page)).filter((x) => x !== 'job-003');
    await post(server, [{ task_id: 'job-003', status: 'close', n: 10 }, { task_id: 'fresh-1', n: 1, total: 5 },
      { task_id: 'job-000', status: 'start', n: 0 }, { task_id: 'job-007', n: 9 }]);
    await until(async () => {
      const now = await tableIds(page);
      return !now.includes('job-003') && now.includes('fresh-1') && now.includes('job-000');
    }, 'the running rows follow the changes');
    const after = await tableIds(page);
    assert.deepEqual(after.slice(0, kept.length), kept, 'the others kept their order, the new ones at the end');
    assert.deepEqual(after.slice(kept.length).sort(), ['fresh-1', 'job-000']);
    // Alone (no task new or gone in that frame): a close still takes its row out of Running,
    // and an advance alone keeps every row.
    await post(server, { task_id: 'job-009', n: 8 });
    await until(() => page.evaluate(() => window.progressista.task('job-009').n === 8), 'job-009 advanced');
    assert.deepEqual(await tableIds(page), after, 'an advance moves no row');
    await post(server, { task_id: 'job-011', status: 'close', n: 10 });
    await until(async () => !(await tableIds(page)).includes('job-011'), 'job-011 left Running on its close');
    assert.deepEqual(await tableIds(page), after.filter((x) => x !== 'job-011'));
    noPageErrors(page);
    await page.context().close();
  } finally {
    await server.cleanup();
  }
});

test('5,000 tasks: only the rows near the view in the DOM, one page scroll, 30-40 rows on a 1400x900 screen, phone width', async () => {
  const TASKS = 5000;
  const server = await startServe({ args: ['--capacity', '8192'] });
  try {
    const id = (i) => `t-${String(i).padStart(5, '0')}`;
    for (let start = 0; start < TASKS; start += 1000) {
      const batch = [];
      for (let i = start; i < start + 1000; i++) {
        batch.push({ task_id: id(i), desc: `Shard ${i} of the nightly job`, n: i % 1000, total: 1000, unit: 'rec',
          project: `project-${i % 20}`, phase: 'load', status: i % 10 === 9 ? 'close' : 'start', message: `message ${i}` });
      }
      await post(server, batch);
    }
    const page = await openPage(browser, `${server.url}/static/index.html?view=table`, { viewport: { width: 1400, height: 900 } });
    await waitLive(page);
    await waitText(page.locator('#table-count'), /^5,000 rows/, '5,000 rows', 30000);
    const inDom = await page.locator('.tt-rows .tt-row').count();
    assert.ok(inDom > 20 && inDom < 120, `virtualized: ${inDom} rows in the DOM for 5,000`);

    // One page scroll: the document is as tall as every row; nothing in the table scrolls on
    // its own.
    const geometry = await page.evaluate(() => {
      const own = [...document.querySelectorAll('#table-view, #table-view *')].filter((el) => {
        const s = getComputedStyle(el);
        return /(auto|scroll)/.test(s.overflowY + s.overflowX) || el.scrollHeight > el.clientHeight + 1 && /(hidden)/.test(s.overflowY);
      }).map((el) => el.className);
      return { own, docH: document.documentElement.scrollHeight, rowH: document.querySelector('.tt-rows .tt-row').getBoundingClientRect().height };
    });
    assert.deepEqual(geometry.own, [], 'no element of the table has a scroll area of its own');
    assert.ok(geometry.docH > TASKS * geometry.rowH, `the page holds every row (${geometry.docH} px)`);

    // The wheel over the table scrolls the page.
    await page.mouse.move(700, 600);
    await page.mouse.wheel(0, 3000);
    await until(async () => (await page.evaluate(() => window.scrollY)) > 1000, 'the wheel on the table scrolls the page');
    // Deep down: the rows in view are there, and still few.
    await page.evaluate(() => window.scrollTo(0, 60000));
    await until(async () => {
      const hit = await page.evaluate(() => document.elementFromPoint(700, 600)?.closest('.tt-rows .tt-row')?.getAttribute('aria-rowindex'));
      return Number(hit) > 2000;
    }, 'rows under the pointer after a long scroll');
    const visible = await page.evaluate(() => {
      const top = document.querySelector('.tt-sticky').getBoundingClientRect().bottom;
      return [...document.querySelectorAll('.tt-rows .tt-row')].filter((r) => {
        const b = r.getBoundingClientRect();
        return b.top >= top - 0.5 && b.bottom <= window.innerHeight + 0.5;
      }).length;
    });
    assert.ok(visible >= 30 && visible <= 40, `${visible} rows fully visible at 1400x900`);
    assert.ok(await page.locator('.tt-rows .tt-row').count() < 120, 'still virtualized down there');
    const headerTop = await page.locator('.tt-header').evaluate((el) => el.getBoundingClientRect().top);
    const barBottom = await page.locator('.topbar').evaluate((el) => el.getBoundingClientRect().bottom);
    assert.ok(headerTop >= barBottom - 1 && headerTop < barBottom + 60, 'the column headers stay in view under the top bar');
    await screenshot(page, 'table-5k-scrolled');

    // A stable order under a stream of updates while the pointer is on the table; re-sorted on
    // request.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.locator('.tt-header .c-updated button').click();   // was updated, descending: now ascending
    await page.locator('.tt-header .c-updated button').click();   // descending again
    await until(async () => !(await page.evaluate(() => window.progressista.table.outOfDate)), 'in order');
    await page.locator('.tt-rows .tt-row').nth(3).hover();
    const beforeIds = await tableIds(page);
    const live = [];
    for (let i = 0; i < TASKS; i++) if (i % 10 !== 9) live.push(id(i));
    await streamUpdates(server, live, { rate: 500, batch: 50, end: Date.now() + 2000 });
    await until(() => page.evaluate(() => window.progressista.table.outOfDate), 'the order out of date');
    assert.deepEqual(await tableIds(page), beforeIds, 'not one row moved while the tasks updated');
    await page.locator('#table-resort').click();
    await until(async () => !isDeepStrictEqual(await tableIds(page), beforeIds), 're-sorted');
    // In the order of the updates the page holds, newest first.
    const times = await page.evaluate(() => window.progressista.table.ids().slice(0, 200).map((id) => window.progressista.task(id).updated_at));
    assert.ok(times.every((t, i) => i === 0 || times[i - 1] >= t), 'the first 200 rows newest first');

    // Phone width: rate, phase, message (and more) dropped; no horizontal scrolling.
    await page.setViewportSize({ width: 390, height: 844 });
    await until(async () => (await page.locator('.tt-rows .tt-row .c-rate').first().evaluate((el) => getComputedStyle(el).display)) === 'none',
      'the rate column dropped');
    const phone = await page.evaluate(() => {
      const r = document.querySelector('.tt-rows .tt-row');
      const shown = [...r.children].filter((c) => getComputedStyle(c).display !== 'none').map((c) => c.className.replace('tt-cell c-', ''));
      return { shown, overflow: document.documentElement.scrollWidth - window.innerWidth, rowW: r.getBoundingClientRect().width };
    });
    for (const gone of ['rate', 'phase', 'message']) assert.ok(!phone.shown.includes(gone), `${gone} dropped at phone width`);
    for (const kept of ['id', 'desc', 'status', 'progress', 'eta']) assert.ok(phone.shown.includes(kept), `${kept} kept at phone width`);
    assert.ok(phone.overflow <= 0, `no horizontal scrolling at phone width (${phone.overflow} px)`);
    await page.evaluate(() => window.scrollTo(0, document.querySelector('.tt-body').getBoundingClientRect().top + window.scrollY - 300));
    await screenshot(page, 'table-phone-light');
    await page.click('#theme');
    await page.click('#theme');   // auto -> light -> dark
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    const contrast = await page.locator('.tt-rows .tt-row .c-desc').first().evaluate((el) => [getComputedStyle(el).color, getComputedStyle(document.querySelector('.task-table')).backgroundColor]);
    assert.notEqual(contrast[0], contrast[1]);
    await screenshot(page, 'table-phone-dark');
    await page.setViewportSize({ width: 1400, height: 900 });
    await screenshot(page, 'table-dark');
    noPageErrors(page);
    await page.context().close();
  } finally {
    await server.cleanup();
  }
});
