// Exporting the table's rows (static/js/export.js): RFC 4180 CSV, JSON, times and durations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FIELDS, csvField, exportFileName, exportRecord, toCsv, toJson } from '../../static/js/export.js';

test('csvField: quotes only what needs it, doubles quotes (RFC 4180)', () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField(42), '42');
  assert.equal(csvField(''), '');
  assert.equal(csvField(null), '');
  assert.equal(csvField(undefined), '');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('two\nlines'), '"two\nlines"');
  assert.equal(csvField('cr\rlf'), '"cr\rlf"');
  assert.equal(csvField(' padded'), '" padded"');
  assert.equal(csvField({ host: 'a,b', q: '"' }), '"{""host"":""a,b"",""q"":""\\""""}"');
});

test('csvField: text a spreadsheet would run as a formula is defused; numbers are not', () => {
  assert.equal(csvField('=HYPERLINK("http://x","y")'), `"'=HYPERLINK(""http://x"",""y"")"`);
  assert.equal(csvField('+1 retry'), "'+1 retry");
  assert.equal(csvField('-rf'), "'-rf");
  assert.equal(csvField('@SUM(A1)'), "'@SUM(A1)");
  assert.equal(csvField(-3.5), '-3.5');
  assert.equal(csvField('a=b'), 'a=b');
});

// A minimal RFC 4180 reader, to check that what toCsv writes reads back field for field.
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (ch === '"') { quoted = false; i++; continue; }
      field += ch; i++; continue;
    }
    if (ch === '"') { quoted = true; i++; continue; }
    if (ch === ',') { row.push(field); field = ''; i++; continue; }
    if (ch === '\r' && text[i + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; i += 2; continue; }
    field += ch; i++;
  }
  assert.equal(field, '', 'the text ends with CRLF');
  return rows;
}

const failed = {
  task_id: 'etl/7', desc: 'Load "orders", part 2', project: 'data', phase: 'load', status: 'error', n: 45, total: 100,
  unit: 'rows', created_at: 1700000000, updated_at: 1700000090.5, done_at: 1700000090.5,
  error: 'Disk full\non /scratch', meta: { host: 'node-07' },
};
const running = { task_id: 'web-1', status: 'update', n: 3, created_at: 1700000000, updated_at: 1700000030, rate: 0.1, meta: { project: 'web' } };

test('toCsv: a header, one CRLF line per row, fields that read back as written', () => {
  const csv = toCsv([{ task: failed, project: 'data' }, { task: running }], 1700000100);
  assert.ok(csv.endsWith('\r\n'));
  const rows = parseCsv(csv);
  assert.equal(rows.length, 3);
  assert.deepEqual(rows[0], FIELDS);
  const rec = Object.fromEntries(FIELDS.map((f, i) => [f, rows[1][i]]));
  assert.equal(rec.task_id, 'etl/7');
  assert.equal(rec.desc, 'Load "orders", part 2');
  assert.equal(rec.error, 'Disk full\non /scratch');
  assert.equal(rec.status, 'error');
  assert.equal(rec.shown_status, 'failed');
  assert.equal(rec.created, '2023-11-14T22:13:20.000Z');
  assert.equal(rec.done, '2023-11-14T22:14:50.500Z');
  assert.equal(rec.duration_s, '90.5');
  assert.deepEqual(JSON.parse(rec.meta), { host: 'node-07' });
  const rec2 = Object.fromEntries(FIELDS.map((f, i) => [f, rows[2][i]]));
  assert.equal(rec2.project, 'web', 'meta.project when the row gives none');
  assert.equal(rec2.done, '');
  assert.equal(rec2.duration_s, '30', 'to the last update while it runs');
  assert.equal(rec2.unit, 'it');
  for (const row of rows) assert.equal(row.length, FIELDS.length);
});

test('toJson and exportRecord: the same records, meta kept as an object', () => {
  const json = JSON.parse(toJson([{ task: failed, project: 'data' }], 1700000100));
  assert.equal(json.length, 1);
  assert.deepEqual(json[0], exportRecord(failed, 1700000100, 'data'));
  assert.deepEqual(json[0].meta, { host: 'node-07' });
  assert.equal(json[0].duration_s, 90.5);
  assert.equal(exportRecord({ task_id: 'x', status: 'close', n: 45, total: 100 }, 0).shown_status, 'ended at 45%');
  assert.equal(exportRecord({ task_id: 'x' }, 0).duration_s, '');
});

test('exportFileName: progressista-tasks-<ISO time>.<ext>, no colons', () => {
  assert.equal(exportFileName('csv', new Date('2026-12-02T05:40:07.123Z')), 'progressista-tasks-2026-12-02T05-40-07Z.csv');
  assert.equal(exportFileName('json', new Date('2026-12-02T05:40:07Z')), 'progressista-tasks-2026-12-02T05-40-07Z.json');
});
