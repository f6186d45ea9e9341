/**
 * The built-in embedding's two parts: a recording unlike every reader (here, buzzes with no vocal tract of a
 * reader's) is compared by the fixed kernel alone, exactly as before the learnt projection, so synthetic voices
 * keep the separation that kernel was tuned for (the learnt part places them all alike). Which part counts is
 * decided per recording (its context), so an odd piece of a real recording still embeds as the rest of it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadAudioFile } from '../../../audio/load.js';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import { cosine, l2normalize } from '../../../models/speaker/embedding.js';
import { KERNEL_DIM, kernelFeatures } from '../../../models/speaker/voice-kernel.js';
import { VoiceAnalyzer } from '../../../models/speaker/voice-stats.js';

const SR = 16000;

/** A pulse train at f0 with a little vibrato through one 700 Hz resonance, 2 s. */
function buzz(f0: number): Float32Array {
  const out = new Float32Array(2 * SR);
  let phase = 0;
  for (let i = 0; i < out.length; i++) {
    phase += (f0 * (1 + 0.02 * Math.sin((2 * Math.PI * 5 * i) / SR))) / SR;
    if (phase >= 1) phase -= 1;
    const t = phase / f0;
    out[i] = 0.3 * Math.exp(-300 * t) * Math.sin(2 * Math.PI * 700 * t);
  }
  return out;
}

function fixedKernel(clip: Float32Array): Float32Array {
  const out = new Float32Array(KERNEL_DIM);
  kernelFeatures(new VoiceAnalyzer().frames(clip).fixedStats(), out, 0, 1);
  return l2normalize(out);
}

describe('built-in embedding halves', () => {
  test('voices unlike every reader compare as the fixed kernel compares them', async () => {
    const clips = [buzz(110), buzz(118), buzz(220)];
    const e = await new BuiltinEmbedder().embed(clips);
    const k = clips.map(fixedKernel);
    for (const [i, j] of [
      [0, 1],
      [0, 2],
      [1, 2],
    ]) {
      assert.ok(Math.abs(cosine(e[i], e[j]) - cosine(k[i], k[j])) < 1e-5, `${i},${j}: ${cosine(e[i], e[j])}`);
    }
  });

  test('a piece embeds by its recording: with a real recording as context, even a buzz gets the learnt part', async () => {
    const e = new BuiltinEmbedder();
    const reader = fileURLToPath(new URL('../../fixtures/speaker/librispeech-two-men.wav', import.meta.url));
    const context = e.context();
    e.analyze((await loadAudioFile(reader)).samples16k, context);
    const learnt = (v: Float32Array): number => Math.hypot(...v.slice(0, e.dim - KERNEL_DIM));
    const [alone] = await e.embed([buzz(110)]);
    const [inContext] = await e.embed([buzz(110)], context);
    assert.equal(learnt(alone), 0, 'a buzz on its own is judged by the fixed kernel');
    assert.ok(learnt(inContext) > 0.5, `learnt part ${learnt(inContext)}`);
    // The context survives JSON (a resumed live session).
    const [resumed] = await e.embed([buzz(110)], e.context(JSON.parse(JSON.stringify(context.toJSON!()))));
    assert.ok(cosine(resumed, inContext) > 1 - 1e-6);
  });
});
