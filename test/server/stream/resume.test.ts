import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { loadSileroVad, type SileroVad } from '../../../models/vad/silero.js';
import type { EarshotApp } from '../../../server/app.js';
import { MemoryStore } from '../../../server/store/memory.js';
import { encode, randomFrames, speechFixture } from '../../helpers/audio.js';
import { FakeEngine } from '../../helpers/fake-engine.js';
import { sendPaced, startAppWithEngine } from '../../helpers/server.js';
import { finals, sleep, type Msg } from '../../helpers/session-harness.js';

/**
 * Streams through the real server and transport, on the engine double (so the test decides when decoding
 * finishes): the resume handshake, a reconnect while the previous connection is still flushing, the shutdown
 * deadline, and a huge unknown control message.
 */

const fx = speechFixture();
const pcm = encode(fx.samples, 'linear16');
const BYTES_PER_SECOND = 32000;
const slice = (from: number, to = fx.duration) =>
  pcm.subarray(Math.round(from * 16000) * 2, Math.round(to * 16000) * 2);

let vad: SileroVad;
let engine: FakeEngine;
let app: EarshotApp;
let base: string;

before(async () => {
  vad = await loadSileroVad();
  engine = new FakeEngine();
  ({ app, base } = await startAppWithEngine({ vad, engine, store: new MemoryStore() }));
});
after(async () => {
  await app.close();
  await vad.release();
});

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await sleep(10);
  assert.ok(cond(), `timed out waiting for ${what}`);
}

/** A client that records every message from the handshake on and can be read while the stream is open. */
interface Client {
  ws: WebSocket;
  messages: Msg[];
  closed: Promise<{ code: number; reason: string }>;
}

function open(url: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages: Msg[] = [];
    ws.on('message', (data, isBinary) => {
      if (!isBinary) messages.push(JSON.parse(String(data)) as Msg);
    });
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.once('close', (code, reason) => r({ code, reason: String(reason) })),
    );
    ws.once('open', () => resolve({ ws, messages, closed }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

describe('resume handshake over the server', () => {
  test('the opening Metadata says where the session stands', async () => {
    const c = await open(base);
    c.ws.send(JSON.stringify({ type: 'CloseStream' }));
    await c.closed;
    const m = c.messages[0] as Msg & { request_id: string };
    assert.equal(m.type, 'Metadata');
    assert.equal(m.session, m.request_id);
    assert.equal(m.resumed, false);
    assert.equal(m.last_seq, 0);
    assert.equal(m.committed_until, 0);
  });

  test('a client that drops and reconnects at once: the upgrade waits for the old finals, then replay and the clock continue', async () => {
    const id = `drop-${Date.now()}`;
    const first = await open(`${base}?session=${id}`);
    await sendPaced(first.ws, randomFrames(slice(0, 6), 2, 3200, 3201), BYTES_PER_SECOND, 40);
    await until('the server to receive 6 s', () => (app.sessions.get(id)?.receivedSeconds ?? 0) >= 5.99);
    const release = engine.hold();
    first.ws.terminate();
    await first.closed;
    const delivered = finals(first.messages).map((f) => f.seq!);
    // Reconnect at once: the old session is still decoding what it received (the engine is held).
    let opened = false;
    const reconnect = open(`${base}?session=${id}&resume_from=${delivered.at(-1) ?? 0}`).then((c) => {
      opened = true;
      return c;
    });
    await sleep(300);
    assert.equal(opened, false, 'the upgrade waits for the previous connection to finish');
    release();
    const second = await reconnect;
    await until('the opening Metadata', () => second.messages.length > 0);
    const hello = second.messages[0];
    assert.equal(hello.type, 'Metadata');
    assert.equal(hello.session, id);
    assert.equal(hello.resumed, true);
    assert.equal(hello.last_seq, 2, 'the finished utterance and the one cut by the drop');
    assert.ok(Math.abs(hello.committed_until! - 6) < 0.01, `committed_until ${hello.committed_until}`);
    // The client re-sends its audio from committed_until; times stay on the session's clock.
    await sendPaced(
      second.ws,
      randomFrames(slice(hello.committed_until!), 3, 3200, 3201),
      BYTES_PER_SECOND,
      40,
    );
    second.ws.send(JSON.stringify({ type: 'CloseStream' }));
    assert.equal((await second.closed).code, 1000);
    const f = finals(second.messages);
    assert.deepEqual(
      f.map((x) => x.seq),
      // The rest of the utterance the drop cut, then the third.
      [...[1, 2].filter((s) => !delivered.includes(s)), 3, 4],
      'finals the client missed are replayed, then seq continues',
    );
    const last = f.at(-1)!;
    assert.ok(Math.abs(last.start! - fx.segments[2].start) < 0.15, `the third utterance at ${last.start}`);
  });

  test('a 1 MB unknown control message gets a short Error back', async () => {
    const c = await open(base);
    c.ws.send(JSON.stringify({ type: 'x'.repeat(1_000_000) }));
    await until('the Error', () => c.messages.some((m) => m.type === 'Error'));
    const err = c.messages.find((m) => m.type === 'Error')!;
    assert.ok(JSON.stringify(err).length < 600, `an Error of ${JSON.stringify(err).length} bytes`);
    c.ws.send(JSON.stringify({ type: 'CloseStream' }));
    assert.equal((await c.closed).code, 1000);
  });

  // Last: the server is draining afterwards.
  test('SIGTERM with a backlog: decoded finals, Metadata, 1001 saying how to resume', async () => {
    const c = await open(base);
    await sendPaced(c.ws, randomFrames(slice(0, 5), 4, 3200, 3201), BYTES_PER_SECOND, 40);
    await until('the first final', () => finals(c.messages).length === 1);
    const release = engine.hold();
    await sendPaced(c.ws, randomFrames(slice(5), 5, 3200, 3201), BYTES_PER_SECOND, 40);
    await sleep(100);
    await app.drain(300);
    const { code, reason } = await c.closed;
    release();
    assert.equal(code, 1001);
    assert.match(
      reason,
      /^server shutting down: audio after \d+\.\d s not decoded; resume with session=[\w-]+&resume_from=1$/,
    );
    assert.equal(c.messages.at(-1)!.type, 'Metadata');
    assert.equal(finals(c.messages).length, 1);
  });
});
