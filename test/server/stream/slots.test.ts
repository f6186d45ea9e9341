import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { pino } from 'pino';
import WebSocket from 'ws';
import { sharedVad } from '../../helpers/models.js';
import { EarshotApp } from '../../../server/app.js';
import { apiKeyLine } from '../../../server/auth/api-keys.js';
import { Authenticator } from '../../../server/auth/authenticator.js';
import { Guard } from '../../../server/auth/guard.js';
import { DEFAULTS } from '../../../server/options.js';
import { CorsPolicy } from '../../../server/auth/cors.js';
import { Limiter, type LimitsConfig } from '../../../server/limits/limiter.js';
import { Metrics } from '../../../server/metrics.js';
import { AdmissionController } from '../../../server/scheduling/admission.js';
import { InferenceScheduler } from '../../../server/scheduling/scheduler.js';
import { MemoryStore } from '../../../server/store/memory.js';
import type { RecordPatch } from '../../../server/store/types.js';
import { encode, speechFixture } from '../../helpers/audio.js';
import { FakeEngine } from '../../helpers/fake-engine.js';
import { sendPaced } from '../../helpers/server.js';
import { sleep } from '../../helpers/session-harness.js';

/**
 * A stream's slots (--max-streams, the subject's concurrent streams) through the real server and transport, on
 * the engine double: free when the client has its close frame, held while a closed stream still decodes; the
 * session's length across resumes; revoked credentials end their streams.
 */

const fx = speechFixture();
const pcm = encode(fx.samples, 'linear16');
const BYTES_PER_SECOND = 32000;
const QS = 'encoding=linear16&sample_rate=16000';

const vad = sharedVad();

/** A memory store whose end-of-stream record write (duration) waits for `gate` when one is set, or delayMs. */
class SlowStore extends MemoryStore {
  gate: Promise<void> | null = null;
  delayMs = 0;
  override async update(session: string, patch: RecordPatch): Promise<void> {
    if (patch.duration !== undefined && this.gate) await this.gate;
    if (patch.duration !== undefined && this.delayMs) await sleep(this.delayMs);
    return super.update(session, patch);
  }
}

interface Started {
  app: EarshotApp;
  engine: FakeEngine;
  store: SlowStore;
  base: string;
}
const running: EarshotApp[] = [];
afterEach(async () => {
  for (const app of running.splice(0)) await app.close();
});

/** The app as serve.ts wires it: admission counts the app's streams; limits and auth from the options. */
async function startApp(o: {
  maxStreams?: number;
  limits?: LimitsConfig;
  now?: () => number;
  auth?: Authenticator;
}) {
  const engine = new FakeEngine();
  const scheduler = new InferenceScheduler(engine, { batchWindowMs: 0 });
  const store = new SlowStore();
  const admission = new AdmissionController(
    { maxStreams: o.maxStreams ?? 100, targetUtilisation: 0 },
    {
      busyMs: () => scheduler.busyMs(),
      decodes: () => scheduler.windowsDone,
      finalWaitMs: () => scheduler.oldestWaitMs('final'),
      active: () => app.activeStreams,
    },
  );
  const app: EarshotApp = new EarshotApp({
    config: { ...DEFAULTS, host: '127.0.0.1', port: 0, transport: 'ws' },
    log: pino({ level: process.env.EARSHOT_TEST_LOG ?? 'silent' }),
    scheduler,
    vad: vad(),
    store,
    model: { uuid: 'u', name: 'fake', version: '0', arch: 'whisper' },
    transcribe: () => Promise.reject(new Error('no file transcription in this test')),
    admission,
    metrics: new Metrics({ activeStreams: () => app.sessions.size, coalesced: () => 0, queued: () => 0 }),
    guard: new Guard({
      auth: o.auth ?? new Authenticator({}),
      limiter: new Limiter(o.limits ?? {}, undefined, o.now),
      cors: new CorsPolicy(),
    }),
  });
  running.push(app);
  const { port } = await app.start();
  return { app, engine, store, base: `ws://127.0.0.1:${port}/v1/listen?${QS}` } satisfies Started;
}

interface Client {
  ws: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
}
type Refused = { status: number; code: string };

function open(url: string, headers: Record<string, string> = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.once('close', (code, reason) => r({ code, reason: String(reason) })),
    );
    ws.once('open', () => resolve({ ws, closed }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () =>
        reject({
          status: res.statusCode ?? 0,
          code: (JSON.parse(body) as { error: { code: string } }).error.code,
        } satisfies Refused),
      );
    });
    ws.once('error', reject);
  });
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await sleep(5);
  assert.ok(cond(), `timed out waiting for ${what}`);
}

const closeStream = (c: Client) => c.ws.send(JSON.stringify({ type: 'CloseStream' }));

describe('--max-streams slots', () => {
  test('a client that reopens on its close frame finds its slot free, even while the server still writes the record', async () => {
    const s = await startApp({ maxStreams: 1 });
    let release!: () => void;
    s.store.gate = new Promise((r) => (release = r));
    const first = await open(s.base);
    await sendPaced(first.ws, [pcm.subarray(0, 2 * BYTES_PER_SECOND)], BYTES_PER_SECOND, 40);
    closeStream(first);
    assert.equal((await first.closed).code, 1000);
    // The closed stream's session is still writing its last record (held), but its slot is free.
    const second = await open(s.base);
    release();
    closeStream(second);
    assert.equal((await second.closed).code, 1000);
  });

  test('clients that reopen as soon as they get 1000, with --max-streams equal to their number, are never refused', async () => {
    const clients = 3;
    const rounds = 15;
    const s = await startApp({ maxStreams: clients });
    // Each close is followed by a record write that takes a while, as a busy disk's fsync does.
    s.store.delayMs = 20;
    const refusals: string[] = [];
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let round = 0; round < rounds; round++) {
          const client = await open(s.base).catch((e: Refused) => {
            refusals.push(`client ${c} round ${round}: ${e.status} ${e.code}`);
            return undefined;
          });
          if (!client) continue;
          client.ws.send(pcm.subarray(0, 3200 * (1 + (round % 3))));
          closeStream(client);
          assert.equal((await client.closed).code, 1000);
        }
      }),
    );
    assert.deepEqual(refusals, []);
  });
});

describe("the subject's concurrent-stream slot", () => {
  test('is held while a closed stream still decodes its audio, and free once it is done', async () => {
    const s = await startApp({ limits: { concurrentStreams: 1 } });
    const release = s.engine.hold();
    const first = await open(s.base);
    await sendPaced(first.ws, [pcm.subarray(0, 4 * BYTES_PER_SECOND)], BYTES_PER_SECOND, 40);
    await until('the server to receive it', () =>
      [...s.app.sessions.values()].some((x) => x.receivedSeconds >= 3.99),
    );
    first.ws.terminate();
    await first.closed;
    await until('the server to see the close', () => [...s.app.sessions.values()].every((x) => x.flushing));
    await assert.rejects(open(s.base), (e: Refused) => {
      assert.deepEqual([e.status, e.code], [429, 'TOO_MANY_STREAMS']);
      return true;
    });
    release();
    await Promise.all([...s.app.sessions.values()].map((x) => x.whenDone()));
    const again = await open(s.base);
    closeStream(again);
    assert.equal((await again.closed).code, 1000);
  });
});

describe('--max-session-seconds across resumes', () => {
  test("a resume continues the session's length: it stops at the total, and a spent session is refused", async () => {
    let clock = 1_000_000;
    const s = await startApp({ limits: { maxSessionSeconds: 60 }, now: () => clock });
    const id = 'long-session';
    const first = await open(`${s.base}&session=${id}`);
    clock += 50_000;
    closeStream(first);
    assert.equal((await first.closed).code, 1000);
    await until('the session to end', () => s.app.sessions.size === 0);
    clock += 3_600_000; // time between connections does not count
    const second = await open(`${s.base}&session=${id}&resume_from=0`);
    clock += 15_000; // 65 s streamed in all
    second.ws.send(pcm.subarray(0, 3200));
    closeStream(second);
    const closed = await second.closed;
    assert.equal(closed.code, 1008, closed.reason);
    assert.match(closed.reason, /^SESSION_TOO_LONG: streams last at most 60 s/);
    await until('the session to end', () => s.app.sessions.size === 0);
    await assert.rejects(open(`${s.base}&session=${id}&resume_from=0`), (e: Refused) => {
      assert.deepEqual([e.status, e.code], [403, 'SESSION_TOO_LONG']);
      return true;
    });
  });
});

describe('revoked credentials', () => {
  test('removing a key from the keys file ends its open streams (finals first, 1008), others go on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'earshot-keys-'));
    const file = join(dir, 'keys');
    const lines = { alice: apiKeyLine('alice', 'alice-key'), bob: apiKeyLine('bob', 'bob-key') };
    writeFileSync(file, `${lines.alice}\n${lines.bob}\n`);
    const auth = Authenticator.fromConfig({ apiKeysFile: file });
    const s = await startApp({ auth });
    const alice = await open(s.base, { authorization: 'Token alice-key' });
    const bob = await open(s.base, { authorization: 'Token bob-key' });
    await sendPaced(alice.ws, [pcm.subarray(0, 2 * BYTES_PER_SECOND)], BYTES_PER_SECOND, 40);
    writeFileSync(file, `${lines.bob}\n`);
    auth.keys!.reload(); // what a change of the file or SIGHUP does
    closeStream(alice);
    const a = await alice.closed;
    assert.equal(a.code, 1008, a.reason);
    assert.match(a.reason, /^CREDENTIAL_REVOKED: /);
    closeStream(bob);
    assert.equal((await bob.closed).code, 1000);
  });
});
