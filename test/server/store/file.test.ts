import assert from 'node:assert/strict';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  utimesSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileStore } from '../../../server/store/file.js';
import { TranscriptFullError } from '../../../server/store/types.js';
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

test('a torn last line is ignored; a corrupt line in the middle is skipped, logged once, and the rest kept', async () => {
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
  appendFileSync(
    join(d, file),
    'garbage\n{"type":"final"}\n' +
      `${JSON.stringify({ type: 'final', final: final(3) })}\n{"type":"update","patch":{"status":"closed"}}\n`,
  );
  const warnings: object[] = [];
  const third = new FileStore({ dir: d, retentionHours: 0, log: { warn: (o) => warnings.push(o) } });
  assert.equal((await third.get('torn'))?.status, 'closed');
  assert.equal((await third.get('torn'))?.lastSeq, 3);
  assert.deepEqual(
    (await third.finals('torn')).map((f) => f.seq),
    [1, 2, 3],
  );
  assert.equal(warnings.length, 1, 'logged once per file, not per read');
  assert.match(JSON.stringify(warnings[0]), /"lines":2/);
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

/** This process's open descriptors on files under `d`. */
function openFiles(d: string): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(d) ? [target] : [];
    } catch {
      return []; // the descriptor readdir itself used
    }
  });
}

test('a final written after the session closed does not leave its file open, and the sweeper can age it out', async () => {
  const d = dir();
  const s = new FileStore({ dir: d, retentionHours: 1, sweepIntervalMs: 3_600_000 });
  await s.open(record('late'));
  await s.append('late', final(1));
  assert.equal(openFiles(d).length, 1, 'a live session keeps its file open');
  // A client dropped mid-speech: the closing update comes first, its last final and the summary after.
  await s.update('late', { status: 'closed' });
  await s.append('late', final(2));
  await s.update('late', { duration: 3, committed: 3 });
  assert.deepEqual(openFiles(d), []);
  assert.deepEqual(
    (await s.finals('late')).map((f) => f.seq),
    [1, 2],
  );
  const old = (Date.now() - 2 * 3_600_000) / 1000;
  utimesSync(join(d, readdirSync(d)[0]), old, old);
  assert.equal(await s.sweep(), 1);
  await s.close();
});

test('a write that fails midway (disk full) is cut back: no torn line mid-file, later finals load', async () => {
  const d = dir();
  let failNext = false;
  const s = new FileStore({
    dir: d,
    retentionHours: 0,
    appendLine: async (fh, text) => {
      if (!failNext) return void (await fh.appendFile(text));
      failNext = false;
      await fh.appendFile(text.slice(0, text.length >> 1));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    },
  });
  await s.open(record('full'));
  await s.append('full', final(1));
  failNext = true;
  await assert.rejects(() => s.append('full', final(2)), /ENOSPC/);
  await s.append('full', final(3));
  await s.update('full', { status: 'closed' });
  const text = readFileSync(join(d, readdirSync(d)[0]), 'utf8');
  for (const line of text.trimEnd().split('\n')) JSON.parse(line); // every line whole
  assert.deepEqual(
    (await new FileStore({ dir: d, retentionHours: 0 }).finals('full')).map((f) => f.seq),
    [1, 3],
  );
});

test('a sweep goes past files it cannot read or parse: logged, the others still swept', async () => {
  const d = dir();
  const warnings: string[] = [];
  const s = new FileStore({
    dir: d,
    retentionHours: 1,
    sweepIntervalMs: 3_600_000,
    log: { warn: (_o, msg) => warnings.push(msg) },
  });
  for (const id of ['a', 'b']) {
    await s.open(record(id));
    await s.update(id, { status: 'closed' });
  }
  const [first] = readdirSync(d);
  appendFileSync(join(d, first), 'garbage\n{"type":"update","patch":{"status":"closed"}}\n');
  mkdirSync(join(d, `${'0'.repeat(40)}.jsonl`)); // a name that cannot be read as a file
  const old = (Date.now() - 2 * 3_600_000) / 1000;
  for (const name of readdirSync(d)) utimesSync(join(d, name), old, old);
  assert.equal(await s.sweep(), 2, 'both session files, the corrupt one included');
  assert.deepEqual(readdirSync(d), [`${'0'.repeat(40)}.jsonl`]);
  assert.equal(warnings.length, 1);
  await s.close();
});

test('a session file stops taking finals at its cap; the closing update still lands', async () => {
  const d = dir();
  const s = new FileStore({ dir: d, retentionHours: 0, maxSessionBytes: 2000 });
  await s.open(record('cap'));
  let stored = 0;
  let err: unknown;
  for (let i = 1; i <= 100 && !err; i++) {
    await s.append('cap', final(i)).then(
      () => stored++,
      (e: unknown) => (err = e),
    );
  }
  assert.ok(err instanceof TranscriptFullError, String(err));
  assert.match((err as Error).message, /transcript of session cap is full/);
  assert.ok(stored > 3 && stored < 100, `${stored} finals stored`);
  await s.update('cap', { status: 'closed' });
  assert.ok(statSync(join(d, readdirSync(d)[0])).size <= 2000 + 64 * 1024);
  const r = await s.get('cap');
  assert.equal(r?.status, 'closed');
  assert.equal((await s.finals('cap')).length, stored);
});
