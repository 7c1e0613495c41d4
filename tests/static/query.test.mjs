// The dashboard's search (static/js/query.js): a task's project and search text, and the
// queries of the search box, without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileQuery, fieldValue, parseQuery, projectOf, searchText, statusWords,
} from '../../static/js/query.js';

const TASKS = [
  { task_id: 'web-1', desc: 'Crawl sites', project: 'web', status: 'update', message: 'waiting for lock',
    meta: { host: 'node-07', Region: 'EU-West' } },
  { task_id: 'etl-1', desc: 'Nightly ETL', status: 'error', error: 'Disk full on /scratch',
    meta: { project: 'data', host: 'node-03', retries: 3 } },
  { task_id: 'etl-2', desc: 'Export', status: 'close', phase: 'upload', meta: { project: 'data', host: 'node-07', tags: ['gpu', 'x'] } },
  { task_id: 'train-1', desc: 'Train ResNet', project: 'vision', status: 'start', message: 'started at 10:42' },
  { task_id: 'old', desc: 'Sleepy', status: 'stale' },
  { task_id: 'back', desc: 'Came back', status: 'recovered', project: 'vision' },
  { task_id: 'bare' },
];

// The ids a query keeps, in TASKS order.
function find(query) {
  const m = compileQuery(query);
  return TASKS.filter((t) => !m || m(t)).map((t) => t.task_id);
}

test('projectOf: the project field, else meta.project, else empty', () => {
  assert.equal(projectOf({ project: 'web' }), 'web');
  assert.equal(projectOf({ meta: { project: 'data' } }), 'data');
  assert.equal(projectOf({ project: 'web', meta: { project: 'data' } }), 'web', 'the field wins');
  assert.equal(projectOf({ project: '', meta: { project: 'data' } }), 'data');
  assert.equal(projectOf({ meta: { project: 7 } }), '7');
  assert.equal(projectOf({ meta: { project: { a: 1 } } }), '', 'an object is no project');
  assert.equal(projectOf({ meta: ['project'] }), '');
  assert.equal(projectOf({}), '');
});

test('statusWords: the API word, the badge, the chip and a few more', () => {
  assert.deepEqual(statusWords('error'), ['error', 'failed']);
  assert.deepEqual(statusWords('close'), ['close', 'done', 'closed', 'completed', 'finished']);
  assert.deepEqual(statusWords('update'), ['update', 'running', 'active']);
  assert.deepEqual(statusWords('start'), ['start', 'started', 'running', 'active']);
  assert.deepEqual(statusWords('recovered'), ['recovered', 'running']);
  assert.deepEqual(statusWords('stale'), ['stale']);
  assert.deepEqual(statusWords(undefined), statusWords('update'), 'no status is update');
  assert.deepEqual(statusWords('weird'), ['weird']);
});

test('searchText: every field a person reads, lower case, one field a line', () => {
  const hay = searchText(TASKS[1]);
  for (const part of ['etl-1', 'nightly etl', 'data', 'disk full on /scratch', 'error failed', 'node-03', '3']) {
    assert.ok(hay.includes(part), `${part} in ${JSON.stringify(hay)}`);
  }
  assert.ok(searchText(TASKS[2]).includes('["gpu","x"]'), 'arrays as JSON');
  assert.ok(!searchText(TASKS[0]).includes('region'), 'meta keys are not text, only values');
  assert.ok(!searchText(TASKS[0]).includes('crawl sites web'), 'fields do not run together');
  assert.equal(searchText({ task_id: 'x' }), 'x\nupdate\nrunning\nactive'.replace(/\n(?=running|active)/g, ' '));
});

test('parseQuery: words and key:value terms, quotes keep spaces, lower case', () => {
  assert.deepEqual(parseQuery('  Disk   host:Node-07 '), [
    { key: null, value: 'disk', text: 'disk' },
    { key: 'host', value: 'node-07', text: 'host:node-07' },
  ]);
  assert.deepEqual(parseQuery('"disk full" project:"big data" error:'), [
    { key: null, value: 'disk full', text: 'disk full' },
    { key: 'project', value: 'big data', text: 'project:big data' },
    { key: 'error', value: '', text: 'error:' },
  ]);
  assert.deepEqual(parseQuery('"a:b"'), [{ key: null, value: 'a:b', text: 'a:b' }], 'a quoted colon is text');
  assert.deepEqual(parseQuery('"unclosed quote'), [{ key: null, value: 'unclosed quote', text: 'unclosed quote' }]);
  assert.deepEqual(parseQuery('""  '), []);
  assert.deepEqual(parseQuery(''), []);
  assert.deepEqual(parseQuery(undefined), []);
  assert.equal(compileQuery('  '), null, 'an empty query matches everything');
});

test('plain words match anywhere, case-insensitive substrings, all of them', () => {
  assert.deepEqual(find('ETL'), ['etl-1', 'etl-2']);
  assert.deepEqual(find('lock'), ['web-1'], 'message');
  assert.deepEqual(find('disk full'), ['etl-1'], 'error text, two words ANDed');
  assert.deepEqual(find('full disk'), ['etl-1'], 'in any order');
  assert.deepEqual(find('"full disk"'), [], 'a quoted phrase as it is');
  assert.deepEqual(find('failed'), ['etl-1'], 'the status as shown');
  assert.deepEqual(find('done'), ['etl-2']);
  assert.deepEqual(find('stale'), ['old']);
  assert.deepEqual(find('node-07'), ['web-1', 'etl-2'], 'meta values');
  assert.deepEqual(find('eu-west'), ['web-1']);
  assert.deepEqual(find('upload'), ['etl-2'], 'phase');
  assert.deepEqual(find('data'), ['etl-1', 'etl-2'], 'meta.project');
  assert.deepEqual(find('node-07 lock'), ['web-1']);
  assert.deepEqual(find('nothing-like-this'), []);
});

test('status: by the API word, as shown, by the chip, or a prefix of them', () => {
  assert.deepEqual(find('status:failed'), ['etl-1']);
  assert.deepEqual(find('status:error'), ['etl-1']);
  assert.deepEqual(find('STATUS:Fail'), ['etl-1'], 'a prefix, any case');
  assert.deepEqual(find('status:close'), ['etl-2']);
  assert.deepEqual(find('status:done'), ['etl-2']);
  assert.deepEqual(find('status:completed'), ['etl-2']);
  assert.deepEqual(find('status:update'), ['web-1', 'bare'], 'a task without status is update');
  assert.deepEqual(find('status:running'), ['web-1', 'train-1', 'back', 'bare'], 'the Running chip: start, update, recovered');
  assert.deepEqual(find('status:active'), ['web-1', 'train-1', 'bare'], 'the Active bucket');
  assert.deepEqual(find('status:stale'), ['old']);
  assert.deepEqual(find('status:recovered'), ['back']);
  assert.deepEqual(find('status:start'), ['train-1']);
  assert.deepEqual(find('status:bogus'), []);
  assert.deepEqual(find('status:failed status:done'), [], 'terms AND');
});

test('project: the field, else meta.project; substrings', () => {
  assert.deepEqual(find('project:data'), ['etl-1', 'etl-2']);
  assert.deepEqual(find('project:vision'), ['train-1', 'back']);
  assert.deepEqual(find('project:vis'), ['train-1', 'back']);
  assert.deepEqual(find('PROJECT:WEB'), ['web-1']);
  assert.deepEqual(find('project:'), ['web-1', 'etl-1', 'etl-2', 'train-1', 'back'], 'has a project');
  assert.deepEqual(find('project:data status:failed'), ['etl-1']);
  // The field wins over meta.project.
  const both = { task_id: 'both', project: 'web', meta: { project: 'data' } };
  assert.equal(compileQuery('project:data')(both), false);
  assert.equal(compileQuery('project:web')(both), true);
});

test('key:value: own fields, then any meta key (case-insensitive name); a task without it matches the term as text', () => {
  assert.deepEqual(find('host:node-07'), ['web-1', 'etl-2']);
  assert.deepEqual(find('HOST:NODE-0'), ['web-1', 'etl-1', 'etl-2']);
  assert.deepEqual(find('host:node-07 project:data'), ['etl-2']);
  assert.deepEqual(find('region:eu'), ['web-1'], 'meta key named Region');
  assert.deepEqual(find('retries:3'), ['etl-1'], 'numbers as text');
  assert.deepEqual(find('tags:gpu'), ['etl-2'], 'arrays as JSON');
  assert.deepEqual(find('host:'), ['web-1', 'etl-1', 'etl-2'], 'has the key');
  assert.deepEqual(find('id:etl'), ['etl-1', 'etl-2']);
  assert.deepEqual(find('desc:train'), ['train-1']);
  assert.deepEqual(find('phase:up'), ['etl-2']);
  assert.deepEqual(find('error:disk'), ['etl-1']);
  assert.deepEqual(find('message:lock'), ['web-1']);
  assert.deepEqual(find('10:42'), ['train-1'], 'no field "10": the term is text');
  assert.deepEqual(find('gpu:3'), [], 'an unknown key matches nothing else');
  assert.equal(fieldValue(TASKS[1], 'retries'), '3');
  assert.equal(fieldValue(TASKS[0], 'region'), 'EU-West');
  assert.equal(fieldValue(TASKS[0], 'nope'), undefined);
  assert.equal(fieldValue({ task_id: 'x', phase: '', meta: { phase: 'm' } }, 'phase'), 'm', 'an empty field gives way to meta');
});

test('a compiled query asks for the search text once, and only when a term needs it', () => {
  const asked = [];
  const textOf = (t) => { asked.push(t.task_id); return t.task_id === 'x' ? 'hay with a needle' : 'other hay'; };
  const m = compileQuery('needle hay');
  assert.equal(m({ task_id: 'x' }, textOf), true);
  assert.equal(m({ task_id: 'needle' }, textOf), false, 'the given text is what is searched');
  assert.deepEqual(asked, ['x', 'needle'], 'once per task for two words');
  assert.equal(compileQuery('needle')({ task_id: 'needle' }), true, 'without textOf: searchText');
  asked.length = 0;
  const fields = compileQuery('host:node-07 status:failed');
  assert.equal(fields({ task_id: 'a', status: 'error', meta: { host: 'node-07' } }, textOf), true);
  assert.equal(fields({ task_id: 'b', status: 'error', meta: { host: 'node-08' } }, textOf), false);
  assert.deepEqual(asked, [], 'field terms on fields the task has need no text');
  assert.equal(fields({ task_id: 'c', status: 'error' }, textOf), false);
  assert.deepEqual(asked, ['c'], 'a task without the key: the term as text');
});
