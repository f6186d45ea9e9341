import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileStore } from '../../../server/store/file.js';
import { final, record } from '../../helpers/store.js';

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'earshot-store-'));
}

test('finals survive a process that never closed the store (what a crash leaves behind)', async () => {
  const d = dir();
  const a = new FileStore({ dir: d, retentionHours: 0 });
  await a.open(record('s1'));
  for (let i = 1; i <= 3; i++) await a.append('s1', final(i));
  await a.update('s1', { duration: 4.2, committed: 3.5 });
  // No close(): a second instance reads what the first wrote, as a restarted server would.
  const b = new FileStore({ dir: d, retentionHours: 0 });
  const r = await b.get('s1');
  assert.equal(r?.lastSeq, 3);
  assert.equal(r?.committed, 3.5);
  assert.equal(r?.duration, 4.2);
  assert.equal(r?.subject, 'alice');
  assert.deepEqual(
    (await b.finals('s1', 1)).map((f) => f.seq),
    [2, 3],
  );
  assert.deepEqual((await b.finals('s1'))[0], final(1));
});

test('a torn last line is ignored; corruption in the middle is an error', async () => {
  const d = dir();
  const s = new FileStore({ dir: d, retentionHours: 0 });
  await s.open(record('torn'));
  await s.append('torn', final(1));
  await s.close();
  const [file] = readdirSync(d);
  appendFileSync(join(d, file), '{"type":"final","final":{"seq":2,"sta');
  const again = new FileStore({ dir: d, retentionHours: 0 });
  assert.deepEqual(
    (await again.finals('torn')).map((f) => f.seq),
    [1],
  );
  // Appending after a torn line starts a new line: the torn one stays the only casualty.
  await again.append('torn', final(2));
  assert.deepEqual(
    (await new FileStore({ dir: d, retentionHours: 0 }).finals('torn')).map((f) => f.seq),
    [1, 2],
  );
  appendFileSync(join(d, file), 'garbage\n{"type":"update","patch":{"status":"closed"}}\n');
  await assert.rejects(() => new FileStore({ dir: d, retentionHours: 0 }).get('torn'), /corrupt at line/);
});

test('client-chosen ids never become paths', async () => {
  const d = dir();
  const s = new FileStore({ dir: d, retentionHours: 0 });
  for (const id of ['../../etc/passwd', 'a/b', 'meeting 1', 'ü'.repeat(300)]) {
    await s.open(record(id));
    await s.append(id, final(1));
    assert.equal((await s.get(id))?.id, id);
  }
  for (const name of readdirSync(d)) assert.match(name, /^[0-9a-f]{40}\.jsonl$/);
});

test('unknown sessions: append refuses, reads are empty, delete says so', async () => {
  const s = new FileStore({ dir: dir(), retentionHours: 0 });
  await assert.rejects(() => s.append('nope', final(1)), /unknown session/);
  assert.equal(await s.get('nope'), undefined);
  assert.deepEqual(await s.finals('nope'), []);
  assert.equal(await s.delete('nope'), false);
  await s.open(record('yes'));
  assert.equal(await s.delete('yes'), true);
  assert.equal(await s.get('yes'), undefined);
});

test('reopening a closed session marks it live and keeps its finals', async () => {
  const s = new FileStore({ dir: dir(), retentionHours: 0 });
  await s.open(record('r'));
  await s.append('r', final(1));
  await s.update('r', { status: 'closed' });
  assert.equal((await s.get('r'))?.status, 'closed');
  await s.open({ ...record('r'), lastSeq: 0 });
  const r = await s.get('r');
  assert.equal(r?.status, 'live');
  assert.equal(r?.lastSeq, 1);
});

test('appends from one session are serialised: concurrent writes land whole and in order', async () => {
  const d = dir();
  const s = new FileStore({ dir: d, retentionHours: 0 });
  await s.open(record('c'));
  await Promise.all(Array.from({ length: 50 }, (_, i) => s.append('c', final(i + 1))));
  const text = readFileSync(join(d, readdirSync(d)[0]), 'utf8');
  assert.equal(text.trim().split('\n').length, 51);
  assert.deepEqual(
    (await s.finals('c')).map((f) => f.seq),
    Array.from({ length: 50 }, (_, i) => i + 1),
  );
});

test('the sweeper deletes sessions past the retention, not live ones of this process', async () => {
  const d = dir();
  const s = new FileStore({ dir: d, retentionHours: 1, sweepIntervalMs: 3_600_000 });
  await s.open(record('old'));
  await s.update('old', { status: 'closed' });
  await s.open(record('streaming'));
  await s.open(record('fresh'));
  await s.update('fresh', { status: 'closed' });
  const twoHoursAgo = (Date.now() - 2 * 3_600_000) / 1000;
  for (const name of readdirSync(d)) {
    const id = JSON.parse(readFileSync(join(d, name), 'utf8').split('\n')[0]).record.id as string;
    if (id !== 'fresh') utimesSync(join(d, name), twoHoursAgo, twoHoursAgo);
  }
  assert.equal(await s.sweep(), 1);
  assert.equal(await s.get('old'), undefined);
  assert.ok(await s.get('streaming'));
  assert.ok(await s.get('fresh'));
  await s.close();
});
