// Progressista's own dashboard speaks plain `/ws`: whole-state `{"tasks": {...}}` frames. This
// checks that shape from a real browser against a real `progressista serve`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServe, post, launchBrowser } from './harness.mjs';

test('plain /ws sends Progressista {"tasks": {...}} frames', async () => {
  const server = await startServe();
  const browser = await launchBrowser();
  try {
    await post(server, { task_id: 'compat-1', desc: 'Compat', n: 1, total: 4, unit: 'it' });
    const page = await browser.newPage();
    await page.goto(`${server.url}/health`);   // any page of the server's origin
    await page.evaluate(() => {
      window.frames_ = [];
      window.ws_ = new WebSocket(`ws://${location.host}/ws`);
      window.ws_.onmessage = (ev) => window.frames_.push(JSON.parse(ev.data));
    });
    await page.waitForFunction(() => window.frames_.length >= 1, null, { timeout: 10000 });
    await post(server, { task_id: 'compat-1', n: 3 });
    await page.waitForFunction(() => window.frames_.some((f) => f.tasks && f.tasks['compat-1'] && f.tasks['compat-1'].n === 3),
      null, { timeout: 10000 });
    const frames = await page.evaluate(() => window.frames_);
    await page.evaluate(() => window.ws_.close());

    for (const frame of frames) {
      assert.deepEqual(Object.keys(frame), ['tasks'], 'a frame is {"tasks": {...}} and nothing else');
      assert.equal(typeof frame.tasks, 'object');
      assert.ok(!Array.isArray(frame.tasks));
      for (const [id, task] of Object.entries(frame.tasks)) assert.equal(task.task_id, id, 'keyed by task_id');
    }
    const first = frames[0].tasks['compat-1'];
    assert.equal(first.desc, 'Compat');
    assert.equal(first.n, 1);
    assert.equal(first.total, 4);
    assert.equal(first.unit, 'it');
    assert.equal(first.status, 'update');
    assert.equal(typeof first.created_at, 'number');
    assert.equal(typeof first.updated_at, 'number');
    const last = frames[frames.length - 1].tasks['compat-1'];
    assert.equal(last.n, 3);
  } finally {
    await browser.close();
    await server.cleanup();
  }
});
