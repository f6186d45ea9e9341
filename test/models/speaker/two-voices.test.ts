/**
 * Diarization of a small generated conversation, in both paths: two source-filter voices (a glottal pulse train
 * through four formant resonators) that say changing vowels, so the words move F1/F2 while the speaker is told by
 * pitch and vocal-tract length (all formants scaled), as in real speech. Faint noise under everything.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import { diarizeFile } from '../../../models/speaker/diarize.js';
import { LiveDiarizer } from '../../../models/speaker/live.js';

const SR = 16000;
/** F1-F4 of a few vowels (adult male), Hz. */
const VOWELS = [
  [730, 1090, 2440, 3400],
  [270, 2290, 3010, 3700],
  [530, 1840, 2480, 3500],
  [300, 870, 2240, 3300],
  [570, 840, 2410, 3400],
];

interface Voice {
  f0: number;
  /** Vocal-tract scale: every formant times this. */
  tract: number;
}

/** Deterministic uniform noise in [-1, 1). */
function noise(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2147483648 - 1;
  };
}

function speak(v: Voice, seconds: number, seed: number): Float32Array {
  const n = Math.round(seconds * SR);
  const rand = noise(seed);
  const src = new Float64Array(n);
  // Pulses at f0 with a falling intonation and a little jitter.
  for (let t = 0; t < n;) {
    src[t] = 1;
    const f0 = v.f0 * (1.08 - (0.16 * t) / n) * (1 + 0.02 * rand());
    t += Math.max(1, Math.round(SR / f0));
  }
  const out = new Float64Array(n);
  const syllable = Math.round(0.18 * SR);
  const y1 = new Float64Array(4);
  const y2 = new Float64Array(4);
  for (let i = 0; i < n; i++) {
    const vowel = VOWELS[(Math.floor(i / syllable) + seed) % VOWELS.length];
    let x = src[i];
    for (let k = 0; k < 4; k++) {
      const r = Math.exp((-Math.PI * (60 + 30 * k)) / SR);
      const c = 2 * r * Math.cos((2 * Math.PI * vowel[k] * v.tract) / SR);
      const y = x + c * y1[k] - r * r * y2[k];
      y2[k] = y1[k];
      y1[k] = y;
      x = y;
    }
    out[i] = x;
  }
  let peak = 0;
  for (const x of out) peak = Math.max(peak, Math.abs(x));
  return Float32Array.from(
    out,
    (x, i) => ((0.5 * x) / peak) * (0.6 + 0.4 * Math.sin((2 * Math.PI * 4 * i) / SR)),
  );
}

const MAN: Voice = { f0: 105, tract: 1 };
const WOMAN: Voice = { f0: 210, tract: 1.18 };
const GAP = 0.6;
const TURNS: { voice: Voice; seconds: number; speaker: number }[] = [
  { voice: MAN, seconds: 2.5, speaker: 0 },
  { voice: WOMAN, seconds: 2, speaker: 1 },
  { voice: MAN, seconds: 3, speaker: 0 },
  { voice: WOMAN, seconds: 2.5, speaker: 1 },
  { voice: MAN, seconds: 2, speaker: 0 },
];

/** The conversation, its speech spans and the true speaker of each. */
function conversation() {
  const total = TURNS.reduce((s, t) => s + t.seconds + GAP, 0);
  const audio = new Float32Array(Math.round(total * SR));
  const spans: { start: number; end: number; speaker: number }[] = [];
  let t = 0;
  TURNS.forEach((turn, i) => {
    audio.set(speak(turn.voice, turn.seconds, i), Math.round(t * SR));
    spans.push({ start: t, end: t + turn.seconds, speaker: turn.speaker });
    t += turn.seconds + GAP;
  });
  const rand = noise(99);
  for (let i = 0; i < audio.length; i++) audio[i] += 0.003 * rand();
  return { audio, spans };
}

describe('two generated voices', () => {
  const e = new BuiltinEmbedder();
  const { audio, spans } = conversation();

  test('file path: two speakers, every turn labelled with its voice', async () => {
    const d = await diarizeFile(e, audio, spans);
    assert.equal(d.speakers.length, 2);
    const at = (t: number) => d.turns.find((x) => x.start <= t && t < x.end)?.speaker;
    assert.deepEqual(
      spans.map((s) => at((s.start + s.end) / 2)),
      spans.map((s) => s.speaker),
    );
  });

  test('live path: two speakers, every final labelled with its voice', async () => {
    const live = new LiveDiarizer(e);
    const labels: number[] = [];
    for (const s of spans) {
      const a = audio.subarray(Math.round(s.start * SR), Math.round(s.end * SR));
      labels.push((await live.labelFinal(a, s.start)).speaker);
    }
    assert.deepEqual(
      labels,
      spans.map((s) => s.speaker),
    );
    assert.equal(live.state.speakers.length, 2);
  });
});

describe('one generated voice over many turns (issue 10: never split a single speaker)', () => {
  const e = new BuiltinEmbedder();
  const spans: { start: number; end: number }[] = [];
  const audio = new Float32Array(Math.round(8 * 3.1 * SR));
  for (let i = 0, t = 0; i < 8; i++, t += 3.1) {
    const seconds = 1.6 + (i % 3) * 0.6;
    audio.set(speak(MAN, seconds, 10 + i), Math.round(t * SR));
    spans.push({ start: t, end: t + seconds });
  }
  const rand = noise(7);
  for (let i = 0; i < audio.length; i++) audio[i] += 0.003 * rand();

  test('file path: one speaker', async () => {
    const d = await diarizeFile(e, audio, spans);
    assert.deepEqual(
      d.speakers.map((s) => s.id),
      [0],
    );
  });

  test('live path: one speaker, and a final of digital silence opens none', async () => {
    const live = new LiveDiarizer(e);
    const labels: number[] = [];
    for (const s of spans) {
      const a = audio.subarray(Math.round(s.start * SR), Math.round(s.end * SR));
      labels.push((await live.labelFinal(a, s.start)).speaker);
    }
    assert.deepEqual(labels, new Array<number>(spans.length).fill(0));
    const silent = await live.labelFinal(new Float32Array(2 * SR), 30);
    assert.equal(silent.speaker, 0);
    assert.equal(live.state.speakers.length, 1);
  });

  test('digital silence inside a clip does not change its embedding much', async () => {
    const voiced = audio.subarray(0, Math.round(1.6 * SR));
    const padded = new Float32Array(voiced.length + SR);
    padded.set(voiced.subarray(0, 8000));
    padded.set(voiced.subarray(8000), 8000 + SR);
    const [a, b] = await e.embed([voiced, padded]);
    let dot = 0;
    for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
    assert.ok(dot > 0.95, `cosine ${dot}`);
  });
});
