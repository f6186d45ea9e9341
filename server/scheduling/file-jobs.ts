import { randomUUID } from 'node:crypto';
import type { InferenceScheduler } from './scheduler.js';
import { detectSpeechWindows } from '../../models/vad/speech-windows.js';
import {
  transcribe,
  type Segment,
  type WindowInput,
  type WindowResult,
} from '../../models/whisper/transcribe.js';
import type { VadModel } from '../../models/vad/silero.js';
import type { WhisperModel } from '../../models/whisper/runtime.js';
import type { FileJobOptions, FileTranscriber } from '../http/listen.js';

export interface FileJobDeps {
  model: WhisperModel;
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
    return transcribe(d.model, audio, { ...opts, batchSize: 64, windows }, (batch, o) =>
      mapLimited(batch, d.inFlight, (w) => submit(w, o)),
    );
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
