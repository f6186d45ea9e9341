import { randomUUID } from 'node:crypto';
import type { InferenceScheduler } from './scheduler.js';
import { detectSpeechWindows } from '../../models/vad/speech-windows.js';
import {
  transcribeWith,
  type Segment,
  type WindowInput,
  type WindowResult,
} from '../../models/whisper/transcribe.js';
import type { VadModel } from '../../models/vad/silero.js';
import type { FileJobOptions, FileTranscriber } from '../http/listen.js';

export interface FileJobDeps {
  vad: VadModel;
  scheduler: InferenceScheduler;
  /** Windows of one file in the scheduler at a time (a batch's worth): what a cancelled job leaves queued. */
  inFlight: number;
}

/**
 * Whole-file transcription through the shared scheduler: the file's speech windows (Silero) queue as finals of a
 * pseudo-session, so they batch with the live streams' work. They are fed a few at a time and not at all once the
 * signal aborts (the client left), so an abandoned upload stops costing engine time within one batch.
 */
export function fileTranscriber(d: FileJobDeps): FileTranscriber {
  return async (audio, opts, signal) => {
    signal?.throwIfAborted();
    const windows = await detectSpeechWindows(d.vad, audio);
    signal?.throwIfAborted();
    const session = `file:${randomUUID()}`;
    const progress = opts.onSegments && inTimeOrder(windows, opts.onSegments);
    const submit = async (window: WindowInput, options: typeof opts): Promise<WindowResult> => {
      signal?.throwIfAborted();
      const r = (await d.scheduler.submit({ session, kind: 'final', window, options }))!;
      progress?.(window.offset, r.segments);
      return r;
    };
    return transcribeWith((batch, o) => mapLimited(batch, d.inFlight, (w) => submit(w, o)), audio, {
      ...opts,
      batchSize: 64,
      windows,
    });
  };
}

/**
 * Windows finish out of order (several are in flight): hand their segments on in time order, each as soon as every
 * earlier window is done.
 */
function inTimeOrder(
  windows: readonly { start: number }[],
  deliver: NonNullable<FileJobOptions['onSegments']>,
): (offset: number, segments: Segment[]) => void {
  const done = new Map<number, Segment[]>();
  let next = 0;
  return (offset, segments) => {
    done.set(offset, segments);
    while (next < windows.length && done.has(windows[next].start)) {
      deliver(done.get(windows[next].start)!, { done: next + 1, total: windows.length });
      next++;
    }
  };
}

/** Maps with at most `limit` calls pending, results in input order; after a failure no new call starts. */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  // Every worker is awaited (none is left to reject unobserved); the first failure is reported.
  const settled = await Promise.allSettled(workers);
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) throw failure.reason;
  return results;
}

/** A file job could not get a slot in time: the caller answers 503 + Retry-After. */
export class FileSlotsBusyError extends Error {
  override name = 'FileSlotsBusyError';
  constructor(
    readonly limit: number,
    readonly retryAfterSeconds: number,
  ) {
    super(`at the file job limit (${limit} at once)`);
  }
}

interface Waiter {
  subject: string;
  grant(): void;
}

/**
 * The engine slots of file jobs, taken once a request's body is in (a slow upload holds none), fair per subject:
 * one subject holds at most limit - 1 of them (all of them when the limit is 1), and a freed slot goes to the
 * longest waiter whose subject is under that share. A request waits up to waitMs for a slot, then is refused.
 */
export class FileJobSlots {
  private readonly held = new Map<string, number>();
  private readonly waiting: Waiter[] = [];
  private busy = 0;

  constructor(
    readonly limit: number,
    private readonly waitMs: number,
  ) {}

  /** File jobs running now. */
  get running(): number {
    return this.busy;
  }

  /** Resolves with the slot's release (call it once) when the subject's turn comes; rejects when it does not in time. */
  acquire(subject: string, signal?: AbortSignal): Promise<() => void> {
    // Every waiter is over its share or there is no free slot (a release grants whoever fits), so a request that
    // fits now jumps no one.
    if (this.fits(subject)) return Promise.resolve(this.take(subject));
    return new Promise((resolve, reject) => {
      const leave = (err: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(err);
      };
      const onAbort = () => leave(signal!.reason);
      const timer = setTimeout(
        () => leave(new FileSlotsBusyError(this.limit, Math.max(1, Math.ceil(this.waitMs / 1000)))),
        this.waitMs,
      );
      const waiter: Waiter = {
        subject,
        grant: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(this.take(subject));
        },
      };
      if (signal?.aborted) return leave(signal.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private share(): number {
    return Math.max(1, this.limit - 1);
  }

  private fits(subject: string): boolean {
    return this.busy < this.limit && (this.held.get(subject) ?? 0) < this.share();
  }

  private take(subject: string): () => void {
    this.busy++;
    this.held.set(subject, (this.held.get(subject) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.busy--;
      const n = this.held.get(subject)! - 1;
      if (n) this.held.set(subject, n);
      else this.held.delete(subject);
      this.grantNext();
    };
  }

  private grantNext(): void {
    for (let i = 0; i < this.waiting.length && this.busy < this.limit;) {
      const w = this.waiting[i];
      if (this.fits(w.subject)) {
        this.waiting.splice(i, 1);
        w.grant();
      } else i++;
    }
  }
}

/** A streamed answer's slot is released when it ends, fails or is stopped (return(): the transport drops it). */
export function releasedWhenDone(
  body: AsyncIterable<Uint8Array>,
  release: () => void,
): AsyncIterable<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  return {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        try {
          const r = await it.next();
          if (r.done) release();
          return r;
        } catch (err) {
          release();
          throw err;
        }
      },
      return: async (value?: unknown) => {
        release();
        return (await it.return?.(value)) ?? { done: true as const, value: undefined };
      },
    }),
  };
}
