import { SAMPLE_RATE } from '../../audio/rate.js';
import type { WhisperModel } from '../../models/whisper/runtime.js';
import { decodeWindows } from '../../models/whisper/transcribe.js';

/**
 * Engine seconds one decode costs: a batch of 3-s windows (a typical utterance; the batch a loaded server forms)
 * decoded to a realistic length, ~3 tokens per second of speech plus the timestamps, so a random (synthetic)
 * model is not timed decoding 224 tokens no real model says. The first call warms onnxruntime up. Admission
 * prices each stream by its decodes per second times this, until measurement replaces it.
 */
export async function calibrate(model: WhisperModel, maxBatch: number): Promise<number> {
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
  const batch = Math.min(4, maxBatch);
  await decodeWindows(model, [window()], opts);
  const t0 = performance.now();
  await decodeWindows(model, Array.from({ length: batch }, window), opts);
  return (performance.now() - t0) / 1000 / batch;
}
