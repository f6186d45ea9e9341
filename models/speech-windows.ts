import { speechWindows, type Span } from '../audio/chunking.js';
import type { VadModel } from './vad.js';

/** Runs Silero over a whole file and returns the ≤30-s windows of speech to decode in batched mode. */
export async function detectSpeechWindows(vad: VadModel, audio16k: Float32Array): Promise<Span[]> {
  const probs = await vad.createStream().push(audio16k);
  return speechWindows(probs, vad.frameSamples / 16000);
}
