import { SAMPLE_RATE } from '../../audio/rate.js';
import type { WhisperEngine } from '../../models/whisper/engine.js';
import type { CallCost } from './admission.js';

/**
 * What an engine call costs: calls of one window and of a batch of 3-s windows (a typical utterance) decoded to a
 * realistic length, ~3 tokens per second of speech plus the timestamps, so a random (synthetic) model is not
 * timed decoding 224 tokens no real model says. The two sizes separate the fixed part of a call from the part per
 * window (the best of two runs each: a busy machine only ever adds time). The first call warms onnxruntime up.
 * Admission prices streams with this until measurement scales it.
 */
export async function calibrate(engine: WhisperEngine, maxBatch: number): Promise<CallCost> {
  const seconds = 3;
  const window = () => ({
    audio: Float32Array.from({ length: seconds * SAMPLE_RATE }, (_, i) => 0.1 * Math.sin(i / 7)),
    offset: 0,
  });
  const opts = {
    temperatures: [0],
    wordTimestamps: true,
    maxNewTokens: 3 * seconds + 2,
    language: engine.files.ids.isMultilingual ? 'en' : undefined,
  };
  const time = async (size: number) => {
    let best = Infinity;
    for (let run = 0; run < 2; run++) {
      const t0 = performance.now();
      await engine.decodeWindows(Array.from({ length: size }, window), opts);
      best = Math.min(best, (performance.now() - t0) / 1000);
    }
    return best;
  };
  await engine.decodeWindows([window()], opts);
  const one = await time(1);
  const batch = Math.min(4, maxBatch);
  if (batch < 2) return { call: 0, window: one };
  const many = await time(batch);
  // Noise can make the batch look no dearer than one window: then a window costs at least its share of the call.
  const perWindow = Math.max(one / batch, (many - one) / (batch - 1));
  return { call: Math.max(0, one - perWindow), window: Math.min(perWindow, one) };
}
