import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import {
  inProcessLabels,
  LABEL_GRID,
  type LiveLabellers,
  type LiveLabels,
} from '../../../models/speaker/live-labels.js';
import type { VadModel } from '../../../models/vad/silero.js';
import { MemoryStore } from '../../../server/store/memory.js';
import { concat, encode } from '../../helpers/audio.js';
import { finals, sessionHarness, wordsOf, type Msg } from '../../helpers/session-harness.js';
import { voice } from '../../helpers/audio.js';
import { FakeEngine } from '../../helpers/fake-engine.js';

/**
 * Live speaker labels through a whole session (real PCM path, real built-in speaker embedding, the engine double
 * for words), and the speech_final of a stream whose client went away mid-speech. The VAD is an energy gate, so
 * the synthetic voices below are "speech" exactly where they sound.
 */

const SR = 16000;

/** Silero's interface over an energy gate: 512-sample frames, speech where the RMS is above -46 dBFS. */
const energyVad: VadModel = {
  frameSamples: 512,
  createStream() {
    let rest = new Float32Array(0);
    return {
      push(samples: Float32Array) {
        const all = concat([rest, samples]);
        const n = Math.floor(all.length / 512);
        const probs = new Float32Array(n);
        for (let f = 0; f < n; f++) {
          let e = 0;
          for (let i = f * 512; i < (f + 1) * 512; i++) e += all[i] * all[i];
          probs[f] = Math.sqrt(e / 512) > 0.005 ? 0.95 : 0.02;
        }
        rest = all.slice(n * 512);
        return Promise.resolve(probs);
      },
      reset() {
        rest = new Float32Array(0);
      },
    };
  },
};

const A = (s: number) => voice(100, [600, 1200], s);
const B = (s: number) => voice(230, [850, 2300], s);
const pause = (s: number) => new Float32Array(Math.round(s * SR));

/**
 * A room's noise floor (about -64 dBFS, under the VAD's gate) over the whole recording: the built-in embedding
 * needs one (digital silence inside a final pulls its statistics apart; see the report of issue 10).
 */
function withNoise(audio: Float32Array): Float32Array {
  const out = Float32Array.from(audio);
  let seed = 1;
  for (let i = 0; i < out.length; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    out[i] += 0.002 * (seed / 2147483648 - 0.5);
  }
  return out;
}

const embedder = new BuiltinEmbedder();

/** In-process labellers whose sessions pass every call through `spy` first (a spy may drop `hear`). */
function spiedLabels(spy: {
  labelFinal?: (...a: Parameters<LiveLabels['labelFinal']>) => void;
  hear?: (samples: Float32Array, at: number) => boolean;
}): LiveLabellers {
  const inner = inProcessLabels(embedder);
  return {
    open(opts, state) {
      const l = inner.open(opts, state);
      return {
        labelFinal: (...a) => {
          spy.labelFinal?.(...a);
          return l.labelFinal(...a);
        },
        hear: (samples, at) => {
          if (spy.hear?.(samples, at) ?? true) l.hear(samples, at);
        },
        get state() {
          return l.state;
        },
        get workMs() {
          return l.workMs;
        },
        close: () => l.close(),
      };
    },
    release: () => inner.release(),
  };
}

/** Streams `audio` in 100-ms frames, then CloseStream; resolves with what was sent once closed. */
async function run(
  audio: Float32Array,
  opts: Parameters<typeof sessionHarness>[2] = {},
  qs = 'diarize=true',
) {
  const h = sessionHarness(energyVad, qs, { embedder, ...opts });
  const bytes = encode(withNoise(audio), 'linear16');
  for (let o = 0; o < bytes.length; o += 3200) h.session.onAudio(bytes.subarray(o, o + 3200));
  h.session.onText('{"type":"CloseStream"}');
  await h.closedP;
  await h.session.whenDone();
  return h;
}

const speakersOf = (m: Msg) => wordsOf(m).map((w) => w.speaker);

describe('live diarization (diarize=true)', () => {
  test('every final word carries speaker and speaker_confidence; labels stable over the session', async () => {
    const h = await run(concat([A(2.5), pause(1), B(2.5), pause(1), A(2.5), pause(1), B(2.5), pause(1)]));
    const f = finals(h.messages).filter((m) => wordsOf(m).length > 0);
    assert.equal(f.length, 4);
    for (const m of f) {
      for (const w of wordsOf(m)) {
        assert.ok(Number.isInteger(w.speaker) && w.speaker! >= 0, `speaker ${w.speaker}`);
        assert.ok(w.speaker_confidence! >= 0 && w.speaker_confidence! <= 1);
      }
      assert.equal(new Set(speakersOf(m)).size, 1, 'one voice per final');
    }
    assert.deepEqual(
      f.map((m) => m.speaker),
      [0, 1, 0, 1],
    );
    // Stored as sent: a replay carries the same labels.
    const stored = await h.store.finals(h.id);
    assert.deepEqual(
      stored.map((s) => s.words.map((w) => w.speaker)),
      f.map(speakersOf),
    );
  });

  test('the time spent on labels is reported for each labelled final (the metric)', async () => {
    const costs: number[] = [];
    const observe = { result: () => {}, audio: () => {}, labelled: (s: number) => costs.push(s) };
    const h = await run(concat([A(2.5), pause(1), B(2.5), pause(1)]), { observe });
    const labelled = finals(h.messages).filter((m) => wordsOf(m).length > 0);
    assert.equal(costs.length, labelled.length);
    assert.ok(
      costs.every((s) => s > 0 && s < 10),
      JSON.stringify(costs),
    );
  });

  test('labels are computed while the words are decoded: a held engine does not hold them up', async () => {
    const costs: number[] = [];
    const observe = { result: () => {}, audio: () => {}, labelled: (s: number) => costs.push(s) };
    const engine = new FakeEngine();
    const release = engine.hold();
    const h = sessionHarness(energyVad, 'diarize=true', { embedder, observe, engine });
    const bytes = encode(withNoise(concat([A(2.5), pause(1), B(2.5), pause(1)])), 'linear16');
    for (let o = 0; o < bytes.length; o += 3200) h.session.onAudio(bytes.subarray(o, o + 3200));
    for (let i = 0; i < 400 && costs.length < 2; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(costs.length, 2, 'both finals labelled');
    assert.equal(finals(h.messages).length, 0, 'while no word was decoded yet');
    release();
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    assert.deepEqual(
      finals(h.messages)
        .filter((m) => wordsOf(m).length > 0)
        .map((m) => m.speaker),
      [0, 1],
    );
  });

  test("the stream's audio is heard as it comes, finals start on the labeller's grid: the same labels as unheard", async () => {
    const audio = concat([A(2.5), pause(1.03), B(2.5), pause(0.97), A(1.5), B(1.5), pause(1)]);
    let calls = { heard: 0, samples: 0, finals: [] as (number | undefined)[] };
    const labellers = (hear: boolean): LiveLabellers => {
      calls = { heard: 0, samples: 0, finals: [] };
      return spiedLabels({
        labelFinal: (_audio, _start, _words, at) => calls.finals.push(at),
        hear: (samples, at) => {
          assert.equal(at, calls.samples, 'heard without a gap, counted from the first sample');
          calls.samples += samples.length;
          calls.heard++;
          return hear;
        },
      });
    };
    const heard = await run(audio, { labels: labellers(true) });
    assert.ok(
      calls.heard > 10 && calls.samples >= audio.length,
      `${calls.heard} packets, ${calls.samples} samples`,
    );
    assert.ok(
      calls.finals.length >= 3 && calls.finals.every((at) => at !== undefined && at % LABEL_GRID === 0),
    );
    const unheard = await run(audio, { labels: labellers(false) });
    const labels = (h: typeof heard) => finals(h.messages).map((m) => wordsOf(m));
    assert.deepEqual(labels(heard), labels(unheard));
    // Labels worth comparing: both voices told apart, the last final split between them.
    const last = labels(heard).filter((w) => w.length > 0);
    assert.deepEqual(new Set(last.at(-1)!.map((w) => w.speaker)), new Set([0, 1]));
  });

  test("a final's speech regions reach its labeller: split at a pause shorter than the endpointing", async () => {
    // A 2 s, a 0.4 s pause (inside one final: endpointing is 500 ms), B 2 s.
    const audio = concat([pause(0.5), A(2), pause(0.4), B(2), pause(1)]);
    const got: { start: number; length: number; speech?: readonly { start: number; end: number }[] }[] = [];
    const labels = spiedLabels({
      labelFinal: (clip, start, _words, _at, speech) => got.push({ start, length: clip.length / SR, speech }),
    });
    await run(audio, { labels });
    assert.equal(got.length, 1, `finals ${JSON.stringify(got)}`);
    const [{ start, length, speech }] = got;
    assert.equal(speech?.length, 2, `regions ${JSON.stringify(speech)}`);
    for (const r of speech) assert.ok(r.start >= start - 1e-9 && r.end <= start + length + 1e-9);
    // The pause (2.5-2.9 s) lies between them, less the regions' pads.
    assert.ok(speech[0].end > 2.4 && speech[0].end <= 2.7, `first ends ${speech[0].end}`);
    assert.ok(speech[1].start >= 2.7 && speech[1].start < 3, `second starts ${speech[1].start}`);
  });

  test('a turn change without a pause splits the word labels inside one final', async () => {
    const h = await run(concat([A(3), B(3), pause(1)]));
    const f = finals(h.messages).filter((m) => wordsOf(m).length > 0);
    assert.equal(f.length, 1);
    const labels = speakersOf(f[0]);
    const words = wordsOf(f[0]);
    const first = words.filter((w) => w.end < 2.6).map((w) => w.speaker);
    const second = words.filter((w) => w.start > 3.4).map((w) => w.speaker);
    assert.ok(first.length > 0 && second.length > 0);
    assert.deepEqual(new Set(first), new Set([0]), `labels ${labels.join(',')}`);
    assert.deepEqual(new Set(second), new Set([1]), `labels ${labels.join(',')}`);
  });

  test('one voice: one speaker', async () => {
    const h = await run(concat([A(2), pause(1), A(3), pause(1), A(2), pause(1)]));
    const labels = finals(h.messages).flatMap(speakersOf);
    assert.ok(labels.length > 0);
    assert.deepEqual(new Set(labels), new Set([0]));
  });

  test('labels survive a resume: the diarizer state is stored with the session and restored', async () => {
    const store = new MemoryStore();
    const first = await run(concat([A(2.5), pause(1), B(2.5), pause(1)]), { store });
    assert.deepEqual(
      finals(first.messages).map((m) => m.speaker),
      [0, 1],
    );
    const record = (await store.get(first.id))!;
    assert.ok(record.speakers, 'the diarizer state is in the session record');
    const resume = { timeOffset: record.committed, seqStart: record.lastSeq };
    const second = await run(concat([B(2.5), pause(1), A(2.5), pause(1)]), {
      store,
      resume: { ...resume, speakers: record.speakers },
    });
    assert.deepEqual(
      finals(second.messages).map((m) => m.speaker),
      [1, 0],
      'B keeps 1 and A keeps 0',
    );
    // Without the stored state the first voice heard would be speaker 0 again.
    const fresh = await run(concat([B(2.5), pause(1)]), { resume });
    assert.deepEqual(
      finals(fresh.messages).map((m) => m.speaker),
      [0],
    );
  });

  test('max_speakers caps the labels', async () => {
    const h = await run(concat([A(2.5), pause(1), B(2.5), pause(1)]), {}, 'diarize=true&max_speakers=1');
    assert.deepEqual(new Set(finals(h.messages).flatMap(speakersOf)), new Set([0]));
  });

  test('without diarize no word is labelled', async () => {
    const h = await run(concat([A(2.5), pause(1), B(2.5), pause(1)]), {}, '');
    const words = finals(h.messages).flatMap(wordsOf);
    assert.ok(words.length > 0);
    assert.ok(words.every((w) => w.speaker === undefined && w.speaker_confidence === undefined));
    assert.ok(finals(h.messages).every((m) => m.speaker === undefined));
  });
});

describe('known speakers (known_speakers: voiceprints name the live speakers)', () => {
  const C = (s: number, phase = 0) => voice(160, [500, 1800], s, phase);
  /** A voiceprint's embedding: a clip of the voice recorded apart from the stream (another phase). */
  const print = async (name: string, clip: Float32Array) => ({
    name,
    embedding: (await embedder.embed([withNoise(clip)]))[0],
  });
  const conversation = () => concat([A(2.5), pause(1), B(2.5), pause(1), A(2.5), pause(1), B(2.5), pause(1)]);
  const namesOf = (m: Msg) => wordsOf(m).map((w) => (w as { speaker_name?: string }).speaker_name);

  test('both voices listed: every word and final of each takes its name', async () => {
    const knownSpeakers = [
      await print('Ann', voice(100, [600, 1200], 3, 1.3)),
      await print('Bo', voice(230, [850, 2300], 3, 2.1)),
    ];
    const h = await run(conversation(), { knownSpeakers });
    const f = finals(h.messages).filter((m) => wordsOf(m).length > 0);
    assert.deepEqual(
      f.map((m) => (m as { speaker_name?: string }).speaker_name),
      ['Ann', 'Bo', 'Ann', 'Bo'],
    );
    for (const m of f) assert.equal(new Set(namesOf(m)).size, 1);
    // Stored with the names, so transcripts and replays carry them.
    const stored = await h.store.finals(h.id);
    assert.deepEqual(
      stored.map((s) => s.words[0]?.speaker_name),
      ['Ann', 'Bo', 'Ann', 'Bo'],
    );
  });

  test('a voice that is not listed keeps its number; a listed voice that is absent names nobody', async () => {
    const h = await run(conversation(), {
      knownSpeakers: [await print('Ann', voice(100, [600, 1200], 3, 1.3)), await print('Cy', C(3))],
    });
    const f = finals(h.messages).filter((m) => wordsOf(m).length > 0);
    assert.deepEqual(
      f.map((m) => namesOf(m)[0]),
      ['Ann', undefined, 'Ann', undefined],
    );
    assert.ok(f.flatMap(namesOf).every((n) => n !== 'Cy'));
    assert.deepEqual(
      f.map((m) => m.speaker),
      [0, 1, 0, 1],
      'numbers as without names',
    );
  });
});

describe('client gone mid-speech', () => {
  test('the final decoded from what was received is not speech_final (the speaker may not have stopped)', async () => {
    const h = sessionHarness(energyVad, '');
    const bytes = encode(concat([pause(0.5), A(3)]), 'linear16');
    for (let o = 0; o < bytes.length; o += 3200) h.session.onAudio(bytes.subarray(o, o + 3200));
    h.session.onClientClose();
    await h.session.whenDone();
    const stored = await h.store.finals(h.id);
    assert.ok(stored.length > 0, 'what was received is decoded into the store');
    assert.equal(stored.at(-1)!.speech_final, false);
  });

  test('after CloseStream the end of input still closes the utterance with speech_final', async () => {
    const h = await run(concat([pause(0.5), A(3)]), {}, '');
    assert.equal(finals(h.messages).at(-1)!.speech_final, true);
  });
});
