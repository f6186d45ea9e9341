import type { BatchEngine } from '../../models/scheduler.js';
import type { DecodeOptions, WindowInput, WindowResult } from '../../models/transcribe.js';

/**
 * A deterministic engine double for pipeline tests: a window of audio "says" one word per 0.4 s slot, named by
 * the slot's index from the window start (w0, w1, ...), so growing windows from the same start agree on their
 * prefix exactly as a stable recogniser would. It records every call.
 */
export class FakeEngine implements BatchEngine {
  calls: { windows: number; offsets: number[]; temperatures?: readonly number[] }[] = [];
  delayMs = 0;

  async decodeWindows(windows: readonly WindowInput[], opts: DecodeOptions): Promise<WindowResult[]> {
    this.calls.push({
      windows: windows.length,
      offsets: windows.map((w) => w.offset),
      temperatures: opts.temperatures,
    });
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    return windows.map((w) => {
      const duration = w.audio.length / 16000;
      const n = Math.floor(duration / 0.4);
      const words = Array.from({ length: n }, (_, i) => ({
        word: ` w${i}`,
        start: w.offset + i * 0.4,
        end: w.offset + (i + 1) * 0.4,
        probability: 0.9,
      }));
      const text = words.map((x) => x.word).join('');
      return {
        segments: n
          ? [
              {
                id: 0,
                seek: 0,
                start: w.offset,
                end: w.offset + duration,
                text,
                tokens: [],
                temperature: 0,
                avg_logprob: -0.1,
                compression_ratio: 1,
                no_speech_prob: 0,
                words: opts.wordTimestamps ? words : undefined,
              },
            ]
          : [],
        language: w.language ?? 'en',
        decode: {
          tokens: [],
          tokenProbs: [],
          sumLogprob: 0,
          avgLogprob: -0.1,
          noSpeechProb: 0,
          temperature: 0,
          promptLength: 0,
          finished: true,
        },
        compressionRatio: 1,
        silent: false,
        consumed: duration,
      };
    });
  }
}
