import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore } from '../../../server/store/memory.js';
import { final, record } from '../../helpers/store.js';

async function openClosed(store: MemoryStore, subject: string, id: string): Promise<void> {
  await store.open({ ...record(id), subject });
  await store.append(id, final(1));
  await store.update(id, { status: 'closed' });
}

test('one subject opening sessions by the thousand evicts only its own closed transcripts', async () => {
  const store = new MemoryStore(20);
  for (let i = 0; i < 5; i++) await openClosed(store, 'alice', `alice-${i}`);
  for (let i = 0; i < 10_000; i++) await openClosed(store, 'mallory', `mallory-${i}`);
  for (let i = 0; i < 5; i++) {
    assert.equal((await store.finals(`alice-${i}`)).length, 1, `alice-${i} kept`);
  }
  assert.ok(await store.get('mallory-9999'), 'the newest of the flooder is kept');
  assert.equal(await store.get('mallory-0'), undefined, 'its oldest went');
});

test("a per-subject cap forgets the subject's own oldest closed session; live ones stay", async () => {
  const store = new MemoryStore(1000, 3);
  await store.open({ ...record('live'), subject: 'bob' });
  for (let i = 0; i < 6; i++) await openClosed(store, 'bob', `bob-${i}`);
  await openClosed(store, 'carol', 'carol-0');
  assert.ok(await store.get('live'));
  const kept = [];
  for (let i = 0; i < 6; i++) if (await store.get(`bob-${i}`)) kept.push(i);
  assert.deepEqual(kept, [4, 5]);
  assert.ok(await store.get('carol-0'));
});
