import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sharedVad } from '../../helpers/models.js';
import { encode, randomFrames, speechFixture } from '../../helpers/audio.js';
import { FakeEngine } from '../../helpers/fake-engine.js';
import { finals, sessionHarness, sleep, type Msg } from '../../helpers/session-harness.js';
import type { StreamSession } from '../../../server/stream/session.js';

/**
 * How a live stream ends without losing anything: CloseStream and Finalize against an engine slower than the idle
 * timeout (held by the test, so nothing depends on timing), the flush limit, the shutdown deadline, a client that
 * does not read, and what the store says afterwards.
 */

const vad = sharedVad();

const fx = speechFixture();
const pcm = encode(fx.samples, 'linear16');
/** Bytes of linear16 16 kHz audio up to `seconds`. */
const upTo = (seconds: number) => pcm.subarray(0, Math.round(seconds * 16000) * 2);

function stream(session: StreamSession, bytes: Uint8Array, seed = 3) {
  for (const f of randomFrames(bytes, seed, 1, 9000)) session.onAudio(f);
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await sleep(10);
  assert.ok(cond(), `timed out waiting for ${what}`);
}

describe('stream session: ending without losing finals', () => {
  test('CloseStream while finals decode longer than the idle timeout: every final, Metadata, 1000', async () => {
    const engine = new FakeEngine();
    const h = sessionHarness(vad(), '', { engine, config: { idleTimeoutMs: 50 } });
    const release = engine.hold();
    stream(h.session, pcm);
    h.session.onText('{"type":"CloseStream"}');
    await sleep(400);
    assert.equal(h.closed(), null, 'the idle timeout does not run after CloseStream');
    release();
    await h.closedP;
    assert.deepEqual(h.closed(), { code: 1000, reason: '' });
    assert.equal(finals(h.messages).length, 3);
    assert.equal(h.messages.at(-1)!.type, 'Metadata');
  });

  test('the idle timeout waits while a Finalize is being answered, then runs again', async () => {
    const engine = new FakeEngine();
    const h = sessionHarness(vad(), '', { engine, config: { idleTimeoutMs: 50 } });
    const release = engine.hold();
    stream(h.session, upTo(2.5));
    h.session.onText('{"type":"Finalize"}');
    await sleep(400);
    assert.equal(h.closed(), null, 'no NET-0001 while the Finalize answer is owed');
    release();
    await h.closedP;
    const f = finals(h.messages);
    assert.equal(f.length, 1);
    assert.equal(f[0].from_finalize, true);
    assert.deepEqual(h.closed(), { code: 1011, reason: 'NET-0001' }, 'an idle client is still closed after');
  });

  test('Finalize after CloseStream adds no empty final', async () => {
    const h = sessionHarness(vad(), '');
    stream(h.session, pcm);
    h.session.onText('{"type":"CloseStream"}');
    h.session.onText('{"type":"Finalize"}');
    await h.closedP;
    const f = finals(h.messages);
    assert.equal(f.length, 3);
    assert.ok(
      f.every((x) => !x.from_finalize && x.channel!.alternatives[0].transcript !== ''),
      JSON.stringify(f.map((x) => [x.from_finalize, x.channel!.alternatives[0].transcript])),
    );
  });

  test('past the flush limit: decoded finals, Metadata, 1011 naming what was not decoded; the rest is stored', async () => {
    const engine = new FakeEngine();
    const h = sessionHarness(vad(), '', { engine, config: { flushTimeoutMs: 300 } });
    stream(h.session, upTo(5));
    await until('the first final', () => finals(h.messages).length === 1);
    const release = engine.hold();
    stream(h.session, pcm.subarray(upTo(5).length), 4);
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    const { code, reason } = h.closed()!;
    assert.equal(code, 1011);
    const m =
      /^flush limit: audio after (\d+\.\d) s not decoded; resume with session=sess-1&resume_from=1$/.exec(
        reason,
      );
    assert.ok(m, reason);
    const first = finals(h.messages)[0];
    const summary = h.messages.at(-1)!;
    assert.equal(summary.type, 'Metadata');
    assert.ok(Number(m[1]) >= first.start! + first.duration! - 0.05, 'committed covers the delivered final');
    assert.ok(Number(m[1]) < fx.segments[1].start, 'and not the utterance still decoding');
    assert.equal(summary.committed_until!.toFixed(1), m[1]);
    assert.equal(finals(h.messages).length, 1);
    await sleep(0);
    assert.equal((await h.store.get(h.id))!.status, 'closed', 'the store says closed at once');
    release();
    await h.session.whenDone();
    const stored = await h.store.finals(h.id);
    assert.equal(stored.length, 3, 'what was received is still decoded into the store for a resume');
    const record = (await h.store.get(h.id))!;
    assert.equal(record.lastSeq, 3);
    assert.ok(Math.abs(record.committed - fx.duration) < 0.01, `committed ${record.committed}`);
  });

  test('a session whose client left decodes no interims but stores its finals; the store says closed', async () => {
    const engine = new FakeEngine();
    const h = sessionHarness(vad(), 'interim_results=true', { engine, config: { interimIntervalMs: 200 } });
    const release = engine.hold();
    stream(h.session, upTo(3.5));
    await until('the audio to be processed', () => h.session.receivedSeconds >= 3.4);
    h.session.onClientClose();
    await sleep(0);
    assert.equal((await h.store.get(h.id))!.status, 'closed');
    const before = engine.calls.length;
    release();
    await h.session.whenDone();
    assert.ok(
      engine.calls.slice(before).every((c) => c.temperatures.every((t) => t!.length > 1)),
      'only finals were decoded after the client left',
    );
    assert.equal((await h.store.finals(h.id)).length, 1);
  });
});

describe('stream session: shutdown deadline', () => {
  test('drain with a backlog: decoded finals, Metadata, 1001 saying what was not decoded', async () => {
    const engine = new FakeEngine();
    const h = sessionHarness(vad(), '', { engine });
    stream(h.session, upTo(5));
    await until('the first final', () => finals(h.messages).length === 1);
    const release = engine.hold();
    stream(h.session, pcm.subarray(upTo(5).length), 4);
    await until('the audio to be processed', () => h.session.receivedSeconds >= 10.5);
    const drained = h.session.drain(Date.now() + 300);
    // Audio after SIGTERM is not decoded, and the client is told so (once).
    h.session.onAudio(pcm.subarray(0, 32000));
    h.session.onAudio(pcm.subarray(0, 32000));
    await drained;
    const { code, reason } = h.closed()!;
    assert.equal(code, 1001);
    assert.match(
      reason,
      /^server shutting down: audio after \d+\.\d s not decoded; resume with session=sess-1&resume_from=1$/,
    );
    assert.ok(Buffer.byteLength(reason) <= 123);
    const errors = h.messages.filter((x) => x.type === 'Error');
    assert.equal(errors.length, 1);
    assert.equal(errors[0].err_code, 'SHUTTING_DOWN');
    assert.equal(h.messages.at(-1)!.type, 'Metadata');
    assert.equal(finals(h.messages).length, 1);
    release();
    await h.session.whenDone();
    const record = (await h.store.get(h.id))!;
    assert.ok(record.duration >= fx.duration + 2 - 0.01, 'the extent counts the refused audio');
    assert.ok(Math.abs(record.committed - fx.duration) < 0.01, 'committed: what was received and decoded');
  });

  test('drain with nothing left to decode closes 1001 at once with a Metadata', async () => {
    const h = sessionHarness(vad(), '');
    stream(h.session, pcm);
    await until('two finals', () => finals(h.messages).length === 2);
    await h.session.drain(Date.now() + 60_000);
    assert.equal(finals(h.messages).length, 3, 'the open utterance was finalized');
    assert.equal(h.closed()!.code, 1001);
    assert.match(h.closed()!.reason, /^server shutting down; resume with session=sess-1&resume_from=3$/);
    assert.equal(h.messages.at(-1)!.type, 'Metadata');
  });

  test('a CloseStream in progress when the server drains still ends 1000 once its finals are out', async () => {
    const engine = new FakeEngine();
    const h = sessionHarness(vad(), '', { engine });
    const release = engine.hold();
    stream(h.session, pcm);
    h.session.onText('{"type":"CloseStream"}');
    const drained = h.session.drain(Date.now() + 60_000);
    release();
    await drained;
    assert.deepEqual(h.closed(), { code: 1000, reason: '' });
    assert.equal(finals(h.messages).length, 3);
  });
});

describe('stream session: stopped by a limit (StreamSession.stop)', () => {
  test('mid-stream: the finals so far, Metadata, then the limit code and reason; later audio is not decoded', async () => {
    const h = sessionHarness(vad(), '');
    stream(h.session, upTo(7));
    await until('the audio to be processed', () => h.session.receivedSeconds >= 6.9);
    h.session.stop(1008, 'AUDIO_QUOTA_EXCEEDED: over the limit');
    stream(h.session, pcm.subarray(upTo(7).length));
    await h.closedP;
    assert.deepEqual(h.closed(), { code: 1008, reason: 'AUDIO_QUOTA_EXCEEDED: over the limit' });
    assert.equal(finals(h.messages).length, 2, 'the two utterances received before the stop');
    assert.equal(h.messages.at(-1)!.type, 'Metadata');
    assert.ok(h.session.flushing);
  });

  test('a CloseStream in progress when a limit stops the stream: it closes with the limit, not 1000', async () => {
    const engine = new FakeEngine();
    const h = sessionHarness(vad(), '', { engine });
    const release = engine.hold();
    stream(h.session, pcm);
    h.session.onText('{"type":"CloseStream"}');
    h.session.stop(1008, 'CREDENTIAL_REVOKED: key removed');
    h.session.stop(1008, 'SESSION_TOO_LONG: a second limit changes nothing');
    release();
    await h.closedP;
    assert.deepEqual(h.closed(), { code: 1008, reason: 'CREDENTIAL_REVOKED: key removed' });
    assert.equal(finals(h.messages).length, 3);
  });
});

describe('stream session: clients that misbehave', () => {
  test('a client that does not read: interims dropped, then 1008 once its finals are stored', async () => {
    const full = 8 * 1024 * 1024;
    const h = sessionHarness(vad(), 'interim_results=true', {
      config: { interimIntervalMs: 300 },
      buffered: () => full,
      // The transport queues nothing more past its limit.
      send: (m) => ((m as Msg).type === 'Results' ? 'backpressure' : 'ok'),
    });
    for (const f of randomFrames(pcm, 5, 3200, 3201)) {
      h.session.onAudio(f);
      await sleep(2);
    }
    await h.closedP;
    const { code, reason } = h.closed()!;
    assert.equal(code, 1008);
    assert.match(
      reason,
      /^client is not reading \(8\.0 MiB unsent\); resume with session=sess-1&resume_from=/,
    );
    assert.equal(h.messages.filter((m) => m.type === 'Results' && !m.is_final).length, 0);
    await h.session.whenDone();
    // Frames sent after the close never arrived; everything that did is decoded and stored.
    const record = (await h.store.get(h.id))!;
    assert.ok(Math.abs(record.committed - h.session.receivedSeconds) < 0.01);
    const stored = await h.store.finals(h.id);
    assert.ok(stored.length >= 1);
    assert.deepEqual(
      stored.map((f) => f.seq),
      stored.map((_, i) => i + 1),
    );
  });

  test('an unknown control message is quoted back cut short, not echoed whole', async () => {
    const h = sessionHarness(vad(), '');
    h.session.onText(JSON.stringify({ type: 'x'.repeat(1_000_000) }));
    const err = h.messages.at(-1)!;
    assert.equal(err.type, 'Error');
    assert.ok(JSON.stringify(err).length < 600, `Error of ${JSON.stringify(err).length} bytes`);
    assert.match(err.description!, /unknown control message type "x{63}\.\.\.: use KeepAlive/);
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
  });

  test('a lag warning once per episode, not per frame', async () => {
    const engine = new FakeEngine();
    const h = sessionHarness(vad(), '', { engine, config: { lagWarnSeconds: 3 } });
    const lagWarnings = () => h.logs.filter((l) => l.level === 'warn' && /falling behind/.test(l.msg ?? ''));
    let release = engine.hold();
    stream(h.session, pcm);
    await until('the audio to be processed', () => h.session.receivedSeconds >= 10.5);
    assert.equal(lagWarnings().length, 1);
    release();
    await until('two finals', () => finals(h.messages).length === 2);
    assert.ok(h.logs.some((l) => l.msg === 'stream caught up'));
    release = engine.hold();
    stream(h.session, pcm, 7);
    await until('the audio to be processed', () => h.session.receivedSeconds >= 21);
    assert.equal(lagWarnings().length, 2, 'a second episode warns again');
    release();
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
  });
});
