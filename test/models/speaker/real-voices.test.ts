/**
 * Two real men's voices (LibriSpeech readers the built-in embedding was not fitted on; see
 * test/fixtures/speaker/README.md): the built-in embedding must tell them apart. The hand-set embedding before it
 * (fitted to espeak voices) took them for one speaker.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadAudioFile } from '../../../audio/load.js';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import { diarizeFile } from '../../../models/speaker/diarize.js';
import { cosine } from '../../../models/speaker/embedding.js';
import { gaussians } from '../../../models/speaker/voice-kernel.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/speaker/librispeech-two-men.wav', import.meta.url));
const SR = 16000;

/** Two 2 s pieces of each reader (reader A: 0-4 s, reader B: 4-8 s): each resembles its own more than the other. */
async function assertReadersApart(audio: Float32Array): Promise<void> {
  const [a1, a2, b1, b2] = await new BuiltinEmbedder().analyze(audio).embedSpans([
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
}

/** The clip plus Gaussian noise smoothed over 4 samples (more of it at low frequencies), `snrDb` below its level. */
function withNoise(x: Float32Array, snrDb: number): Float32Array {
  const white = gaussians(x.length + 3, 7);
  const noise = Float32Array.from(x, (_, i) => (white[i] + white[i + 1] + white[i + 2] + white[i + 3]) / 4);
  const rms = (v: Float32Array): number => Math.sqrt(v.reduce((s, a) => s + a * a, 0) / v.length);
  const gain = rms(x) / rms(noise) / 10 ** (snrDb / 20);
  return Float32Array.from(x, (v, i) => v + gain * noise[i]);
}

describe('built-in embedding on two real voices', () => {
  test('pieces of one reader resemble each other more than pieces of the other', async () => {
    await assertReadersApart((await loadAudioFile(FIXTURE)).samples16k);
  });

  // Without spectral subtraction in the voice statistics (voice-stats.ts) and noise of several colours in the fit,
  // a piece of one resembled the other more than itself.
  test('under steady noise at 15 dB SNR too: noise does not draw them together', async () => {
    await assertReadersApart(withNoise((await loadAudioFile(FIXTURE)).samples16k, 15));
  });

  test('a file of the two readers gives two speakers, changing near 4 s', async () => {
    const audio = (await loadAudioFile(FIXTURE)).samples16k;
    const d = await diarizeFile(new BuiltinEmbedder(), audio, [{ start: 0, end: audio.length / SR }], {
      chunkSeconds: 2,
    });
    assert.equal(d.speakers.length, 2, JSON.stringify(d.turns));
    const change = d.turns.find((t) => t.speaker !== d.turns[0].speaker)!;
    assert.ok(Math.abs(change.start - 4) < 0.5, `change at ${change.start}`);
  });
});
