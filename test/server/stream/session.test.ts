import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sharedVad } from '../../helpers/models.js';
import type { StreamSession, SessionConfig } from '../../../server/stream/session.js';
import { finals, sessionHarness, sleep, wordsOf } from '../../helpers/session-harness.js';
import { concat, encode, median, randomFrames, speechFixture, type Enc } from '../../helpers/audio.js';

/** Pipeline tests: real PCM decoding, resampling and Silero VAD; a deterministic engine double. */

const vad = sharedVad();

/** The shared session harness over the real Silero VAD (loaded once, below). */
const harness = (qs: string, config: Partial<SessionConfig> = {}, buffered = () => 0) =>
  sessionHarness(vad(), qs, { config, buffered });
const words = wordsOf;

function stream(session: StreamSession, bytes: Uint8Array, seed = 3) {
  for (const f of randomFrames(bytes, seed)) session.onAudio(f);
}

describe('stream session pipeline', () => {
  const fx = speechFixture();

  test('Metadata first, one speech_final per utterance, boundaries near the truth, Metadata and 1000 at close', async () => {
    const h = harness('encoding=linear16&sample_rate=16000&vad_events=true&punctuate=true');
    stream(h.session, encode(fx.samples, 'linear16'));
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    assert.equal(h.messages[0].type, 'Metadata');
    assert.equal(h.messages[0].request_id, 'sess-1');
    assert.equal(h.messages.at(-1)!.type, 'Metadata');
    assert.deepEqual(h.closed(), { code: 1000, reason: '' });
    const f = finals(h.messages);
    assert.equal(f.length, 3, `finals: ${JSON.stringify(f.map((x) => [x.start, x.duration]))}`);
    assert.ok(f.every((x) => x.speech_final && !x.from_finalize && x.metadata?.request_id === 'sess-1'));
    assert.deepEqual(
      f.map((x) => x.seq),
      [1, 2, 3],
    );
    const startErr = f.map((x, i) => Math.abs(x.start! - fx.segments[i].start));
    const endErr = f.map((x, i) => Math.abs(x.start! + x.duration! - fx.segments[i].end));
    assert.ok(median([...startErr, ...endErr]) <= 0.15, `boundary errors ${startErr} ${endErr}`);
    // SpeechStarted precedes each utterance's final, at its onset.
    const order = h.messages.map((m) => m.type + (m.is_final ? '!' : ''));
    assert.deepEqual(
      order.filter((t) => t === 'SpeechStarted' || t === 'Results!'),
      ['SpeechStarted', 'Results!', 'SpeechStarted', 'Results!', 'SpeechStarted', 'Results!'],
    );
    const started = h.messages.filter((m) => m.type === 'SpeechStarted').map((m) => m.timestamp!);
    started.forEach((t, i) => assert.ok(Math.abs(t - fx.segments[i].start) < 0.2));
    // Finals were written to the store before being sent.
    assert.deepEqual(
      (await h.store.finals('sess-1')).map((x) => x.seq),
      [1, 2, 3],
    );
  });

  for (const [enc, rate, channels] of [
    ['mulaw', 8000, 1],
    ['float32', 48000, 2],
    ['linear16', 44100, 1],
  ] as [Enc, number, 1 | 2][]) {
    test(`${enc} at ${rate} Hz, ${channels} channel(s): same utterances`, async () => {
      const h = harness(`encoding=${enc}&sample_rate=${rate}&channels=${channels}`);
      stream(h.session, encode(fx.samples, enc, rate, channels), rate);
      h.session.onText('{"type":"CloseStream"}');
      await h.closedP;
      const f = finals(h.messages);
      assert.equal(f.length, 3);
      const err = f.map((x, i) => Math.abs(x.start! - fx.segments[i].start));
      assert.ok(median(err) <= 0.15, `start errors ${err}`);
    });
  }

  test('interim results while speaking; interims never marked final; finals keep monotonic times', async () => {
    const h = harness('interim_results=true', { interimIntervalMs: 500 });
    // Paced a little so interims get their turn between audio chunks.
    for (const f of randomFrames(encode(fx.samples, 'linear16'), 5, 3200, 3201)) {
      h.session.onAudio(f);
      await new Promise((r) => setTimeout(r, 3));
    }
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    const interims = h.messages.filter((m) => m.type === 'Results' && !m.is_final);
    assert.ok(interims.length >= 3, `only ${interims.length} interims`);
    assert.ok(interims.every((m) => m.seq === undefined && !m.speech_final));
    const all = finals(h.messages).flatMap(words);
    for (let i = 1; i < all.length; i++) assert.ok(all[i].start >= all[i - 1].start);
  });

  test('Finalize decodes what is buffered: from_finalize, stream stays open', async () => {
    const h = harness('');
    const bytes = encode(fx.samples.subarray(0, 16000 * 2.5), 'linear16');
    stream(h.session, bytes);
    h.session.onText('{"type":"Finalize"}');
    stream(h.session, encode(fx.samples.subarray(16000 * 2.5), 'linear16'));
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    const f = finals(h.messages);
    assert.equal(f[0].from_finalize, true);
    assert.equal(f[0].speech_final, false);
    assert.ok(
      Math.abs(f[0].start! + f[0].duration! - 2.5) < 0.05,
      'the finalized span ends where the audio did',
    );
    assert.ok(f.length >= 4, 'the rest of the stream still produced finals');
    assert.ok(f.slice(1).every((x) => !x.from_finalize));
  });

  test('Finalize with nothing buffered still answers with an empty final', async () => {
    const h = harness('');
    h.session.onText('{"type":"Finalize"}');
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    const f = finals(h.messages);
    assert.equal(f.length, 1);
    assert.equal(f[0].from_finalize, true);
    assert.equal(f[0].channel!.alternatives[0].transcript, '');
  });

  for (const kind of ['silence', 'white noise', 'tones'] as const) {
    test(`${kind} gives no finals and costs no inference`, async () => {
      const h = harness('');
      const x = new Float32Array(16000 * 6);
      let a = 7;
      for (let i = 0; i < x.length; i++) {
        a = (a * 1103515245 + 12345) & 0x7fffffff;
        if (kind === 'white noise') x[i] = (a / 0x7fffffff - 0.5) * 0.2;
        if (kind === 'tones') x[i] = 0.3 * Math.sin((2 * Math.PI * (i < 48000 ? 440 : 1000) * i) / 16000);
      }
      stream(h.session, encode(x, 'linear16'));
      h.session.onText('{"type":"CloseStream"}');
      await h.closedP;
      assert.equal(finals(h.messages).length, 0);
      assert.equal(h.engine.calls.length, 0);
    });
  }

  test('long speech commits its agreed prefix early (LocalAgreement-2), without duplicates', async () => {
    const h = harness('endpointing=false&interim_results=true', {
      earlyCommitSeconds: 2,
      interimIntervalMs: 400,
      commitMarginSeconds: 0.5,
    });
    // Speech glued without pauses: three utterances back to back, twice.
    const speech = fx.segments.map((s) =>
      fx.samples.subarray(Math.round(s.start * 16000), Math.round(s.end * 16000)),
    );
    const glued = concat([...speech, ...speech]);
    for (const f of randomFrames(encode(glued, 'linear16'), 9, 3200, 3201)) {
      h.session.onAudio(f);
      await new Promise((r) => setTimeout(r, 3));
    }
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    const f = finals(h.messages);
    const early = f.filter((x) => !x.speech_final && !x.from_finalize && x !== f.at(-1));
    assert.ok(early.length >= 2, `early commits: ${early.length}`);
    const all = f.flatMap(words);
    for (let i = 1; i < all.length; i++) {
      assert.ok(all[i].start >= all[i - 1].end - 1e-6, `word ${i} overlaps the previous one`);
    }
  });

  test('an utterance reaching the maximum length is cut; speech going on starts the next at the cut', async () => {
    const h = harness('endpointing=false', { maxUtteranceSeconds: 2.5 });
    stream(h.session, encode(fx.samples.subarray(0, 16000 * 4.1), 'linear16'));
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    const f = finals(h.messages);
    assert.ok(f.length >= 2, `finals ${f.length}`);
    assert.ok(f[0].duration! <= 2.5 + 1e-6, 'the first piece is cut at the limit');
    assert.equal(f[0].speech_final, false);
    assert.ok(
      Math.abs(f[1].start! - (f[0].start! + f[0].duration!)) < 1e-6,
      'the next piece starts where it was cut',
    );
  });

  test('a client that does not read loses interims, never finals', async () => {
    const h = harness('interim_results=true', { interimIntervalMs: 300 }, () => 64 * 1024 * 1024);
    for (const f of randomFrames(encode(fx.samples, 'linear16'), 5, 3200, 3201)) {
      h.session.onAudio(f);
      await new Promise((r) => setTimeout(r, 3));
    }
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    assert.equal(h.messages.filter((m) => m.type === 'Results' && !m.is_final).length, 0);
    assert.equal(finals(h.messages).length, 3);
    assert.ok(h.session.stats.droppedInterims > 0);
  });

  test("an interim still queued when its utterance's final is asked for leaves the queue undecoded", async () => {
    const h = harness('interim_results=true', { interimIntervalMs: 300, earlyFinals: false });
    const submitted: string[] = [];
    const submit = h.scheduler.submit.bind(h.scheduler);
    h.scheduler.submit = (job) => {
      submitted.push(job.kind);
      return submit(job);
    };
    const release = h.engine.hold();
    // Another stream's decode holds the engine: what this stream asks for queues behind it.
    const other = submit({
      session: 'other',
      kind: 'final',
      window: { audio: new Float32Array(16000), offset: 0 },
      options: {},
    });
    stream(
      h.session,
      encode(fx.samples.subarray(0, Math.round((fx.segments[0].end + 1) * 16000)), 'linear16'),
    );
    for (let i = 0; i < 500 && !submitted.includes('final'); i++) await sleep(10);
    assert.deepEqual(submitted, ['interim', 'final'], 'an interim was queued before the final');
    release();
    await other;
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    const interims = h.engine.calls.flatMap((c) => c.temperatures).filter((t) => t?.length === 1);
    assert.equal(interims.length, 0, 'no interim decoded');
    assert.equal(finals(h.messages).length, 1);
    assert.equal(h.scheduler.coalesced, 1, 'counted as dropped unrun');
  });

  test('UtteranceEnd after utterance_end_ms without words', async () => {
    const h = harness('utterance_end_ms=1000');
    const padded = new Float32Array(fx.samples.length + 16000 * 2);
    padded.set(fx.samples);
    stream(h.session, encode(padded, 'linear16'));
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    const ends = h.messages.filter((m) => m.type === 'UtteranceEnd');
    assert.ok(ends.length >= 1);
    const lastFinal = finals(h.messages).at(-1)!;
    assert.ok(h.messages.indexOf(ends.at(-1)!) > h.messages.indexOf(lastFinal));
  });

  test('no audio or KeepAlive closes with 1011 NET-0001; KeepAlive keeps it open', async () => {
    const h = harness('', { idleTimeoutMs: 300 });
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 150));
      h.session.onText('{"type":"KeepAlive"}');
    }
    assert.equal(h.closed(), null, 'KeepAlive every 150 ms keeps a 300 ms timeout away');
    await h.closedP;
    assert.deepEqual(h.closed(), { code: 1011, reason: 'NET-0001' });
  });

  test('a client far ahead of processing is closed with 1013, not buffered without bound', async () => {
    const h = harness('', { maxQueuedSeconds: 1 });
    const pcm = encode(fx.samples.subarray(0, 16000 * 3), 'linear16');
    for (let i = 0; i < pcm.length; i += 3200) h.session.onAudio(pcm.subarray(i, i + 3200));
    await h.closedP;
    assert.equal(h.closed()!.code, 1013);
  });

  test('undecodable audio closes with DATA-0000', async () => {
    const h = harness('encoding=float32');
    const bad = new Float32Array(1600).fill(NaN);
    h.session.onAudio(new Uint8Array(bad.buffer));
    await h.closedP;
    assert.deepEqual(h.closed(), { code: 1011, reason: 'DATA-0000' });
  });

  test('bad text frames get an Error message and lose nothing', async () => {
    const h = harness('');
    h.session.onText('not json');
    h.session.onText('{"type":"Nope"}');
    stream(h.session, encode(fx.samples, 'linear16'));
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    assert.equal(h.messages.filter((m) => m.type === 'Error').length, 2);
    assert.equal(finals(h.messages).length, 3);
  });

  test('a client that disconnects still gets its finals stored', async () => {
    const h = harness('');
    stream(h.session, encode(fx.samples.subarray(0, 16000 * 6), 'linear16'));
    h.session.onClientClose();
    await h.session.whenDone();
    const stored = await h.store.finals('sess-1');
    assert.equal(stored.length, 2, 'the finished utterance and the one cut by the disconnect');
    assert.equal((await h.store.get('sess-1'))!.status, 'closed');
  });
});
