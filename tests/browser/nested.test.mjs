// Nested progress on the board (issue 15 part 2) in a real headless Chromium against a real
// `progressista serve`: a parent's children fold under it ("▸ N children"), the toggle shows
// and hides them on the cards and in the table, and a search finds a folded child.
// Run: PROGRESSISTA_BIN=build/daemon/progressista node --test nested.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServe, post, launchBrowser, openPage, until, waitLive, waitEqual, waitText, noPageErrors } from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const shownIds = (page) => page.locator('.card').evaluateAll((cs) => cs.map((c) => c.dataset.id).sort());
const rowIds = (page) => page.locator('.tt-rows .tt-row').evaluateAll((rs) => rs.map((r) => r.dataset.id).sort());

test('children fold under their parent and the toggle shows them, on cards and in the table', async () => {
  const server = await startServe();
  try {
    const page = await openPage(browser, `${server.url}/static/index.html`);
    await waitLive(page);
    await post(server, [
      { task_id: 'solo', desc: 'No family', n: 1, total: 2 },
      { task_id: 'w1', n: 3, total: 10, meta: { parent: 'fleet' } },
      { task_id: 'w2', n: 4, total: 10, meta: { parent: 'fleet' } },
      { task_id: 'w3', n: 1, total: 10, parent: 'fleet' },
    ]);
    await waitEqual(() => shownIds(page), ['fleet', 'solo'], 'the children are folded under fleet');
    const toggle = page.locator('.card[data-id="fleet"] .kids');
    await waitText(toggle, /▸ 3 children/, 'the parent offers its children');
    await waitText(page.locator('.card[data-id="fleet"] .pct'), /26(\.7)?%|27%/, 'the parent sums its children (8 of 30)');

    await toggle.click();
    await waitEqual(() => shownIds(page), ['fleet', 'solo', 'w1', 'w2', 'w3'], 'expanded: the children show');
    await waitText(toggle, /▾ 3 children/, 'the toggle says it is open');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    await toggle.click();
    await waitEqual(() => shownIds(page), ['fleet', 'solo'], 'folded again');

    // A search finds a folded child.
    await page.fill('#search', 'w2');
    await waitEqual(() => shownIds(page), ['w2'], 'a search shows every match');
    await page.fill('#search', '');
    await waitEqual(() => shownIds(page), ['fleet', 'solo'], 'folded again without the search');

    // The table shows the store's same views: folded rows, and the parent's toggle.
    await page.click('button[data-view="table"]');
    await waitEqual(() => rowIds(page), ['fleet', 'solo'], 'the table folds the children too');
    await page.locator('.tt-rows .tt-row[data-id="fleet"] .tt-kids').click();
    await waitEqual(() => rowIds(page), ['fleet', 'solo', 'w1', 'w2', 'w3'], 'the table expands them');
    noPageErrors(page);
  } finally {
    await server.cleanup();
  }
});
