// `npm run test:cluster`: two earshot processes behind Debian nginx (deploy/nginx/nginx.conf) sharing a real
// redis-server, and a single server on the file store; replicas killed with -9, drained with SIGTERM, Redis
// restarted mid-stream. Slow (real processes, real-time-ish audio), so `npm test` skips it unless
// EARSHOT_CLUSTER=1 (which the script sets); it skips loudly when nginx or redis-server is missing.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { concat, encode, speechFixture } from '../helpers/audio.js';
import { synthModel } from '../helpers/models.js';
import { freePort, NO_REDIS, startRedis, type TestRedis } from '../helpers/redis.js';
import { Client, NGINX, Replica, sleep, startNginx, until, type Final } from './cluster.js';

const SKIP = !process.env.EARSHOT_CLUSTER
  ? 'run by `npm run test:cluster` (EARSHOT_CLUSTER=1)'
  : NO_REDIS ||
    (NGINX ? false : 'SKIPPED: nginx is not installed (apt-get install nginx; .ci/run installs it)');
if (process.env.EARSHOT_CLUSTER && SKIP) console.warn(`\n*** cluster test ${SKIP} ***\n`);

// Six utterances: the two-speaker fixture twice (21 s), streamed at SPEED times real time.
const fx = speechFixture();
const samples = concat([fx.samples, fx.samples]);
const pcm = encode(samples, 'linear16');
const speech = [
  ...fx.segments,
  ...fx.segments.map((s) => ({ ...s, start: s.start + fx.duration, end: s.end + fx.duration })),
];
const SPEED = 3;
const DRAIN_MS = 8000;
const QUERY = 'encoding=linear16&sample_rate=16000&interim_results=false';
const at = (seconds: number) => pcm.subarray(Math.round(seconds * 16000) * 2);

const seqsOf = (fs: Final[]) => fs.map((f) => f.seq);
const duplicates = (fs: Final[]) => fs.length - new Set(seqsOf(fs)).size;

/** Finals merged by seq (a replayed final the client had already seen counts once), in seq order. */
function merged(...parts: Final[][]): Final[] {
  const bySeq = new Map<number, Final>();
  for (const f of parts.flat()) bySeq.set(f.seq, f);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** In order and not overlapping: each final starts where or after the previous one ended. */
function assertOrdered(fs: Final[]): void {
  for (let i = 1; i < fs.length; i++) {
    assert.ok(fs[i].seq > fs[i - 1].seq, `seq order at ${i}`);
    assert.ok(fs[i].start >= fs[i - 1].end - 0.01, `final ${fs[i].seq} overlaps the one before`);
  }
}

/** Streams the whole recording on one connection and returns its finals: the reference for a cut run. */
async function uncut(base: string, session: string): Promise<Final[]> {
  const c = await Client.open(`${base}/v1/listen?${QUERY}&session=${session}`);
  await c.send(pcm, SPEED);
  assert.equal((await c.finish()).code, 1000);
  return c.finals();
}

/** Sent audio position (seconds) inside an utterance, away from its edges: "mid-utterance". */
const midUtterance = (t: number) => speech.some((s) => t > s.start + 0.4 && t < s.end - 0.4);

/**
 * Streams until `cut()` says so (at least `minFinals` finals seen and mid-utterance), then runs `kill`;
 * returns the position reached.
 */
async function streamUntilCut(c: Client, minFinals: number, kill: () => void): Promise<number> {
  const frame = 3200;
  let i = 0;
  for (; i < pcm.length; i += frame) {
    const t = i / 32000;
    if (c.finals().length >= minFinals && midUtterance(t)) break;
    c.ws.send(pcm.subarray(i, i + frame));
    await sleep(100 / SPEED);
  }
  assert.ok(i < pcm.length, 'the recording ended before the cut point');
  kill();
  return i / 32000;
}

/** Reconnects with resume (retrying the 409/503/502 a failover may answer first), timing it. */
async function resume(base: string, session: string, from: number): Promise<{ c: Client; tries: number }> {
  for (let tries = 1; ; tries++) {
    try {
      const c = await Client.open(`${base}/v1/listen?${QUERY}&session=${session}&resume_from=${from}`);
      await until('the opening Metadata', () => c.messages.some((m) => m.type === 'Metadata'));
      return { c, tries };
    } catch (err) {
      if (process.env.EARSHOT_CLUSTER_DEBUG) console.log(`resume try ${tries}: ${(err as Error).message}`);
      if (tries >= 50) throw err;
      await sleep(200);
    }
  }
}

async function exports(url: string, session: string): Promise<string[]> {
  return Promise.all(
    ['json', 'srt', 'vtt'].map(async (f) => {
      const res = await fetch(`${url}/v1/sessions/${session}/transcript?format=${f}`);
      assert.equal(res.status, 200, `${url} ${f}`);
      return res.text();
    }),
  );
}

describe('cluster: two replicas, nginx, Redis', { skip: SKIP }, () => {
  let model: string;
  let redis: TestRedis;
  let a: Replica;
  let b: Replica;
  let lb: Awaited<ReturnType<typeof startNginx>>;
  const counts: Record<string, unknown> = {};

  before(async () => {
    model = await synthModel({ script: '<|0.00|> hello world<|1.00|>' });
    redis = await startRedis();
    const args = ['--model', model, '--store', redis.url, '--log-level', 'info', '--threads', '1'].concat([
      '--drain-timeout',
      String(DRAIN_MS),
    ]);
    a = new Replica('earshot-1', await freePort(), args);
    b = new Replica('earshot-2', await freePort(), args);
    await Promise.all([a.start(), b.start()]);
    lb = await startNginx([a, b]);
  });
  // A failed case may leave a replica down: every case starts with both up.
  const bothUp = async () => {
    for (const r of [a, b]) if (r.proc?.exitCode !== null || r.proc?.signalCode !== null) await r.start();
  };
  after(async () => {
    console.log(`\ncluster counts: ${JSON.stringify(counts)}\n`);
    if (lb?.log()) console.log(`nginx:\n${lb.log()}`);
    await lb?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  test('SIGKILL of the serving replica mid-utterance: resume on the other loses and repeats nothing', async () => {
    await bothUp();
    const reference = await uncut(lb.url, 'uncut-1');
    assert.ok(reference.length >= 4, `the uncut run has finals: ${reference.length}`);

    const c = await Client.open(`${lb.url}/v1/listen?${QUERY}&session=cut-1`);
    await until('the stream opens on a replica', () => a.serves('cut-1') || b.serves('cut-1'));
    const [victim, survivor] = a.serves('cut-1') ? [a, b] : [b, a];
    let killedAt = 0;
    const cutAt = await streamUntilCut(c, 2, () => {
      killedAt = Date.now();
      victim.kill('SIGKILL');
    });
    await c.closed;
    const before = c.finals();
    const lastSeen = before.at(-1)!.seq;

    const { c: r, tries } = await resume(lb.url, 'cut-1', lastSeen);
    const resumedMs = Date.now() - killedAt;
    await until('nginx moves the session to the surviving replica', () => survivor.serves('cut-1'));
    const meta = r.metadata();
    assert.equal(meta.resumed, true);
    assert.equal((meta.last_seq as number) >= lastSeen, true);
    const committed = meta.committed_until as number;
    assert.ok(
      committed > 0 && committed <= cutAt,
      `committed_until ${committed} within what was sent (${cutAt})`,
    );
    await r.send(at(committed), SPEED);
    assert.equal((await r.finish()).code, 1000);
    const afterKill = r.finals();

    const all = [...before, ...afterKill];
    const transcript = merged(before, afterKill);
    assertOrdered(transcript);
    // Every utterance of the uncut run is there once: same count, each within the VAD's tolerance of the uncut one.
    assert.equal(transcript.length, reference.length, JSON.stringify({ transcript, reference }));
    transcript.forEach((f, i) => assert.ok(Math.abs(f.start - reference[i].start) < 0.6, `final ${i} start`));
    assert.deepEqual(
      seqsOf(transcript),
      transcript.map((_, i) => transcript[0].seq + i),
      'seq continues without a gap',
    );

    // The exports agree on both replicas: the killed one comes back on the same store.
    await victim.start();
    assert.deepEqual(await exports(victim.url, 'cut-1'), await exports(survivor.url, 'cut-1'));
    const stored = JSON.parse((await exports(survivor.url, 'cut-1'))[0]) as { segments: Final[] };
    assert.deepEqual(seqsOf(stored.segments), seqsOf(transcript));

    Object.assign(counts, {
      sigkill: {
        reference_finals: reference.length,
        finals_before_kill: before.length,
        finals_after_kill: afterKill.length,
        replayed: afterKill.filter((f) => f.seq <= (meta.last_seq as number)).length,
        duplicates_seen_by_client: duplicates(all),
        duplicates_in_transcript: duplicates(transcript),
        resume_ms: resumedMs,
        resume_tries: tries,
        cut_at_s: cutAt,
        committed_until_s: committed,
      },
    });
  });

  test('SIGTERM: readyz 503, finals then 1001, exit within the drain limit, new sessions on the other replica', async () => {
    await bothUp();
    const c = await Client.open(`${lb.url}/v1/listen?${QUERY}&session=term-1`);
    await until('the stream opens on a replica', () => a.serves('term-1') || b.serves('term-1'));
    const [victim, survivor] = a.serves('term-1') ? [a, b] : [b, a];
    let termAt = 0;
    await streamUntilCut(c, 1, () => {
      termAt = Date.now();
      victim.kill('SIGTERM');
    });
    // The signal is handled in the replica's own time: poll. Draining closes the listener too, so a probe gets
    // 503 or a refused connection, never 200 again.
    let ready: number | string = 200;
    for (let i = 0; i < 250 && ready === 200; i++) {
      ready = await fetch(`${victim.url}/readyz`).then(
        (res) => res.status,
        () => 'refused',
      );
      if (ready === 200) await sleep(20);
    }
    const closed = await c.closed;
    const exit = await victim.exited;
    const drainLog = victim.lines
      .filter((l) => /drain|stopped|closing|abandon/.test(String(l.msg)))
      .map((l) => `${(l.time as number) - termAt} ms: ${String(l.msg)}`);
    assert.ok(ready === 503 || ready === 'refused', `readyz after SIGTERM: ${ready}`);
    assert.equal(closed.code, 1001, closed.reason);
    assert.equal(c.messages.at(-1)?.type, 'Metadata', 'the closing Metadata after the finals');
    assert.equal(exit.code, 0);
    const exitMs = exit.at - termAt;
    assert.ok(exitMs < DRAIN_MS + 5000, `exited ${exitMs} ms after SIGTERM (drain limit ${DRAIN_MS} ms)`);

    // The same session id hashes to the drained replica: nginx sends it to the survivor.
    const { c: r } = await resume(lb.url, 'term-1', c.finals().at(-1)?.seq ?? 0);
    await until('nginx sends the session to the survivor', () => survivor.serves('term-1'));
    r.ws.close();
    await r.closed;
    await victim.start();
    Object.assign(counts, {
      sigterm: {
        readyz: ready,
        finals_before_close: c.finals().length,
        close: closed.code,
        exit_ms: exitMs,
        log: drainLog,
      },
    });
  });

  test('Redis restarted mid-stream: nothing acknowledged is lost', async () => {
    await bothUp();
    const c = await Client.open(`${lb.url}/v1/listen?${QUERY}&session=redis-1`);
    let restarted: Promise<void> | undefined;
    await c.send(pcm, SPEED, () => {
      if (!restarted && c.finals().length >= 2) restarted = redis.restart(1500);
      return false;
    });
    await restarted;
    assert.equal((await c.finish()).code, 1000);
    const received = c.finals();
    const res = await fetch(`${lb.url}/v1/sessions/redis-1/transcript?format=json`);
    const stored = (JSON.parse(await res.text()) as { segments: Final[] }).segments;
    assert.deepEqual(seqsOf(stored), seqsOf(received), 'every final the client received is stored');
    assert.ok(received.length >= 4);
    Object.assign(counts, { redis_restart: { finals: received.length, stored: stored.length } });
  });
});

describe('one server on the file store', { skip: SKIP }, () => {
  test('kill -9, restart: resume replays every final sent before the crash', async () => {
    const model = await synthModel({ script: '<|0.00|> hello world<|1.00|>' });
    const dir = mkdtempSync(join(tmpdir(), 'earshot-data-'));
    const s = new Replica('earshot', await freePort(), [
      '--model',
      model,
      '--store',
      'file',
      '--data-dir',
      dir,
    ]);
    await s.start();
    try {
      const c = await Client.open(`ws://127.0.0.1:${s.port}/v1/listen?${QUERY}&session=file-1`);
      await streamUntilCut(c, 3, () => s.kill('SIGKILL'));
      await c.closed;
      const sent = c.finals();
      await s.start();
      const { c: r } = await resume(`ws://127.0.0.1:${s.port}`, 'file-1', 0);
      await until('the replay', () => r.finals().length >= sent.length, 10_000);
      const replayed = r.finals();
      assert.deepEqual(replayed.slice(0, sent.length), sent);
      r.ws.close();
      await r.closed;
      console.log(
        `\nfile store counts: ${JSON.stringify({ sent_before_crash: sent.length, replayed: replayed.length })}\n`,
      );
    } finally {
      await s.stop();
    }
  });
});
