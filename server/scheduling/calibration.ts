import { SAMPLE_RATE } from '../../audio/rate.js';
import type { WhisperModel } from '../../models/whisper/runtime.js';
import { decodeWindows } from '../../models/whisper/transcribe.js';
import type { BatchCost } from './admission.js';

/**
 * What an engine call costs: fixed + perWindow * windows, from a call of one 3-s window and one of a batch (a
 * typical utterance; the batch a loaded server forms), decoded to a realistic length, ~3 tokens per second of
 * speech plus the timestamps, so a random (synthetic) model is not timed decoding 224 tokens no real model says.
 * The first call warms onnxruntime up. Admission prices each stream by its decodes per second times the cost of a
 * window in a full batch; measurement then corrects the scale, the two points give the shape.
 */
export async function calibrate(model: WhisperModel, maxBatch: number): Promise<BatchCost> {
  const seconds = 3;
  const window = () => ({
    audio: Float32Array.from({ length: seconds * SAMPLE_RATE }, (_, i) => 0.1 * Math.sin(i / 7)),
    offset: 0,
  });
  const opts = {
    temperatures: [0],
    wordTimestamps: true,
    maxNewTokens: 3 * seconds + 2,
    language: model.ids.isMultilingual ? 'en' : undefined,
  };
  const time = async (n: number) => {
    const t0 = performance.now();
    await decodeWindows(model, Array.from({ length: n }, window), opts);
    return (performance.now() - t0) / 1000;
  };
  await time(1);
  const batch = Math.min(4, maxBatch);
  const one = await time(1);
  if (batch === 1) return { fixed: 0, perWindow: one };
  return batchCost(one, batch, await time(batch));
}

/** The line through (1, one) and (n, many); a noisy pair that gives no positive parts is priced per window. */
function batchCost(one: number, n: number, many: number): BatchCost {
  const perWindow = (many - one) / (n - 1);
  const fixed = one - perWindow;
  return perWindow > 0 && fixed >= 0 ? { fixed, perWindow } : { fixed: 0, perWindow: many / n };
}
