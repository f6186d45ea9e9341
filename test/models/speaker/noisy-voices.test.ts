/**
 * Two real men's voices under steady noise at 15 dB SNR (the two-men fixture, see test/fixtures/speaker/README.md,
 * with noise made here): noise must not draw them together. Without spectral subtraction in the voice statistics
 * (voice-stats.ts) and noise of several colours in the fit, a piece of one resembled the other more than itself.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadAudioFile } from '../../../audio/load.js';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import { cosine } from '../../../models/speaker/embedding.js';
import { gaussians } from '../../../models/speaker/voice-kernel.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/speaker/librispeech-two-men.wav', import.meta.url));

/** The clip plus Gaussian noise smoothed over 4 samples (more of it at low frequencies), `snrDb` below its level. */
function withNoise(x: Float32Array, snrDb: number): Float32Array {
  const white = gaussians(x.length + 3, 7);
  const noise = Float32Array.from(x, (_, i) => (white[i] + white[i + 1] + white[i + 2] + white[i + 3]) / 4);
  const rms = (v: Float32Array): number => Math.sqrt(v.reduce((s, a) => s + a * a, 0) / v.length);
  const gain = rms(x) / rms(noise) / 10 ** (snrDb / 20);
  return Float32Array.from(x, (v, i) => v + gain * noise[i]);
}

describe('built-in embedding on two real voices under noise', () => {
  test('pieces of one reader still resemble each other more than pieces of the other', async () => {
    const audio = withNoise((await loadAudioFile(FIXTURE)).samples16k, 15);
    const spans = new BuiltinEmbedder().analyze(audio);
    const [a1, a2, b1, b2] = await spans.embedSpans([
      { start: 0, end: 2 },
      { start: 2, end: 4 },
      { start: 4, end: 6 },
      { start: 6, end: 8 },
    ]);
    const same = [cosine(a1, a2), cosine(b1, b2)];
    const different = [cosine(a1, b1), cosine(a1, b2), cosine(a2, b1), cosine(a2, b2)];
    assert.ok(
      Math.min(...same) > Math.max(...different),
      `same ${same.map((s) => s.toFixed(2))} vs different ${different.map((s) => s.toFixed(2))}`,
    );
  });
});
