/**
 * A live session that starts under noise (LibriSpeech 587, a woman, and 8838, a man; test/fixtures/speaker/README.md).
 * The built-in embedding weighs its learnt part by how much the session's voices, pooled so far, are like the
 * readers it learnt from: nothing after a first final under noise, all of it once clean speech has come. Pieces of
 * the first finals kept for clustering were embedded by the first weighting, later chunks by the second, and the
 * two did not compare: each reader came back under a new number. They are now embedded again as the context
 * grows, as a file's pieces all embed by the whole recording's.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAudioFile } from '../../../audio/load.js';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import { cosine } from '../../../models/speaker/embedding.js';
import { LiveDiarizer } from '../../../models/speaker/live.js';
import { whiteNoise } from '../../helpers/audio.js';

const FIXTURES = new URL('../../fixtures/speaker/', import.meta.url).pathname;
const SR = 16000;
const FINAL_SECONDS = 3;
const SNR_DB = 15;

/** Finals in order: reader (0: 587, 1: 8838) and whether white noise is added at SNR_DB. */
const FINALS: [number, boolean][] = [
  [0, true],
  [1, true],
  [0, true],
  [1, false],
  [0, false],
  [1, false],
  [0, false],
];

describe('live labels when a session starts under noise', async () => {
  const readers = await Promise.all(
    ['librispeech-587-41611-0000.wav', 'librispeech-8838-298545-0000.wav'].map(
      async (f) => (await loadAudioFile(`${FIXTURES}${f}`)).samples16k,
    ),
  );

  /** FINAL_SECONDS of a reader from `at` seconds into their recording, with noise at SNR_DB when `noisy`. */
  const clip = (reader: number, at: number, noisy: boolean, seed = 1): Float32Array => {
    const n = FINAL_SECONDS * SR;
    const audio = readers[reader].slice(Math.round(at * SR), Math.round(at * SR) + n);
    if (noisy) {
      const power = audio.reduce((s, x) => s + x * x, 0) / n;
      // Uniform noise in [-a, a) has power a² / 3.
      const a = Math.sqrt(3 * power * 10 ** (-SNR_DB / 10));
      whiteNoise(n, seed).forEach((x, j) => (audio[j] += a * x));
    }
    return audio;
  };

  test('a kept piece embeds as the context judges now, not as it did when kept', async () => {
    const embedder = new BuiltinEmbedder();
    const context = embedder.context();
    const spans = embedder.analyze(clip(0, 0, true), context);
    const piece = { start: 0.5, end: 2.5 };
    const [kept] = spans.keepSpans!([piece]);
    const before = kept();
    embedder.analyze(clip(0, 3, false), context);
    embedder.analyze(clip(1, 0, false), context);
    const [now] = await spans.embedSpans([piece]);
    assert.ok(cosine(kept(), now) > 0.9999, 'kept and fresh embeddings of the piece differ');
    assert.ok(cosine(before, now) < 0.99, 'the context did not change how the piece embeds');
  });

  test('each reader keeps one number once the noise has gone', async () => {
    const live = new LiveDiarizer(new BuiltinEmbedder());
    const next = [0, 0];
    const numberOf = [new Set<number>(), new Set<number>()];
    for (const [i, [reader, noisy]] of FINALS.entries()) {
      if ((next[reader] + FINAL_SECONDS) * SR > readers[reader].length) next[reader] = 0;
      const audio = clip(reader, next[reader], noisy, i + 1);
      next[reader] += FINAL_SECONDS;
      numberOf[reader].add((await live.labelFinal(audio, i * (FINAL_SECONDS + 1))).speaker);
    }
    assert.equal(numberOf[0].size, 1, `587's finals labelled ${[...numberOf[0]]}`);
    assert.equal(numberOf[1].size, 1, `8838's finals labelled ${[...numberOf[1]]}`);
    assert.notEqual([...numberOf[0]][0], [...numberOf[1]][0]);
  });
});
