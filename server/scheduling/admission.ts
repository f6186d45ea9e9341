/**
 * Admission control. Each stream is priced by what it asks for: its expected decodes per second (finals per
 * utterance, interims at the cadence while speaking, or almost none when it asked for no interims). The engine's
 * cost turns that demand into utilisation: an engine call costs a fixed part plus a part per window, calibrated at
 * start-up and scaled by measurement from the first decodes on. Under load the scheduler batches whatever queued
 * during the previous call, so a decode costs less the busier the server is; the latency promise bounds how far
 * that goes (see priceOfDecode). A queue that already holds finals waiting too long refuses new streams outright:
 * the server is behind now, whatever the estimate says.
 */

/** Engine seconds of one call: `call` once, plus `window` per window it decodes. */
export interface CallCost {
  call: number;
  window: number;
}

/**
 * Engine seconds a decode costs at the load where the engine is just fast enough for the latency promise. Loaded,
 * each call takes what queued during the previous one: b = rate * T with T = call + window * b, so
 * T = call / (1 - rate * window). A final waits for the running call and then runs in the next, about 2T, so
 * 2T <= budget bounds the rate at (1 - 2 call / budget) / window: each decode priced window / (1 - 2 call / budget).
 * When even a single window's call does not fit in half the budget, or the batch cap binds first, the price is
 * what a call of the largest batch costs per window (at most the unbatched cost).
 */
export function priceOfDecode(cost: CallCost, budgetSeconds: number, maxBatch: number): number {
  const unbatched = cost.call + cost.window;
  const capped = cost.call / maxBatch + cost.window;
  if (2 * unbatched > budgetSeconds) return unbatched;
  return Math.max(capped, cost.window / (1 - (2 * cost.call) / budgetSeconds));
}

/**
 * Seconds from a final's decode request to the delivery the server promises: one second after the endpoint. An
 * early final (see server/stream/early-finals.ts) is requested once the pause reaches the pad, endpointing - pad
 * before the endpoint, and has that much longer (at the server's default endpointing).
 */
export function finalBudgetSeconds(o: {
  earlyFinals: boolean;
  endpointingMs: number;
  speechPadMs: number;
}): number {
  const headStart = o.earlyFinals ? Math.max(0, o.endpointingMs - Math.max(o.speechPadMs, 1)) / 1000 : 0;
  return 1 + headStart;
}

/** What a stream asks for that changes its cost (the parsed /v1/listen parameters satisfy it). */
export interface StreamShape {
  interimResults: boolean;
  endpointing: number | false;
  /** multichannel=true: each of `channels` is a stream of its own. */
  multichannel?: boolean;
  channels?: number;
}

/** Streams a stream of this shape counts as: one per channel of a multichannel stream. */
export function streamCount(stream: Partial<StreamShape>): number {
  return stream.multichannel ? Math.max(1, stream.channels ?? 1) : 1;
}

/** Conversation statistics the demand model assumes (the corpus conversations: 75% speech, 0.33 turns/s). */
export const SPEECH = {
  /** Fraction of a stream's time that is speech. */
  fraction: 0.75,
  /** Turns (utterances) per second of stream. */
  utterancesPerSecond: 0.33,
  /**
   * [pause seconds, share of the pauses between turns at least that long]: a final ends only at a pause as long as
   * the endpointing, shorter ones join their turns into one final. The largest share at each length of three
   * corpora (../shared/corpus: the synthetic conversations, the 5-min monologue, the real LibriSpeech ones), whose
   * finals per second at 500 ms were 0.22, 0.23 and 0.20 (not 0.33 to 0.38, their turns per second).
   */
  pausesAtLeast: [
    [0, 1],
    [0.3, 0.9],
    [0.5, 0.69],
    [0.8, 0.44],
    [1, 0.35],
  ] as const,
  /** Fraction of speech in utterances long enough for early commits, which need interims even when not asked. */
  longFraction: 0.1,
  /** Longest utterance (--max-utterance's default), after which it ends even with endpointing off. */
  maxUtteranceSeconds: 30,
};

/**
 * A stream's expected decodes per second of stream time. Early finals add nothing: with interims such a decode is
 * the next interim, without them it only takes idle engine time (TranscribeJob.ifIdle).
 */
export function streamDemand(stream: StreamShape, interimIntervalMs = 1000): number {
  const interimsPerSpeechSecond = 1000 / interimIntervalMs;
  if (stream.endpointing === false) {
    // No utterance ends: every stretch of speech is long, so it runs on interims (early commits) either way.
    return SPEECH.fraction * interimsPerSpeechSecond + 1 / SPEECH.maxUtteranceSeconds;
  }
  const speechWithInterims = stream.interimResults ? SPEECH.fraction : SPEECH.fraction * SPEECH.longFraction;
  return speechWithInterims * interimsPerSpeechSecond + finalsPerSecond(stream.endpointing);
}

/**
 * Finals per second of stream at this endpointing: the turns that end in a pause as long (never fewer than the
 * cuts of utterances reaching the longest length).
 */
export function finalsPerSecond(endpointingMs: number): number {
  const e = endpointingMs / 1000;
  const points = SPEECH.pausesAtLeast;
  let share: number = points[points.length - 1][1]; // beyond the corpora's pauses: held (more finals, not fewer)
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    if (e > x1) continue;
    share = y0 + ((Math.max(e, x0) - x0) / (x1 - x0)) * (y1 - y0);
    break;
  }
  return Math.max(1 / SPEECH.maxUtteranceSeconds, SPEECH.utterancesPerSecond * share);
}

/** The stream /readyz and callers without parameters ask about: interims on, default endpointing. */
const TYPICAL: StreamShape = { interimResults: true, endpointing: 500 };

export interface AdmissionOptions {
  /** Hard cap (--max-streams). */
  maxStreams: number;
  /** Utilisation the estimate plans for (headroom for bursts of speech); 0 turns the estimate off. */
  targetUtilisation?: number;
  /** Sliding window of measurement, in ms. */
  windowMs?: number;
  /** Streams admitted whatever the estimate says (one stream must always be possible). */
  minStreams?: number;
  /** A final waiting longer than this in the queue means overloaded. */
  maxFinalWaitMs?: number;
  /** What an engine call costs, calibrated at start-up: its shape is kept, its scale measured from the load. */
  prior?: CallCost;
  /** How many measured one-window calls weigh as much as the prior. */
  priorWeight?: number;
  /** Seconds a final may take once its utterance has ended (the promise admission keeps): 1 s. */
  finalBudgetSeconds?: number;
  /** The scheduler's largest batch (--max-batch). */
  maxBatch?: number;
  /** Interim cadence at nominal load (--interim-interval), for pricing streams that ask for interims. */
  interimIntervalMs?: number;
  now?: () => number;
}

export interface AdmissionState {
  active: number;
  /** Engine busy fraction measured over the window, 0..1. */
  utilisation: number;
  /** Engine fraction the admitted streams are expected to use, by the current decode cost. */
  committed: number;
  /** Engine seconds per decode the estimate uses (0 = unknown: nothing limits but the hard cap). */
  decodeSeconds: number;
  /** The call cost behind it (prior shape, measured scale), when there is a prior. */
  callCost?: CallCost;
  /** Typical streams (interims on) that fit under the target in all (Infinity when the cost is unknown). */
  capacity: number;
  /** How long the oldest queued final has waited, ms. */
  finalWaitMs: number;
}

export type Decision = { ok: true } | { ok: false; reason: string; retryAfterSeconds: number };

interface Sample {
  at: number;
  busyMs: number;
  /** Busy time of finished engine calls (the cost of `decodes` in `calls`). */
  doneBusyMs: number;
  decodes: number;
  calls: number;
}

interface Admitted {
  demand: number;
  since: number;
}

/** Admitted streams whose connection has not opened yet are forgotten after this long (the upgrade failed). */
const PENDING_TTL_MS = 10_000;

export class AdmissionController {
  private samples: Sample[] = [];
  /** Live streams, oldest first. */
  private live: Admitted[] = [];
  /** Admitted, not yet counted by the probe (the upgrade is in progress). */
  private pending: Admitted[] = [];
  private readonly now: () => number;
  private readonly target: number;
  private readonly windowMs: number;
  private readonly minStreams: number;
  private readonly maxFinalWaitMs: number;
  private readonly interimIntervalMs: number;

  constructor(
    private readonly opts: AdmissionOptions,
    private readonly probe: {
      /** Cumulative engine busy time (the running call included). */
      busyMs(): number;
      /** Cumulative busy time of finished engine calls (busyMs() when not given). */
      doneBusyMs?(): number;
      /** Cumulative windows decoded. */
      decodes(): number;
      /** Cumulative engine calls finished (decodes() when not given: every call one window). */
      calls?(): number;
      finalWaitMs(): number;
      active(): number;
    },
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.target = opts.targetUtilisation ?? 0.95;
    this.windowMs = opts.windowMs ?? 20_000;
    this.minStreams = opts.minStreams ?? 1;
    this.maxFinalWaitMs = opts.maxFinalWaitMs ?? 2000;
    this.interimIntervalMs = opts.interimIntervalMs ?? 1000;
  }

  private doneBusyMs(): number {
    return this.probe.doneBusyMs?.() ?? this.probe.busyMs();
  }

  private calls(): number {
    return this.probe.calls?.() ?? this.probe.decodes();
  }

  /** Decodes per second a stream of this shape is expected to ask for. */
  demand(stream: StreamShape = TYPICAL): number {
    return streamDemand(stream, this.interimIntervalMs);
  }

  /**
   * A stream ended: forget one admission priced like it, so the mix of live demands stays exact. A stream that
   * opened and ended between two samples is still pending (the probe never counted it): forget it there.
   */
  ended(stream: StreamShape): void {
    const demand = this.demand(stream);
    for (let n = streamCount(stream); n > 0; n--) {
      // The probe no longer counts the stream: if live still holds more than it counts, the stream was promoted.
      const list = this.live.length > this.probe.active() ? this.live : this.pending;
      const i = list.findIndex((a) => a.demand === demand);
      list.splice(i >= 0 ? i : 0, list.length > 0 ? 1 : 0);
    }
  }

  /** Records the engine's cumulative busy time; call every second or so. */
  sample(): void {
    const at = this.now();
    this.reconcile(at);
    this.samples.push({
      at,
      busyMs: this.probe.busyMs(),
      doneBusyMs: this.doneBusyMs(),
      decodes: this.probe.decodes(),
      calls: this.calls(),
    });
    while (this.samples.length > 2 && at - this.samples[1].at >= this.windowMs) this.samples.shift();
  }

  /**
   * Matches the admitted streams to the probe's count. The probe says how many streams are live, not which ones
   * ended: the oldest are forgotten first, so only the mix of demands is approximate, never the count.
   */
  private reconcile(at: number): void {
    this.pending = this.pending.filter((p) => at - p.since < PENDING_TTL_MS);
    const active = this.probe.active();
    while (this.live.length < active) {
      // A stream that opened: the oldest admission, or one that bypassed decide() (priced as typical, warm).
      this.live.push(this.pending.shift() ?? { demand: this.demand(), since: -Infinity });
    }
    while (this.live.length > active) this.live.shift();
  }

  /**
   * The engine's call cost: the prior's shape scaled by what the finished calls of the window cost against what
   * the prior says they would (pulled towards the prior while there is little). Only finished calls count: a
   * running call's time without its windows would inflate the cost. Without a prior, measured cost per window.
   */
  private callCost(): CallCost | undefined {
    const first = this.samples[0];
    const busy = first ? (this.doneBusyMs() - first.doneBusyMs) / 1000 : 0;
    const decodes = first ? this.probe.decodes() - first.decodes : 0;
    const prior = this.opts.prior;
    if (!prior) return decodes > 0 ? { call: 0, window: busy / decodes } : undefined;
    const calls = first ? this.calls() - first.calls : 0;
    const weight = (this.opts.priorWeight ?? 1) * (prior.call + prior.window);
    const expected = prior.call * calls + prior.window * decodes;
    const scale = expected + weight > 0 ? (busy + weight) / (expected + weight) : 1;
    return { call: prior.call * scale, window: prior.window * scale };
  }

  state(): AdmissionState {
    const at = this.now();
    this.reconcile(at);
    const first = this.samples[0];
    const span = first ? at - first.at : 0;
    const utilisation = span > 0 ? Math.min(1, Math.max(0, (this.probe.busyMs() - first.busyMs) / span)) : 0;
    const callCost = this.callCost();
    const decodeSeconds = callCost
      ? priceOfDecode(callCost, this.opts.finalBudgetSeconds ?? 1, this.opts.maxBatch ?? 8)
      : 0;
    const demand = [...this.live, ...this.pending].reduce((s, x) => s + x.demand, 0);
    const typical = decodeSeconds * this.demand();
    return {
      active: this.live.length,
      utilisation,
      committed: decodeSeconds * demand,
      decodeSeconds,
      callCost,
      capacity: typical > 0 && this.target > 0 ? Math.floor(this.target / typical) : Infinity,
      finalWaitMs: this.probe.finalWaitMs(),
    };
  }

  /** Whether a stream of this shape could join now (/readyz asks this; nothing is counted). */
  decide(stream?: StreamShape): Decision {
    const s = this.state();
    const streams = s.active + this.pending.length;
    const joining = streamCount(stream ?? {});
    if (streams + joining > this.opts.maxStreams) {
      const each = joining > 1 ? `; a ${joining}-channel stream counts as ${joining}` : '';
      return refuse(
        `at the stream limit: ${streams} streams (--max-streams ${this.opts.maxStreams})${each}`,
        10,
      );
    }
    if (s.finalWaitMs > this.maxFinalWaitMs) {
      return refuse(`overloaded: finals are waiting ${Math.round(s.finalWaitMs)} ms for inference`, 5);
    }
    const needs = s.decodeSeconds * this.demand(stream) * joining;
    if (this.target > 0 && streams >= this.minStreams && s.committed + needs > this.target) {
      return refuse(
        `at capacity: ${streams} streams use ${pct(s.committed)} of inference, a new one needs about ${pct(needs)}`,
        5,
      );
    }
    return { ok: true };
  }

  /** decide() for a stream that is joining now: on yes it counts until the probe sees it (or the upgrade fails). */
  admit(stream: StreamShape): Decision {
    const d = this.decide(stream);
    if (!d.ok) return d;
    for (let n = streamCount(stream); n > 0; n--) {
      this.pending.push({ demand: this.demand(stream), since: this.now() });
    }
    return d;
  }

  /** An admitted stream that will not open after all (a later check refused it): its place is free at once. */
  withdraw(stream: StreamShape): void {
    const demand = this.demand(stream);
    for (let n = streamCount(stream); n > 0; n--) {
      const i = this.pending.findLastIndex((a) => a.demand === demand);
      if (i >= 0) this.pending.splice(i, 1);
    }
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

function refuse(reason: string, retryAfterSeconds: number): Decision {
  return { ok: false, reason: `${reason}; retry in ${retryAfterSeconds} s`, retryAfterSeconds };
}

const pct = (x: number) => `${Math.max(1, Math.round(x * 100))}%`;
