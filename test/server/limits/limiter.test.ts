import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Refusal } from '../../../server/errors.js';
import { Limiter, StreamLease, type LimitsConfig } from '../../../server/limits/limiter.js';
import { MemoryLimitStore } from '../../../server/limits/store.js';

function setup(config: LimitsConfig) {
  let t = 1_000_000;
  const store = new MemoryLimitStore();
  const limiter = new Limiter(config, store, () => t);
  return { limiter, store, advance: (ms: number) => (t += ms) };
}

function isRefusal(r: unknown, code: string, retryAfterSeconds?: number): asserts r is Refusal {
  assert.ok(r && typeof r === 'object' && 'status' in r, `expected a refusal, got ${r}`);
  const x = r as Refusal;
  assert.equal(x.status, 429);
  assert.equal(x.code, code, x.message);
  assert.ok(x.retryAfterSeconds !== undefined && x.retryAfterSeconds >= 1);
  if (retryAfterSeconds !== undefined) assert.equal(x.retryAfterSeconds, retryAfterSeconds);
}

async function lease(limiter: Limiter, subject: string): Promise<StreamLease> {
  const l = await limiter.openStream(subject);
  assert.ok(l instanceof StreamLease, `refused: ${JSON.stringify(l)}`);
  return l;
}

describe('Limiter', () => {
  test('no limits configured: everything passes', async () => {
    const { limiter } = setup({});
    assert.equal(await limiter.admitConnection('1.2.3.4'), undefined);
    assert.equal(await limiter.admitRequest('alice'), undefined);
    assert.equal(await limiter.chargeAudio('alice', 1e9), undefined);
    const l = await lease(limiter, 'alice');
    assert.equal(await l.addAudio(1e9), undefined);
    assert.equal(l.msUntilDeadline(), Infinity);
  });

  test('bad limits are refused at start-up', () => {
    assert.throws(() => new Limiter({ requestsPerMinute: 0 }), /requestsPerMinute must be a positive number/);
    assert.throws(() => new Limiter({ audioSecondsPerHour: NaN }), /positive/);
  });

  test('new connections per second per address, then refilled', async () => {
    const { limiter, advance } = setup({ connectionsPerSecond: 3 });
    for (let i = 0; i < 3; i++) assert.equal(await limiter.admitConnection('10.0.0.1'), undefined);
    isRefusal(await limiter.admitConnection('10.0.0.1'), 'TOO_MANY_CONNECTIONS', 1);
    assert.equal(await limiter.admitConnection('10.0.0.2'), undefined, 'another address is not affected');
    advance(334);
    assert.equal(await limiter.admitConnection('10.0.0.1'), undefined);
  });

  test('file-route requests per minute per subject, with Retry-After', async () => {
    const { limiter, advance } = setup({ requestsPerMinute: 2 });
    assert.equal(await limiter.admitRequest('alice'), undefined);
    assert.equal(await limiter.admitRequest('alice'), undefined);
    isRefusal(await limiter.admitRequest('alice'), 'TOO_MANY_REQUESTS', 30);
    assert.equal(await limiter.admitRequest('bob'), undefined, "bob is not affected by alice's refusal");
    advance(10_000);
    isRefusal(await limiter.admitRequest('alice'), 'TOO_MANY_REQUESTS', 20);
    advance(20_000);
    assert.equal(await limiter.admitRequest('alice'), undefined);
  });

  test('concurrent streams per subject; a released lease frees its slot once', async () => {
    const { limiter } = setup({ concurrentStreams: 2 });
    const a = await lease(limiter, 'alice');
    await lease(limiter, 'alice');
    isRefusal(await limiter.openStream('alice'), 'TOO_MANY_STREAMS');
    await lease(limiter, 'bob');
    await a.release();
    await a.release();
    await lease(limiter, 'alice');
    isRefusal(await limiter.openStream('alice'), 'TOO_MANY_STREAMS');
  });

  test('audio per hour: a stream that crosses it is stopped with 1008, a new one is refused 429', async () => {
    const { limiter, advance } = setup({ audioSecondsPerHour: 60 });
    const l = await lease(limiter, 'alice');
    assert.equal(await l.addAudio(30), undefined);
    assert.equal(await l.addAudio(29.5), undefined);
    const stop = await l.addAudio(1);
    assert.deepEqual(stop, {
      code: 1008,
      reason: 'AUDIO_QUOTA_EXCEEDED: over the limit of 60 audio seconds per hour',
    });
    assert.ok(Buffer.byteLength(stop!.reason) <= 123);
    assert.deepEqual(await l.addAudio(1), stop, 'stays stopped');

    isRefusal(await limiter.openStream('alice'), 'AUDIO_QUOTA_EXCEEDED');
    await lease(limiter, 'bob');
    // 60.5 s sent: 0.5 s owed + the 1 s minimum, refilled at 1 s per minute: 90 s.
    const r = await limiter.openStream('alice');
    isRefusal(r, 'AUDIO_QUOTA_EXCEEDED', 90);
    advance(89_000);
    isRefusal(await limiter.openStream('alice'), 'AUDIO_QUOTA_EXCEEDED', 1);
    advance(1000);
    await lease(limiter, 'alice');
  });

  test('audio per day counts files and streams together', async () => {
    const { limiter } = setup({ audioSecondsPerHour: 1000, audioSecondsPerDay: 100 });
    assert.equal(await limiter.chargeAudio('alice', 80), undefined);
    const r = await limiter.chargeAudio('alice', 30);
    isRefusal(r, 'AUDIO_QUOTA_EXCEEDED');
    assert.match(r.message, /100 audio seconds per day/);
    assert.equal(await limiter.chargeAudio('alice', 20), undefined, '20 s were left today');
    isRefusal(await limiter.openStream('alice'), 'AUDIO_QUOTA_EXCEEDED');
    assert.equal(await limiter.chargeAudio('bob', 100), undefined);
  });

  test('a file refused by one budget is not charged to the others', async () => {
    const { limiter } = setup({ audioSecondsPerHour: 100, audioSecondsPerDay: 90 });
    assert.equal(await limiter.chargeAudio('alice', 80), undefined); // hour: 20 left, day: 10 left
    isRefusal(await limiter.chargeAudio('alice', 15), 'AUDIO_QUOTA_EXCEEDED'); // the hour took 15, then gave it back
    assert.equal(await limiter.chargeAudio('alice', 10), undefined);
  });

  test('a file longer than the whole budget is charged when the budget is full, not refused forever', async () => {
    const { limiter } = setup({ audioSecondsPerHour: 60 });
    assert.equal(await limiter.chargeAudio('alice', 90), undefined);
    isRefusal(await limiter.chargeAudio('alice', 1), 'AUDIO_QUOTA_EXCEEDED');
  });

  test('max session duration: a deadline to arm, and a 1008 stop once past it', async () => {
    const { limiter, advance } = setup({ maxSessionSeconds: 600 });
    const l = await lease(limiter, 'alice');
    assert.equal(l.msUntilDeadline(), 600_000);
    advance(599_000);
    assert.equal(l.checkDeadline(), undefined);
    assert.equal(await l.addAudio(1), undefined);
    advance(1000);
    assert.equal(l.msUntilDeadline(), 0);
    assert.deepEqual(l.checkDeadline(), {
      code: 1008,
      reason: 'SESSION_TOO_LONG: streams last at most 600 s',
    });
    assert.deepEqual(await l.addAudio(1), l.checkDeadline());
  });
});

describe('MemoryLimitStore', () => {
  test('forgets buckets that have refilled, so per-address state stays bounded', async () => {
    const store = new MemoryLimitStore();
    const spec = { capacity: 5, refillPerSecond: 5 };
    for (let i = 0; i < 100; i++) await store.take(`conn:10.0.${i}.1`, 1, spec, 0);
    assert.equal(store.size, 100);
    store.sweep(100);
    assert.equal(store.size, 100, 'not yet refilled');
    store.sweep(200);
    assert.equal(store.size, 0);
  });

  test('take with need: nothing is taken when refused', async () => {
    const store = new MemoryLimitStore();
    const spec = { capacity: 10, refillPerSecond: 0 };
    assert.deepEqual(await store.take('k', 8, spec, 0), { ok: true, level: 2, retryAfterMs: 0 });
    const r = await store.take('k', 3, spec, 0);
    assert.equal(r.ok, false);
    assert.equal(r.level, 2);
    assert.equal(r.retryAfterMs, Infinity);
    assert.equal((await store.take('k', 5, spec, 0, 0)).level, -3, 'need 0 charges into debt');
  });
});
