/**
 * Admission control from measured service times. The engine's busy fraction over a sliding window, divided by the
 * streams that caused it, is the cost of one stream; capacity is how many such streams fit under a target
 * utilisation. A queue that already holds finals waiting too long refuses new streams outright: the server is
 * behind now, whatever the estimate says.
 */

export interface AdmissionOptions {
  /** Hard cap (--max-streams). */
  maxStreams: number;
  /** Utilisation the estimate plans for (headroom for bursts of speech); 0 turns the estimate off. */
  targetUtilisation?: number;
  /** Sliding window for the busy fraction, in ms. */
  windowMs?: number;
  /** Streams admitted on trust before there is a measurement. */
  minStreams?: number;
  /** A final waiting longer than this in the queue means overloaded. */
  maxFinalWaitMs?: number;
  /**
   * Engine fraction one speaking stream is expected to use, calibrated at startup: what admission assumes until
   * the sliding window holds enough measurement (a burst of streams joining at once has not spoken yet).
   */
  priorCostPerStream?: number;
  /** How much measurement the window must hold before it replaces the prior, ms. */
  trustAfterMs?: number;
  now?: () => number;
}

export interface AdmissionState {
  active: number;
  /** Engine busy fraction over the window, 0..1. */
  utilisation: number;
  /** Streams the measured cost allows (Infinity before there is load to measure). */
  capacity: number;
  /** How long the oldest queued final has waited, ms. */
  finalWaitMs: number;
}

export type Decision = { ok: true } | { ok: false; reason: string; retryAfterSeconds: number };

export class AdmissionController {
  private samples: { at: number; busyMs: number; active: number }[] = [];
  private readonly now: () => number;
  private readonly target: number;
  private readonly windowMs: number;
  private readonly minStreams: number;
  private readonly maxFinalWaitMs: number;

  constructor(
    private readonly opts: AdmissionOptions,
    private readonly probe: { busyMs(): number; finalWaitMs(): number; active(): number },
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.target = opts.targetUtilisation ?? 0.85;
    this.windowMs = opts.windowMs ?? 20_000;
    this.minStreams = opts.minStreams ?? 1;
    this.maxFinalWaitMs = opts.maxFinalWaitMs ?? 2000;
  }

  /** Since when streams have been live without a break: measurement is only trusted once they have spoken. */
  private loadedSince: number | null = null;

  /** Records the engine's cumulative busy time; call every second or so. */
  sample(): void {
    const at = this.now();
    const active = this.probe.active();
    if (active === 0) this.loadedSince = null;
    else this.loadedSince ??= at;
    this.samples.push({ at, busyMs: this.probe.busyMs(), active });
    while (this.samples.length > 2 && at - this.samples[1].at >= this.windowMs) this.samples.shift();
  }

  state(): AdmissionState {
    const active = this.probe.active();
    const first = this.samples[0];
    const at = this.now();
    const busy = this.probe.busyMs();
    const span = first ? at - first.at : 0;
    const utilisation = span > 0 ? Math.min(1, Math.max(0, (busy - first.busyMs) / span)) : 0;
    // Streams that produced that load: the mean over the window, so a stream that just joined does not dilute it.
    const meanActive = this.samples.length
      ? this.samples.reduce((s, x) => s + x.active, 0) / this.samples.length
      : active;
    const measured = meanActive > 0 && utilisation > 0.02 ? utilisation / meanActive : 0;
    const trusted = this.loadedSince !== null && at - this.loadedSince >= (this.opts.trustAfterMs ?? 10_000);
    const perStream = trusted ? measured : Math.max(measured, this.opts.priorCostPerStream ?? 0);
    const capacity = perStream > 0 && this.target > 0 ? Math.floor(this.target / perStream) : Infinity;
    return { active, utilisation, capacity, finalWaitMs: this.probe.finalWaitMs() };
  }

  decide(): Decision {
    const s = this.state();
    if (s.active >= this.opts.maxStreams) {
      return {
        ok: false,
        reason: `at the stream limit (${s.active} streams, --max-streams)`,
        retryAfterSeconds: 10,
      };
    }
    if (s.finalWaitMs > this.maxFinalWaitMs) {
      return {
        ok: false,
        reason: `overloaded: finals are waiting ${Math.round(s.finalWaitMs)} ms for inference`,
        retryAfterSeconds: 5,
      };
    }
    if (s.active >= this.minStreams && s.active + 1 > s.capacity) {
      return {
        ok: false,
        reason: `at measured capacity (${s.active} streams use ${Math.round(s.utilisation * 100)}% of inference; about ${s.capacity} fit)`,
        retryAfterSeconds: 5,
      };
    }
    return { ok: true };
  }

  /**
   * How much to stretch the interim cadence: 1 at light load, up to 1.8 as utilisation passes 60% (a 1-s cadence
   * stays under the 2-s interim promise), and interims stop (Infinity) while finals are queueing: interims degrade
   * before finals do.
   */
  interimBackoff(): number {
    const s = this.state();
    if (s.finalWaitMs > 500) return Infinity;
    if (s.utilisation <= 0.6) return 1;
    return Math.min(1.8, 1 + (s.utilisation - 0.6) * 2);
  }
}
