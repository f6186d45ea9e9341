import { UtteranceSegmenter } from './segmenter.js';
import type { VadModel } from './silero.js';
import { SAMPLE_RATE } from '../../audio/rate.js';
import type { TimeSpan } from '../../audio/span.js';

/**
 * Windows of at most `maxSeconds` for batched long-form transcription, cut only in silence: speech regions from
 * VAD probabilities (the live segmenter's rules), packed greedily. Non-speech is never decoded, so silence and noise
 * cannot make Whisper hallucinate.
 */
export function speechWindows(
  probs: Float32Array,
  frameSeconds: number,
  opts: { minSilenceMs?: number; padMs?: number; maxSeconds?: number } = {},
): TimeSpan[] {
  const max = opts.maxSeconds ?? 30;
  const seg = new UtteranceSegmenter({
    frameSeconds,
    endpointingMs: opts.minSilenceMs ?? 500,
    speechPadMs: opts.padMs ?? 200,
    maxUtteranceSeconds: max - 1,
  });
  const regions: TimeSpan[] = [];
  for (const e of [...seg.push(probs), ...seg.flush()]) {
    if (e.type === 'speech_end') regions.push({ start: e.start, end: e.time });
  }
  const windows: TimeSpan[] = [];
  for (const r of regions) {
    const last = windows[windows.length - 1];
    if (last && r.end - last.start <= max) last.end = r.end;
    else windows.push({ ...r });
  }
  return windows;
}

/** Runs Silero over a whole file and returns the ≤30-s windows of speech to decode in batched mode. */
export async function detectSpeechWindows(vad: VadModel, audio16k: Float32Array): Promise<TimeSpan[]> {
  const probs = await vad.createStream().push(audio16k);
  return speechWindows(probs, vad.frameSamples / SAMPLE_RATE);
}
