import type { Word } from '../../models/whisper/alignment.js';
import type { BatchEngine } from '../../server/scheduling/scheduler.js';
import type { DecodeOptions, WindowInput, WindowResult } from '../../models/whisper/transcribe.js';

/**
 * A deterministic engine double for pipeline tests: a window of audio "says" one word per 0.4 s slot, named by
 * the slot's index from the window start (w0, w1, ...), so growing windows from the same start agree on their
 * prefix exactly as a stable recogniser would. It records every call. `hold()` stalls it until released (an
 * engine slower than any timeout, without timing), and `words` replaces what a window says.
 */
export class FakeEngine implements BatchEngine {
  calls: { windows: number; offsets: number[]; temperatures: (readonly number[] | undefined)[] }[] = [];
  delayMs = 0;
  /** What a window says, from its offset and duration in seconds (default: the w0, w1, ... slots). */
  words: (offset: number, duration: number) => Word[] = slotWords;
  private gate: Promise<void> | null = null;

  /** Decodes wait until the returned function is called (those already running too). */
  hold(): () => void {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    this.gate = gate;
    return () => {
      if (this.gate === gate) this.gate = null;
      release();
    };
  }

  async decodeWindows(windows: readonly WindowInput[], opts: DecodeOptions): Promise<WindowResult[]> {
    this.calls.push({
      windows: windows.length,
      offsets: windows.map((w) => w.offset),
      temperatures: windows.map((w) => w.temperatures ?? opts.temperatures),
    });
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    while (this.gate) await this.gate;
    return windows.map((w) => {
      const duration = w.audio.length / 16000;
      const words = this.words(w.offset, duration);
      const text = words.map((x) => x.word).join('');
      return {
        segments: words.length
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

function slotWords(offset: number, duration: number): Word[] {
  return Array.from({ length: Math.floor(duration / 0.4) }, (_, i) => ({
    word: ` w${i}`,
    start: offset + i * 0.4,
    end: offset + (i + 1) * 0.4,
    probability: 0.9,
  }));
}

/**
 * What a recogniser that knows the script would say: each utterance's own words, spread evenly over its span, for
 * the part of it a window holds. Windows of different utterances say different words, so a transcript shows which
 * audio its windows held.
 */
export function sayUtterances(
  utterances: readonly { start: number; end: number; text: string }[],
): (offset: number, duration: number) => Word[] {
  return (offset, duration) =>
    utterances.flatMap((u) => {
      const texts = u.text.split(' ');
      const step = (u.end - u.start) / texts.length;
      return texts
        .map((text, i) => ({
          word: ` ${text}`,
          start: u.start + i * step,
          end: u.start + (i + 1) * step,
          probability: 0.9,
        }))
        .filter((w) => (w.start + w.end) / 2 >= offset && (w.start + w.end) / 2 < offset + duration);
    });
}
