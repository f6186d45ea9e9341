import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FileJobSlots, FileSlotsBusyError } from '../../../server/scheduling/file-jobs.js';

test('one subject cannot hold every file-job slot: the last one is kept for another subject', async () => {
  const slots = new FileJobSlots(2, 60_000);
  const first = await slots.acquire('alice');
  let second = false;
  const aliceAgain = slots.acquire('alice').then((release) => ((second = true), release));
  const bob = await slots.acquire('bob'); // does not wait behind alice's second job
  assert.equal(second, false);
  first();
  const release = await aliceAgain; // alice's turn comes when her first job ends
  bob();
  release();
  assert.equal(slots.running, 0);
});

test('a request that gets no slot in time is refused, and one whose client left stops waiting', async () => {
  const slots = new FileJobSlots(1, 50);
  const held = await slots.acquire('alice');
  await assert.rejects(slots.acquire('bob'), FileSlotsBusyError);
  const gone = new AbortController();
  const waiting = slots.acquire('bob', gone.signal);
  gone.abort(new Error('client left'));
  await assert.rejects(waiting, /client left/);
  held();
  assert.equal(slots.running, 0);
});
