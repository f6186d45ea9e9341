import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoFeatureExtractor, env } from '@huggingface/transformers';
import { HOP_LENGTH, LogMel, N_FFT, N_FRAMES, N_SAMPLES, SAMPLE_RATE } from '../../audio/logmel.js';
import type { ArchSpec } from '../../models/synth/layers.js';
import { preprocessorConfigJson } from '../../models/synth/sidefiles.js';

env.allowRemoteModels = false;

type Extractor = (audio: Float32Array) => Promise<{ input_features: { data: Float32Array; dims: number[] } }>;

function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
}

/** transformers.js' WhisperFeatureExtractor loaded offline from a preprocessor_config.json (§1.4). */
async function loadReference(nMels: 80 | 128): Promise<Extractor> {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-logmel-'));
  try {
    writeFileSync(
      join(dir, 'preprocessor_config.json'),
      // The same file the model generator writes (only the mel count matters to it).
      JSON.stringify(preprocessorConfigJson({ mels: nMels } as ArchSpec)),
    );
    const fe = await AutoFeatureExtractor.from_pretrained(dir, { local_files_only: true });
    return fe as unknown as Extractor;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const rand = rng(42);
const speechLike = (n: number) =>
  Float32Array.from(
    { length: n },
    (_, i) =>
      0.3 * Math.sin((2 * Math.PI * 220 * i) / 16000) * Math.sin((2 * Math.PI * 3 * i) / 16000) +
      0.05 * rand(),
  );
const CASES: [string, () => Float32Array][] = [
  ['random 30 s', () => Float32Array.from({ length: N_SAMPLES }, () => 2 * rand())],
  ['short 1.3 s (padding)', () => speechLike(20800)],
  ['silence', () => new Float32Array(N_SAMPLES)],
  ['exactly 30 s', () => speechLike(N_SAMPLES)],
  ['one sample short of 30 s', () => speechLike(N_SAMPLES - 1)],
];

test('constants', () => {
  assert.deepEqual([SAMPLE_RATE, N_FFT, HOP_LENGTH, N_SAMPLES, N_FRAMES], [16000, 400, 160, 480000, 3000]);
});

for (const nMels of [80, 128] as const) {
  describe(`LogMel(${nMels}) vs transformers.js WhisperFeatureExtractor`, () => {
    let reference: Extractor;
    const ours = new LogMel(nMels);
    before(async () => {
      reference = await loadReference(nMels);
    });

    for (const [name, make] of CASES) {
      test(name, async () => {
        const audio = make();
        const want = await reference(audio);
        assert.deepEqual(want.input_features.dims, [1, nMels, N_FRAMES]);
        const got = ours.compute(audio);
        assert.equal(got.length, nMels * N_FRAMES);
        const err = maxAbsDiff(got, want.input_features.data);
        assert.ok(err < 1e-5, `max |Δ| = ${err}`);
      });
    }
  });
}

describe('LogMel behaviour', () => {
  test('state does not leak between calls: long then short equals a fresh instance', () => {
    const shared = new LogMel(80);
    shared.compute(Float32Array.from({ length: N_SAMPLES }, () => rand()));
    const short = speechLike(8000);
    assert.deepEqual(shared.compute(short), new LogMel(80).compute(short));
  });

  test('audio longer than 30 s uses its first 30 s', () => {
    const lm = new LogMel(80);
    const long = speechLike(N_SAMPLES + 5000);
    assert.deepEqual(lm.compute(long), lm.compute(long.subarray(0, N_SAMPLES)));
  });

  test('writes into the given output array', () => {
    const lm = new LogMel(128);
    const out = new Float32Array(128 * N_FRAMES);
    const result = lm.compute(speechLike(16000), out);
    assert.equal(result, out);
    assert.throws(() => lm.compute(speechLike(100), new Float32Array(10)), RangeError);
  });

  test('silence is the floor everywhere and a tone raises the right mel rows', () => {
    const lm = new LogMel(80);
    const silent = lm.compute(new Float32Array(1600));
    assert.ok(silent.every((v) => v === (-10 + 4) / 4));
    // 1 kHz sits in the linear part of the Slaney scale: mel 15 of 0..~45 → filter ~ index 26 of 80.
    const tone = Float32Array.from(
      { length: 32000 },
      (_, i) => 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 16000),
    );
    const feats = lm.compute(tone);
    const frame = 100; // inside the tone
    let best = 0;
    for (let m = 1; m < 80; m++) if (feats[m * N_FRAMES + frame] > feats[best * N_FRAMES + frame]) best = m;
    assert.ok(best >= 24 && best <= 28, `peak mel row ${best}`);
  });

  test('rejects mel counts other than 80 and 128', () => {
    assert.throws(() => new LogMel(64 as 80), RangeError);
  });
});
