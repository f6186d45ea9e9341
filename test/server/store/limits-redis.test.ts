// server/limits/redis.ts (the LimitStore shared by replicas) against a real redis-server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RedisLimitStore } from '../../../server/limits/redis.js';
import { NO_REDIS, startRedis, type TestRedis } from '../../helpers/redis.js';

describe('RedisLimitStore against a real redis-server', { skip: NO_REDIS }, () => {
  let redis: TestRedis;
  const stores: RedisLimitStore[] = [];
  const store = (slotTtlMs = 30_000) => {
    const s = new RedisLimitStore({ url: redis.url, slotTtlMs });
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

  test('a bucket is shared by replicas: what one takes, the other cannot', async () => {
    const [a, b] = [store(), store()];
    const spec = { capacity: 10, refillPerSecond: 0.001 };
    assert.equal((await a.take('alice', 7, spec, 0)).ok, true);
    const refused = await b.take('alice', 7, spec, 0);
    assert.equal(refused.ok, false);
    assert.ok(refused.level > 2.9 && refused.level < 3.1, String(refused.level));
    assert.ok(refused.retryAfterMs > 3_000_000, 'about 4 tokens at 0.001/s');
    const charged = await b.take('alice', 5, spec, 0, 0); // audio already received: charged in full
    assert.equal(charged.ok, true);
    assert.ok(charged.level < -1.9);
    assert.equal((await a.take('alice', 1, { capacity: 10, refillPerSecond: 0 }, 0)).retryAfterMs, Infinity);
  });

  test('concurrency slots count across replicas and free up on release', async () => {
    const [a, b] = [store(), store()];
    assert.equal(await a.acquire('bob', 2), true);
    assert.equal(await b.acquire('bob', 2), true);
    assert.equal(await a.acquire('bob', 2), false);
    await b.release('bob');
    assert.equal(await a.acquire('bob', 2), true);
    await b.release('bob'); // b holds none any more: frees nothing of a's
    assert.equal(await b.acquire('bob', 2), false);
  });

  test("a dead replica's slots expire; a live one's are renewed past their TTL", async () => {
    const [dying, live, other] = [store(300), store(300), store(300)];
    assert.equal(await dying.acquire('carol', 2), true);
    assert.equal(await live.acquire('carol', 2), true);
    await dying.close(); // no more renewals, like a replica killed with -9
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(await other.acquire('carol', 2), true, "the dead replica's slot is free");
    assert.equal(await other.acquire('carol', 2), false, "the live replica's slot is still held");
  });
});
