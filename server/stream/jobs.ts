import type { WindowResult } from '../../models/whisper/transcribe.js';
import type { ListenParams } from '../params.js';
import { toDgWords, type DgWord } from '../protocol.js';
import type { JobKind, TranscribeJob } from '../scheduling/scheduler.js';
import type { AudioRing } from './audio-ring.js';
import type { SessionConfig } from './config.js';
import { clampWords, collapseRepeats } from './words.js';

/** A final's decode in progress. */
export interface FinalDecode {
  result: Promise<WindowResult | null>;
  words: () => Promise<DgWord[]>;
  audio: Float32Array;
  job: TranscribeJob;
}

/** A stream's decode jobs for the scheduler, and the words it keeps from their results. */
export class WindowJobs {
  constructor(
    private readonly d: {
      id: string;
      params: ListenParams;
      config: SessionConfig;
      promptTokens: number[];
      ring: AudioRing;
      /** Where earlier finals end: words may not reach back before it. */
      floor(): number;
    },
  ) {}

  job(kind: JobKind, from: number, to: number): TranscribeJob {
    const { config, params } = this.d;
    return {
      session: this.d.id,
      kind,
      window: {
        audio: this.d.ring.slice(from, to),
        offset: from,
        promptTokens: this.d.promptTokens,
        language: params.language,
        // Finals may fall back to higher temperatures; interims never do (they are replaced soon anyway). Per
        // window, so both share the scheduler's engine calls.
        temperatures: kind === 'interim' ? [0] : config.finalTemperatures,
        // On the window, not the options: streams that translate batch with streams that transcribe.
        task: params.task,
      },
      options: {
        wordTimestamps: true,
        compressionRatioThreshold: config.compressionRatioThreshold,
      },
    };
  }

  /**
   * A final's decode of [from, to], submitted now: its result (null: withdrawn while queued), its words (none if
   * the decode fails or was withdrawn) and its audio. `early`: decoded during the endpointing wait, at the early
   * finals' priority, withdrawn when the signal aborts, only by an idle engine when `ifIdle` (speculative).
   */
  final(
    from: number,
    to: number,
    submit: (job: TranscribeJob) => Promise<WindowResult | null>,
    log: { error(o: object, msg?: string): void },
    early?: { signal: AbortSignal; ifIdle: boolean },
  ): FinalDecode {
    const job = { ...this.job(early ? 'early' : 'final', from, to), ...early };
    const result = submit(job);
    const words = async () => {
      try {
        const r = await result;
        return r ? this.words(r, from, to) : [];
      } catch (err) {
        log.error({ session: this.d.id, err: (err as Error).message }, 'final decode failed');
        return [];
      }
    };
    return { result, words, audio: job.window.audio, job };
  }

  /** The words of [from, to]: hallucinated segments and repeat loops out, fitted after earlier finals. */
  words(r: WindowResult, from: number, to: number): DgWord[] {
    const threshold = this.d.config.compressionRatioThreshold;
    const segs = r.segments.filter((s) => s.compression_ratio <= threshold);
    const words = toDgWords(
      segs.flatMap((s) => s.words ?? []),
      this.d.params.language ? undefined : r.language,
    );
    return clampWords(collapseRepeats(words), from, to, Math.max(from, this.d.floor()));
  }
}
