import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sharedVad } from '../../helpers/models.js';
import { FakeEngine } from '../../helpers/fake-engine.js';
import { concat, encode, speechFixture } from '../../helpers/audio.js';
import { finals, sessionHarness, sleep, type Msg } from '../../helpers/session-harness.js';
import type { EarlyOutcome } from '../../../server/stream/early-finals.js';
import type { TranscribeJob } from '../../../server/scheduling/scheduler.js';

/**
 * Early finals: a final is decoded while its endpointing silence passes, and is what a decode after the endpoint
 * would have given. Real Silero VAD, a deterministic engine double that records when each decode reached it.
 */

const vad = sharedVad();
const fx = speechFixture();

/** An engine double that notes how much audio the stream had received when each window reached it. */
class TimedEngine extends FakeEngine {
  received: () => number = () => NaN;
  at: { offset: number; seconds: number; received: number }[] = [];
  override decodeWindows(...args: Parameters<FakeEngine['decodeWindows']>) {
    for (const w of args[0])
      this.at.push({ offset: w.offset, seconds: w.audio.length / 16000, received: this.received() });
    return super.decodeWindows(...args);
  }
}

/**
 * Streams `samples` in 100 ms frames, letting each be processed, then closes (`busy`: another stream's decode holds
 * the engine until the audio is in; `qs`: more query parameters).
 */
async function run(
  samples: Float32Array,
  earlyFinals: boolean,
  engine = new TimedEngine(),
  busy = false,
  qs = '',
) {
  const outcomes: EarlyOutcome[] = [];
  const h = sessionHarness(vad(), `encoding=linear16&sample_rate=16000&endpointing=500${qs}`, {
    engine,
    config: { earlyFinals },
    observe: { result: () => {}, audio: () => {}, earlyFinal: (o) => outcomes.push(o) },
  });
  engine.received = () => h.session.receivedSeconds;
  const submitted: TranscribeJob[] = [];
  const submit = h.scheduler.submit.bind(h.scheduler);
  h.scheduler.submit = (job) => (submitted.push(job), submit(job));
  const release = busy ? engine.hold() : () => {};
  const other = busy
    ? h.scheduler.submit({
        session: 'other',
        kind: 'final',
        window: { audio: new Float32Array(1600), offset: 99 },
        options: {},
      })
    : null;
  const bytes = encode(samples, 'linear16');
  for (let i = 0; i < bytes.length; i += 3200) {
    h.session.onAudio(bytes.subarray(i, i + 3200));
    await sleep(2);
  }
  release();
  await other;
  h.session.onText('{"type":"CloseStream"}');
  await h.closedP;
  return { h, engine, outcomes, submitted };
}

const shape = (m: Msg) => ({
  start: m.start,
  duration: m.duration,
  speech_final: m.speech_final,
  words: m.channel!.alternatives[0].words,
});

describe('early finals (decoded during the endpointing wait)', () => {
  test('each final is decoded once, before its endpoint, and equals the final decoded after it', async () => {
    // A second of silence after the last utterance, so that it too ends at its endpoint, not at the close.
    const samples = concat([fx.samples, new Float32Array(16000)]);
    const early = await run(samples, true);
    const late = await run(samples, false);
    const f = finals(early.h.messages);
    assert.equal(f.length, 3);
    assert.deepEqual(f.map(shape), finals(late.h.messages).map(shape), 'the same finals, word for word');
    assert.deepEqual(early.outcomes, ['used', 'used', 'used']);
    for (const [i, m] of f.entries()) {
      const end = m.start! + m.duration!;
      const e = early.engine.at.filter((x) => x.offset < end && x.offset + x.seconds > m.start!);
      const l = late.engine.at.filter((x) => x.offset < end && x.offset + x.seconds > m.start!);
      assert.equal(e.length, 1, `final ${i}: one decode`);
      // Early: decoded once the pause reached the pad (200 ms), well before the 500 ms endpointing silence.
      assert.ok(
        e[0].received < end + 0.45,
        `final ${i} early decode at ${e[0].received} (speech end ${end})`,
      );
      assert.ok(l[0].received >= end + 0.5, `final ${i} late decode at ${l[0].received} (speech end ${end})`);
    }
  });

  const [a, b] = fx.segments;
  const part = (x: { start: number; end: number }) =>
    fx.samples.subarray(Math.round(x.start * 16000), Math.round(x.end * 16000));
  // Two stretches of speech 350 ms apart (less than the 500 ms endpointing): one utterance.
  const twoParts = concat([
    new Float32Array(8000),
    part(a),
    new Float32Array(5600),
    part(b),
    new Float32Array(16000),
  ]);
  const bStart = 0.5 + (a.end - a.start) + 0.35;

  /** The one final covers both stretches, decoded from the utterance's start to past the second. */
  function oneFinal(msgs: Msg[]): Msg {
    const f = finals(msgs);
    assert.equal(f.length, 1, `finals ${JSON.stringify(f.map((x) => [x.start, x.duration]))}`);
    assert.ok(f[0].start! < 0.6 && f[0].start! + f[0].duration! > bStart + 1, 'the final spans both parts');
    return f[0];
  }

  test('speech going on after a pause: an early decode that ran is wasted; the final decodes the whole', async () => {
    const { h, engine, outcomes, submitted } = await run(twoParts, true);
    oneFinal(h.messages);
    assert.deepEqual(outcomes, ['wasted', 'used']);
    // Nothing would use it if the speech went on: it may only take idle engine time (scheduler.test.ts).
    assert.ok(submitted[0].kind === 'early' && submitted[0].ifIdle === true, 'speculative');
    const windows = engine.at.map((x) => [x.offset, +(x.offset + x.seconds).toFixed(2)]);
    assert.equal(windows.length, 2, `windows ${JSON.stringify(windows)}`);
    assert.ok(engine.at[0].offset + engine.at[0].seconds < bStart, 'the first ended at the pause');
  });

  test('with interim_results, an early decode whose speech went on is the utterance interim', async () => {
    const { h, engine, outcomes, submitted } = await run(
      twoParts,
      true,
      new TimedEngine(),
      false,
      '&interim_results=true',
    );
    oneFinal(h.messages);
    assert.deepEqual(outcomes, ['interim', 'used']);
    assert.equal(
      submitted.find((j) => j.kind === 'early')?.ifIdle,
      false,
      'an interim is wanted: not speculative',
    );
    const early = engine.at[0];
    const interims = h.messages.filter((m) => m.type === 'Results' && !m.is_final);
    assert.ok(
      interims.some((m) => Math.abs(m.start! + m.duration! - (early.offset + early.seconds)) < 1e-6),
      `an interim ends where the early decode did (${early.offset + early.seconds}): ${JSON.stringify(interims.map((m) => [m.start, m.duration]))}`,
    );
  });

  test('speech going on after a pause: an early decode still queued is withdrawn, never decoded', async () => {
    const { h, engine, outcomes } = await run(twoParts, true, new TimedEngine(), true);
    oneFinal(h.messages);
    assert.deepEqual(outcomes, ['withdrawn', 'used']);
    assert.equal(h.scheduler.withdrawn, 1);
    // The other stream's window, then the final's: the withdrawn one never reached the engine.
    assert.deepEqual(
      engine.at.map((x) => x.offset === 99),
      [true, false],
    );
  });
});
