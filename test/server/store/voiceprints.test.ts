import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileStore } from '../../../server/store/file.js';
import { MemoryStore } from '../../../server/store/memory.js';
import { RedisStore } from '../../../server/store/redis.js';
import { VoiceprintLimitError, type TranscriptStore, type Voiceprint } from '../../../server/store/types.js';
import { NO_REDIS, startRedis, type TestRedis } from '../../helpers/redis.js';

/** The voiceprint part of the store, the same tests against each backend. */

const vp = (subject: string, name: string, x = 1): Voiceprint => ({
  subject,
  name,
  model: 'builtin-test',
  dim: 3,
  embedding: [x, 0, 0],
  seconds: 4.5,
  clips: 2,
  created: new Date(0).toISOString(),
});

function backendTests(
  make: () => TranscriptStore,
  found: (s: TranscriptStore, text: string) => Promise<boolean>,
) {
  test('put, get, list by subject and by all, replace, delete', async () => {
    const store = make();
    const v = store.voiceprints;
    await v.put(vp('key:alice', 'Ann'), 10);
    await v.put(vp('key:alice', 'Bo'), 10);
    await v.put(vp('key:bob', 'Ann', 2), 10);
    assert.deepEqual(await v.get('key:alice', 'Ann'), vp('key:alice', 'Ann'));
    assert.equal((await v.get('key:bob', 'Ann'))?.embedding[0], 2, "bob's Ann is bob's own");
    assert.equal(await v.get('key:carol', 'Ann'), undefined);
    assert.deepEqual(
      (await v.list('key:alice')).map((x) => x.name),
      ['Ann', 'Bo'],
    );
    assert.deepEqual(
      (await v.list(undefined)).map((x) => `${x.subject}/${x.name}`),
      ['key:alice/Ann', 'key:alice/Bo', 'key:bob/Ann'],
    );
    await v.put(vp('key:alice', 'Ann', 5), 2);
    assert.equal(
      (await v.get('key:alice', 'Ann'))?.embedding[0],
      5,
      'same name: replaced, even at the limit',
    );
    assert.equal(await v.delete('key:alice', 'Ann'), true);
    assert.equal(await v.delete('key:alice', 'Ann'), false);
    assert.equal(await v.get('key:alice', 'Ann'), undefined);
    assert.ok(await v.get('key:bob', 'Ann'), "another subject's voiceprint of the same name stays");
    await store.close?.();
  });

  test('a subject at the limit is refused a new name; others are not', async () => {
    const store = make();
    const v = store.voiceprints;
    for (const n of ['a', 'b', 'c']) await v.put(vp('key:lim', n), 3);
    await assert.rejects(v.put(vp('key:lim', 'd'), 3), VoiceprintLimitError);
    assert.equal(await v.get('key:lim', 'd'), undefined);
    await v.put(vp('key:other', 'd'), 3);
    await store.close?.();
  });

  test('a deleted voiceprint is gone from the backend itself, not only from listings', async () => {
    const store = make();
    await store.voiceprints.put({ ...vp('key:gone', 'Zed'), embedding: [0.123456, 0, 0] }, 10);
    assert.equal(await found(store, '0.123456'), true);
    await store.voiceprints.delete('key:gone', 'Zed');
    assert.equal(await found(store, '0.123456'), false);
    await store.close?.();
  });
}

describe('MemoryStore voiceprints', () => {
  backendTests(
    () => new MemoryStore(),
    async (s, text) => JSON.stringify(await s.voiceprints.list(undefined)).includes(text),
  );
});

describe('FileStore voiceprints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-vp-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  /** Every file under the data dir, read raw. */
  const files = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? files(join(d, e.name)) : [join(d, e.name)],
    );
  backendTests(
    () => new FileStore({ dir, retentionHours: 0 }),
    async (_s, text) => files(dir).some((f) => readFileSync(f, 'utf8').includes(text)),
  );

  test('names and subjects never reach a path; another process sees a write at once', async () => {
    const a = new FileStore({ dir, retentionHours: 0 });
    const b = new FileStore({ dir, retentionHours: 0 });
    await a.voiceprints.put(vp('../../etc', '../passwd'), 10);
    assert.ok(files(dir).every((f) => !f.includes('passwd') && !f.includes('etc')));
    assert.deepEqual(await b.voiceprints.get('../../etc', '../passwd'), vp('../../etc', '../passwd'));
    assert.ok(existsSync(join(dir, 'voiceprints')));
  });

  test('the transcript sweeper leaves voiceprints alone', async () => {
    const s = new FileStore({ dir, retentionHours: 1 });
    await s.voiceprints.put(vp('key:kept', 'Ann'), 10);
    await s.sweep(Date.now() + 10 * 365 * 24 * 3_600_000);
    assert.ok(await s.voiceprints.get('key:kept', 'Ann'));
    await s.close();
  });
});

describe('RedisStore voiceprints against a real redis-server', { skip: NO_REDIS }, () => {
  let redis: TestRedis;
  let raw: RedisStore;
  before(async () => {
    redis = await startRedis();
    raw = new RedisStore({ url: redis.url, retentionHours: 1 });
  });
  after(async () => {
    await raw?.close();
    await redis?.stop();
  });
  backendTests(
    () => new RedisStore({ url: redis.url, retentionHours: 1 }),
    async (_s, text) => {
      // Every key's every value, read raw.
      const r = (raw as unknown as { redis: import('ioredis').Redis }).redis;
      for (const k of await r.keys('*')) {
        if ((await r.type(k)) !== 'hash') continue;
        if (Object.values(await r.hgetall(k)).some((v) => v.includes(text))) return true;
      }
      return false;
    },
  );

  test('voiceprints do not expire with the transcript retention', async () => {
    const r = (raw as unknown as { redis: import('ioredis').Redis }).redis;
    await raw.voiceprints.put(vp('key:ttl', 'Ann'), 10);
    const keys = await r.keys('earshot:vp:*');
    assert.ok(keys.length > 0);
    for (const k of keys) assert.equal(await r.ttl(k), -1, `${k} has no expiry`);
  });
});
