// The dashboard under load, in headless Chromium against a real `progressista serve`: a
// reproducible measurement, not a test (nothing is asserted; figures are printed).
//
//   TASKS="10000 100000" VIEWS="cards table" RATE=1000 SECONDS=10 node bench/dashboard/run.mjs
//   (make bench-dashboard: builds, installs tests/browser's packages, then this)
//
// Each size runs in each of VIEWS: the cards, and the table view (?view=table, table_view.js),
// where the probe is a row: the table sorted by task id, the window scrolled to the probe's
// row (the last), every row around it updated by the stream too.
//
// For each TASKS: a server with room for them, TASKS tasks in 20 projects (10 % done, 1 % failed,
// the rest running), the page opened and timed until it shows them all, then RATE events/s
// (POSTs of 50) on the running tasks for SECONDS while the page records every animation frame
// and, four times a second, times a probe: POSTed from the page, until its card shows the new
// count (the same helpers as the dashboard's load test, tests/browser/harness.mjs). Printed: load time, fps, frame interval p50/p95/p99/max, the dashboard's own work per
// applied frame, POST -> card latency p50/p99, the page's JS heap, the tasks changed (counted
// from GET /tasks afterwards, so events that did not apply cannot pass for load).
import {
  BIN, startServe, post, getTasks, launchBrowser, openPage, until, percentile,
  streamUpdates, startFrames, stopFrames, probeLatencies,
} from '../../tests/browser/harness.mjs';

const SIZES = (process.env.TASKS || '10000 100000').split(/\s+/).filter(Boolean).map(Number);
const RATE = Number(process.env.RATE || 1000);
const SECONDS = Number(process.env.SECONDS || 10);
const VIEWS = (process.env.VIEWS || 'cards table').split(/\s+/).filter((v) => v === 'cards' || v === 'table');
const f = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

async function run(browser, TASKS, view) {
  const table = view === 'table';
  const server = await startServe({
    args: ['--capacity', String(Math.ceil(TASKS * 1.2)), '--memory', `${Math.max(64, Math.ceil(TASKS / 250))}M`],
  });
  try {
    const projects = Array.from({ length: 20 }, (_, i) => `project-${String(i).padStart(2, '0')}`);
    const id = (i) => `load-${String(i).padStart(6, '0')}`;
    const live = [];
    let t0 = Date.now();
    for (let start = 0; start < TASKS; start += 1000) {
      const batch = [];
      for (let i = start; i < Math.min(TASKS, start + 1000); i++) {
        const status = i % 10 === 9 ? 'close' : i % 97 === 0 ? 'error' : 'start';
        if (status === 'start') live.push(id(i));
        batch.push({ task_id: id(i), desc: `Shard ${i} of the nightly job`, n: 0, total: 1000, unit: 'rec',
          project: projects[i % projects.length], phase: 'load', status, error: status === 'error' ? 'HTTP 503' : undefined });
      }
      await post(server, batch);
    }
    // The table's probe is there from the start, so it has a row to scroll to.
    if (table) await post(server, { task_id: 'probe', desc: 'Latency probe', n: 0, total: 100000, status: 'recovered' });
    const loadedMs = Date.now() - t0;

    t0 = Date.now();
    const page = await openPage(browser, `${server.url}/static/index.html${table ? '?view=table' : ''}`);
    const shown = (TASKS + (table ? 1 : 0)).toLocaleString('en');
    await until(async () => (await page.locator('#summary').textContent()).startsWith(`${shown} tasks`),
      `the board of ${shown}`, 120000, 100);
    if (table) {
      await until(async () => (await page.locator('#table-count').textContent()).startsWith(`${shown} rows`),
        `the table of ${shown}`, 120000, 100);
    }
    const openMs = Date.now() - t0;
    let sortMs = NaN;
    if (table) {
      // Sorted by id: the probe is the last row; the window scrolled to put it mid-screen.
      await page.evaluate(() => window.progressista.table.sortBy('id'));
      sortMs = await page.evaluate(() => window.progressista.table.stats.sortMs);
      await page.evaluate(() => {
        const index = window.progressista.table.ids().indexOf('probe');
        const rowH = document.querySelector('.tt-rows .tt-row').getBoundingClientRect().height;
        const top = document.querySelector('.tt-body').getBoundingClientRect().top + window.scrollY;
        window.scrollTo(0, top + index * rowH - window.innerHeight / 2);
      });
      await page.locator('.tt-row[data-id="probe"]').waitFor({ timeout: 30000 });
    }
    const before = Object.fromEntries(Object.values(await getTasks(server)).map((t) => [t.task_id, t.n]));

    await startFrames(page);
    await page.evaluate(() => { window.progressista.stats.maxMs = 0; });
    const statsBefore = await page.evaluate(() => ({ ...window.progressista.stats, table: { ...window.progressista.table.stats } }));

    const end = Date.now() + SECONDS * 1000;
    const stream = streamUpdates(server, live, { rate: RATE, end });
    const { latencies: lat, misses } = await probeLatencies(page, end,
      table ? { selector: '.tt-row[data-id="probe"] .c-count' } : {});
    const sent = await stream;
    const { gaps } = await stopFrames(page);
    const statsAfter = await page.evaluate(() => ({ ...window.progressista.stats, table: { ...window.progressista.table.stats } }));
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const metrics = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    const after = await getTasks(server);
    const changed = Object.values(after).filter((t) => t.task_id in before && t.n !== before[t.task_id]).length;

    const renders = statsAfter.frames - statsBefore.frames;
    const domRows = await page.locator(table ? '.tt-rows .tt-row' : '.card').count();
    console.log(`\n== ${shown} tasks, ${RATE} events/s for ${SECONDS} s (${view} view)`);
    console.log(`posted ${shown} tasks in ${loadedMs} ms; the page showed them ${openMs} ms after navigation`);
    console.log(`stream: ${sent} events posted (${Math.round(sent / SECONDS)}/s); ${changed} tasks changed n (GET /tasks before and after)`);
    console.log(`frames: ${gaps.length} (${f(gaps.length / SECONDS)} fps); interval ms p50 ${f(percentile(gaps, 50))} ` +
      `p95 ${f(percentile(gaps, 95))} p99 ${f(percentile(gaps, 99))} max ${f(gaps[gaps.length - 1])}`);
    console.log(`dashboard work per applied frame: ${renders} frames, mean ${f((statsAfter.totalMs - statsBefore.totalMs) / Math.max(1, renders))} ms, max ${f(statsAfter.maxMs)} ms`);
    if (table) {
      const per = (k) => f((statsAfter.table[k] - statsBefore.table[k]) / Math.max(1, renders));
      console.log(`table: sort of ${shown} rows by id ${f(sortMs)} ms; ${domRows} rows in the DOM; of the work per frame, ` +
        `the rows ${per('syncMs')} ms (${statsAfter.table.syncs - statsBefore.table.syncs} passes over them), drawing them ${per('renderMs')} ms`);
    }
    console.log(`POST -> ${table ? 'row' : 'card'} latency ms (${lat.length} probes, ${misses} missed): p50 ${f(percentile(lat, 50))} ` +
      `p99 ${f(percentile(lat, 99))} max ${f(lat[lat.length - 1])}`);
    console.log(`page JS heap: ${f(metrics.JSHeapUsedSize / 2 ** 20)} MiB used of ${f(metrics.JSHeapTotalSize / 2 ** 20)} MiB; DOM nodes ${metrics.Nodes}`);
    console.log(`RESULT view=${view} tasks=${TASKS} rate=${RATE} fps=${f(gaps.length / SECONDS)} frame_p95_ms=${f(percentile(gaps, 95))} ` +
      `work_mean_ms=${f((statsAfter.totalMs - statsBefore.totalMs) / Math.max(1, renders))} latency_p50_ms=${f(percentile(lat, 50))} ` +
      `latency_p99_ms=${f(percentile(lat, 99))} heap_mib=${f(metrics.JSHeapUsedSize / 2 ** 20)} open_ms=${openMs} changed=${changed}`);
    await page.context().close();
  } finally {
    await server.cleanup();   // stopped by its PID, and its segment (up to 400 MiB) removed
  }
}

console.log(`bench-dashboard: ${BIN}; Chromium headless; the page, the server and this script share the machine`);
const browser = await launchBrowser();
try {
  for (const size of SIZES) for (const view of VIEWS) await run(browser, size, view);
} finally {
  await browser.close();
}
