import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { StoreUnavailableError, TranscriptFullError } from '../../../server/store/types.js';
import { RedisStore } from '../../../server/store/redis.js';
import { final, record } from '../../helpers/store.js';
import { NO_REDIS, startRedis, type TestRedis } from '../../helpers/redis.js';

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('RedisStore against a real redis-server', { skip: NO_REDIS }, () => {
  let redis: TestRedis;
  const stores: RedisStore[] = [];
  const store = (o: Partial<ConstructorParameters<typeof RedisStore>[0]> = {}) => {
    const s = new RedisStore({ url: redis.url, retentionHours: 1, commandTimeoutMs: 500, ...o });
    stores.push(s);
    return s;
  };
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await redis?.stop();
  });

  test('two replicas share a session: one writes, the other reads the same record and finals', async () => {
    const a = store();
    const b = store();
    await a.open(record('shared'));
    for (let i = 1; i <= 4; i++) await a.append('shared', final(i));
    await a.update('shared', { committed: 4.5, duration: 5 });
    const r = await b.get('shared');
    assert.equal(r?.lastSeq, 4);
    assert.equal(r?.committed, 4.5);
    assert.deepEqual(r?.params, { language: 'en', interim: true });
    assert.deepEqual(
      (await b.finals('shared', 2)).map((f) => f.seq),
      [3, 4],
    );
    assert.deepEqual((await b.finals('shared'))[0], final(1));
    assert.equal(await b.delete('shared'), true);
    assert.equal(await a.get('shared'), undefined);
  });

  test('a patch with an undefined field leaves the record readable', async () => {
    const a = store();
    await a.open({ ...record('undef'), params: { keyterms: undefined, language: 'en' } });
    await a.update('undef', { committed: 2.5, duration: undefined });
    await a.update('undef', { lastSeq: undefined });
    const r = await a.get('undef');
    assert.equal(r?.committed, 2.5);
    assert.equal(r?.duration, 0);
    assert.deepEqual(r?.params, { language: 'en' });
  });

  test('append to an unknown session fails at once (no outage wait)', async () => {
    const a = store({ outageMs: 60_000 });
    const t0 = Date.now();
    await assert.rejects(() => a.append('ghost', final(1)), /unknown session/);
    assert.ok(Date.now() - t0 < 30_000);
  });

  test('one lease per session: the holder renews, others are refused, it expires when the holder stops', async () => {
    const a = store();
    const b = store();
    assert.equal(await a.lease('L', 'replica-a', 300), true);
    assert.equal(await b.lease('L', 'replica-b', 300), false);
    assert.equal(await a.lease('L', 'replica-a', 300), true);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await b.lease('L', 'replica-b', 5000), true);
    await a.release('L', 'replica-a'); // not a's any more: no effect
    assert.equal(await a.lease('L', 'replica-a', 300), false);
    await b.release('L', 'replica-b');
    assert.equal(await a.lease('L', 'replica-a', 300), true);
  });

  test('a lease whose holder died (its Redis connection closed) is taken over at once, not after its TTL', async () => {
    const dying = store();
    const b = store();
    assert.equal(await dying.lease('D', 'r1/conn-1', 60_000), true);
    assert.equal(await b.lease('D', 'r2/conn-1', 60_000), false, 'a live holder keeps it');
    await dying.close();
    await until(() => dying.available() === false);
    let taken = false;
    for (let i = 0; i < 50 && !taken; i++) {
      taken = await b.lease('D', 'r2/conn-1', 60_000);
      if (!taken) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(taken, true);
  });

  test("a replica's next connection for a session takes over its previous one's lease; the old release is a no-op", async () => {
    const a = store();
    const b = store();
    assert.equal(await a.lease('S', 'r1/old', 60_000), true);
    assert.equal(await a.lease('S', 'r1/new', 60_000), true);
    await a.release('S', 'r1/old');
    assert.equal(await b.lease('S', 'r2/x', 60_000), false, 'still held by r1/new');
    await a.release('S', 'r1/new');
    assert.equal(await b.lease('S', 'r2/x', 60_000), true);
  });

  test('Redis restarted mid-stream: a write waits for it and nothing acknowledged is lost', async () => {
    const a = store({ outageMs: 20_000 });
    await a.open(record('restart'));
    await a.append('restart', final(1));
    const restarting = redis.restart(800);
    await until(() => !a.available());
    const pending = a.append('restart', final(2));
    await restarting;
    await pending;
    await a.append('restart', final(3));
    assert.deepEqual(
      (await a.finals('restart')).map((f) => f.seq),
      [1, 2, 3],
    );
    assert.equal(a.available(), true);
  });

  test(
    'close() ends a write waiting out an outage (its retries would keep a draining process alive)',
    { timeout: 15_000 },
    async () => {
      const a = store({ outageMs: 60_000 });
      await a.open(record('closing'));
      await redis.stop();
      try {
        await until(() => !a.available());
        const pending = a.append('closing', final(1));
        await new Promise((r) => setTimeout(r, 300));
        await a.close();
        await assert.rejects(pending, StoreUnavailableError);
      } finally {
        await redis.restart();
      }
    },
  );

  test('an outage longer than the limit fails the write with StoreUnavailableError', async () => {
    const a = store({ outageMs: 600 });
    await a.open(record('outage'));
    await redis.stop();
    try {
      await until(() => !a.available());
      await assert.rejects(() => a.append('outage', final(1)), StoreUnavailableError);
    } finally {
      await redis.restart();
    }
  });
  test("a session's finals stop at the size cap (a retried final counts once); the record hides the count", async () => {
    const a = store({ maxSessionBytes: 1500 });
    await a.open(record('cap'));
    let stored = 0;
    let err: unknown;
    for (let i = 1; i <= 100 && !err; i++) {
      await a.append('cap', final(i)).then(
        () => stored++,
        (e: unknown) => (err = e),
      );
      if (!err) await a.append('cap', final(i)); // a retry of the same final: no extra bytes
    }
    assert.ok(err instanceof TranscriptFullError, String(err));
    assert.ok(stored > 3 && stored < 100, `${stored} finals stored`);
    assert.equal((await a.finals('cap')).length, stored);
    await a.update('cap', { status: 'closed' });
    const r = await a.get('cap');
    assert.equal(r?.status, 'closed');
    assert.deepEqual(Object.keys(r!).sort(), Object.keys(record('cap')).sort());
  });
});
