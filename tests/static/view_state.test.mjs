// The dashboard's view in its address (static/js/view_state.js): ?q=&status=&group=, every
// other parameter (token=) kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readViewState, writeViewState } from '../../static/js/view_state.js';

test('readViewState: search, chip and grouping; defaults and nonsense', () => {
  assert.deepEqual(readViewState('?q=host%3Anode-07+status%3Afailed&status=failed&group=1&token=t'),
    { q: 'host:node-07 status:failed', status: 'failed', group: true, view: 'cards' });
  assert.deepEqual(readViewState(''), { q: '', status: 'all', group: null, view: 'cards' });
  assert.deepEqual(readViewState('?status=bogus&group=0&q=%20%20&view=bogus'), { q: '', status: 'all', group: false, view: 'cards' });
  assert.equal(readViewState('?view=table').view, 'table');
  for (const status of ['all', 'running', 'stale', 'failed', 'done']) {
    assert.equal(readViewState(`?status=${status}`).status, status);
  }
});

test('writeViewState: writes what differs from the defaults and keeps the token', () => {
  assert.equal(writeViewState('?token=s3cr%2Bt', { q: 'host:node-07', status: 'failed', group: true }),
    '?token=s3cr%2Bt&q=host%3Anode-07&status=failed&group=1');
  assert.equal(writeViewState('?token=abc&q=x&status=failed&group=1', { q: '', status: 'all', group: false }),
    '?token=abc&group=0', 'a group= already there stays, as 0');
  assert.equal(writeViewState('', { q: '', status: 'all', group: false }), '');
  assert.equal(writeViewState('?q=old', { q: 'new', status: 'done', group: false }), '?q=new&status=done');
  assert.equal(writeViewState('?other=1', { q: 'a b', status: 'all', group: false }), '?other=1&q=a+b');
  assert.equal(writeViewState('?token=t', { q: '', status: 'failed', group: false, view: 'table' }), '?token=t&status=failed&view=table');
  assert.equal(writeViewState('?view=table&token=t', { q: '', status: 'all', group: false, view: 'cards' }), '?token=t',
    'the cards are the default: not in the address');
});

test('what is written reads back the same, and the token with it', () => {
  const views = [
    { q: 'status:failed project:"big data"', status: 'stale', group: true, view: 'table' },
    { q: '', status: 'done', group: false, view: 'cards' },
    { q: '&=?#%', status: 'all', group: true, view: 'table' },
  ];
  for (const view of views) {
    const search = writeViewState('?token=tok%26en', view);
    assert.equal(new URLSearchParams(search).get('token'), 'tok&en');
    const back = readViewState(search);
    assert.deepEqual({ ...back, group: Boolean(back.group) }, view);
  }
});
