import type { WindowResult } from '../../models/whisper/transcribe.js';
import type { ListenParams } from '../params.js';
import type { TranscribeJob } from '../scheduling/scheduler.js';
import type { WindowJobs } from './jobs.js';
import type { StreamState } from './state.js';
import type { FinalRequest, InterimAsk, UtteranceTracker } from './utterances.js';
import { fitToReport, type StreamWriter } from './writer.js';

export interface InterimDeps {
  id: string;
  params: ListenParams;
  scheduler: { submit(job: TranscribeJob): Promise<WindowResult | null> };
  jobs: WindowJobs;
  utterances: UtteranceTracker;
  writer: StreamWriter;
  stats: { interims: number; droppedInterims: number };
  /** Session time of the audio received. */
  now(): number;
  /** Extra delay factor for interims under load (1 = nominal cadence, Infinity = none now). */
  backoff(): number;
  /** No interims while finals are pending (they go first) ... */
  finals: { readonly pending: readonly unknown[] };
  /** ... nor once the stream is not live (a hypothesis answered then is stale). */
  state: StreamState;
  /** An early commit (LocalAgreement-2) to deliver as a final. */
  commit(f: FinalRequest): void;
  observe(lag: number): void;
  log: { warn(o: object, msg?: string): void };
}

/** Interim decodes of the utterance in progress: asked for at their cadence, answered as interims or commits. */
export class Interims {
  constructor(private readonly d: InterimDeps) {}

  maybe(): void {
    if (this.d.finals.pending.length > 0 || !this.d.state.live) return;
    const ask = this.d.utterances.interimDue({
      interimResults: this.d.params.interimResults,
      backoff: this.d.backoff(),
    });
    if (!ask) return;
    this.d.scheduler
      .submit(this.d.jobs.job('interim', ask.from, ask.to))
      .then((r) => {
        this.d.utterances.interimDone(ask);
        this.answer(ask, r);
      })
      .catch((err: unknown) => {
        this.d.utterances.interimDone(ask);
        this.d.log.warn({ session: this.d.id, err: (err as Error).message }, 'interim decode failed');
      });
  }

  /**
   * An interim decode's answer (or an early final's decode whose speech went on): an early commit and/or an interim
   * for the rest. True when it gave the client something (a commit or an interim).
   */
  answer(ask: InterimAsk, r: WindowResult | null): boolean {
    const { stats, writer } = this.d;
    // The input is over, or a final for this audio was requested meanwhile: the hypothesis is stale.
    const h =
      r && this.d.state.live
        ? this.d.utterances.onHypothesis(ask, this.d.jobs.words(r, ask.from, ask.to))
        : null;
    if (!h) {
      stats.droppedInterims++;
      return false;
    }
    if (h.commit) this.d.commit(h.commit);
    if (!this.d.params.interimResults || h.rest.length === 0) return h.commit !== null;
    if (!writer.roomForInterims()) {
      stats.droppedInterims++;
      return h.commit !== null;
    }
    stats.interims++;
    const lag = this.d.now() - ask.to;
    this.d.observe(lag);
    writer.send(
      writer.results({
        start: h.from,
        end: ask.to,
        isFinal: false,
        speechFinal: false,
        fromFinalize: false,
        words: fitToReport(h.rest, h.from, ask.to),
        lag,
      }),
    );
    return true;
  }
}
