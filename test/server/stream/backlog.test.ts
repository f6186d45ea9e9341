import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sharedVad } from '../../helpers/models.js';
import type { StreamSession } from '../../../server/stream/session.js';
import { FakeEngine } from '../../helpers/fake-engine.js';
import { finals, sessionHarness, sleep } from '../../helpers/session-harness.js';
import { encode, randomFrames, speechFixture } from '../../helpers/audio.js';

/**
 * The finals a stream has waiting for inference are bounded like its queued audio: past the bound it takes no
 * more audio, delivers the finals of what it received, then closes 1013 saying how to resume. The engine double
 * is held so that finals pile up without any timing.
 */

const vad = sharedVad();

const fx = speechFixture();
const pcm = encode(fx.samples, 'linear16');

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await sleep(5);
  assert.ok(cond(), `timed out waiting for ${what}`);
}

/** Audio a second at a time, each processed before the next (the queued-audio bound is not what is tested). */
async function feed(session: StreamSession, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length; at += 32000) {
    for (const f of randomFrames(bytes.subarray(at, at + 32000), 3)) session.onAudio(f);
    const seconds = Math.min(bytes.length, at + 32000) / 32000;
    await until(
      `${seconds} s processed`,
      () => session.receivedSeconds >= seconds - 0.01 || session.flushing,
    );
  }
}

describe('finals backlog', () => {
  test('more finals waiting than maxPendingFinals: the finals so far, Metadata, then 1013 with how to resume', async () => {
    const engine = new FakeEngine();
    const release = engine.hold();
    const h = sessionHarness(vad(), 'encoding=linear16&sample_rate=16000', {
      engine,
      config: { maxPendingFinals: 4 },
    });
    // The utterances' finals wait for the held engine; every Finalize then queues another final behind them.
    await feed(h.session, pcm.subarray(0, 6 * 32000));
    await until('a final to be decoding', () => engine.calls.length > 0);
    for (let i = 0; i < 10; i++) h.session.onText('{"type":"Finalize"}');
    await until('the backlog to stop the stream', () =>
      h.logs.some((l) => l.msg?.startsWith('finals backlog')),
    );
    // Audio after the stop is refused, said once; the stream waits for its finals before closing.
    h.session.onAudio(pcm.subarray(0, 3200));
    assert.equal(h.closed(), null, 'not closed while its finals are decoding');
    release();
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    const closed = h.closed()!;
    assert.equal(closed.code, 1013, closed.reason);
    assert.match(
      closed.reason,
      /^finals backlog: \d+ finals, .* resume with session=sess-1&resume_from=\d+$/,
    );
    assert.ok(Buffer.byteLength(closed.reason) <= 123);
    const f = finals(h.messages);
    assert.ok(f.length >= 5, `every final requested is delivered: ${f.length}`);
    assert.equal(h.messages.at(-1)!.type, 'Metadata');
    const errors = h.messages.filter((m) => m.type === 'Error');
    assert.equal(errors.length, 1);
    assert.equal(errors[0].err_code, 'STREAM_CLOSING');
    assert.equal(
      (await h.store.finals('sess-1')).length,
      f.filter((x) => x.channel!.alternatives[0].transcript).length,
    );
  });

  test('finals reaching back further than maxQueuedSeconds stop the stream the same way', async () => {
    const engine = new FakeEngine();
    const release = engine.hold();
    const h = sessionHarness(vad(), 'encoding=linear16&sample_rate=16000', {
      engine,
      config: { maxQueuedSeconds: 4 },
    });
    await feed(h.session, pcm);
    await until('the backlog to stop the stream', () =>
      h.logs.some((l) => l.msg?.startsWith('finals backlog')),
    );
    release();
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    assert.equal(h.closed()!.code, 1013, h.closed()!.reason);
    assert.match(h.closed()!.reason, /^finals backlog: /);
    assert.ok(finals(h.messages).length >= 1, 'the finals of what was received are delivered');
    assert.equal(h.messages.at(-1)!.type, 'Metadata');
  });
});
