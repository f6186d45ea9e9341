import type { SegmentEvent } from '../../models/vad/segmenter.js';
import type { DgWord, EndReason } from '../protocol.js';
import { agreedPrefix } from './words.js';

export interface UtteranceOptions {
  /** Session time of the segmenter's time 0 (a resumed connection's committed time). */
  offset: number;
  /** Utterances longer than this commit their agreed prefix early (LocalAgreement-2). */
  earlyCommitSeconds: number;
  /** Words closer than this to the audio's edge are never committed early (still unstable). */
  commitMarginSeconds: number;
  /** Nominal interim cadence. */
  interimIntervalMs: number;
}

/**
 * A final to deliver: the audio [from, to] to decode, reported as [reportFrom, reportTo] (VAD speech, without
 * pads). `words` is set when it needs no decode: an early commit's agreed words, or nothing (answering a Finalize
 * that found no audio).
 */
export interface FinalRequest {
  from: number;
  to: number;
  reportFrom: number;
  reportTo: number;
  speechFinal: boolean;
  fromFinalize: boolean;
  /** Set when the utterance was cut at the longest utterance allowed rather than ended by a pause. */
  endReason?: EndReason;
  words?: DgWord[];
}

/**
 * `pause`: speech has paused long enough that the final it would end in is known: [ask.from, ask.to] may be decoded
 * now, and the final takes that decode if it closes the same audio; if the speech goes on instead, the decode is
 * that utterance's latest hypothesis (an interim). `resume`: the speech went on.
 */
export type UtteranceAction =
  | { type: 'final'; final: FinalRequest }
  | { type: 'speech_started'; at: number }
  | { type: 'pause'; ask: InterimAsk }
  | { type: 'resume' };

/** An interim decode asked for: the utterance's uncommitted audio [from, to]. */
export interface InterimAsk {
  utterance: number;
  from: number;
  to: number;
}

interface Utterance {
  id: number;
  /** Audio start (with the VAD pad). */
  start: number;
  /** Start to report: the unpadded speech onset, then each early commit's end. */
  reportFrom: number;
  /** Audio before this time is already final. */
  committed: number;
  /** Last hypothesis (after the committed prefix), for LocalAgreement. */
  hypothesis: DgWord[] | null;
  interimInFlight: boolean;
  lastInterimAt: number;
  /** In a pause that may end the utterance: its final is being decoded, so no interim is asked for. */
  paused: boolean;
}

/** Shorter than this is not worth a decode. */
const MIN_FINAL_SECONDS = 0.05;
/** Uncommitted audio an interim needs at least. */
const MIN_INTERIM_SECONDS = 0.3;

/**
 * The utterance policy of one stream, pure: segmenter events become finals to request, interims are asked for at
 * their cadence, and agreeing interim hypotheses of a long utterance commit their prefix early. `now` is the
 * session time of the audio received so far (the tracker's only clock).
 */
export class UtteranceTracker {
  private utt: Utterance | null = null;
  private counter = 0;

  constructor(
    private readonly o: UtteranceOptions,
    private readonly now: () => number,
  ) {}

  /** Where the open utterance's undecided audio starts (Infinity when none is open). */
  get committed(): number {
    return this.utt?.committed ?? Infinity;
  }

  /** Audio before this (session time) is needed by no utterance. */
  keepFrom(): number {
    return this.utt ? this.utt.committed - 1 : this.now() - 2;
  }

  /**
   * The segmenter's events, in order: speech onsets and the finals they close. `inputCut`: the input stopped
   * because the client went away, so a speech end it forces is not the speaker's (speech_final false).
   */
  onEvents(events: readonly SegmentEvent[], inputCut = false): UtteranceAction[] {
    const out: UtteranceAction[] = [];
    const final = (f: FinalRequest) => {
      if (f.to - f.from >= MIN_FINAL_SECONDS) out.push({ type: 'final', final: f });
    };
    for (const e of events) {
      const t = this.o.offset + e.time;
      const u = this.utt;
      if (e.type === 'speech_start') {
        const speech = this.o.offset + e.speech;
        this.utt = this.open(t, speech);
        out.push({ type: 'speech_started', at: speech });
      } else if (e.type === 'pause') {
        if (u) {
          u.paused = true;
          // The pause's decode is the utterance's next hypothesis: the interim cadence counts from it.
          u.lastInterimAt = this.now();
          out.push({
            type: 'pause',
            ask: { utterance: u.id, from: u.committed, to: Math.min(t, this.now()) },
          });
        }
      } else if (e.type === 'resume') {
        if (u) u.paused = false;
        out.push({ type: 'resume' });
      } else {
        if (u) {
          const reportTo = Math.max(u.reportFrom, this.o.offset + e.speech);
          const cut = e.reason !== undefined;
          const f = closing(u, Math.min(t, this.now()), reportTo, !inputCut && !cut, false);
          final(cut ? { ...f, endReason: e.reason } : f);
        }
        this.utt = null;
      }
    }
    return out;
  }

  /**
   * Decode what is buffered now (Finalize, end of input): the utterance in progress becomes final; a new one
   * opens when the speaker is still talking. A Finalize with nothing to decode is still answered (empty).
   */
  finalizeNow(fromFinalize: boolean, inSpeech: boolean): FinalRequest | null {
    const now = this.now();
    const u = this.utt;
    if (u && now - u.committed > MIN_FINAL_SECONDS) {
      this.utt = inSpeech ? this.open(now, now) : null;
      return closing(u, now, now, false, fromFinalize);
    }
    if (!fromFinalize) return null;
    return {
      from: now,
      to: now,
      reportFrom: now,
      reportTo: now,
      speechFinal: false,
      fromFinalize,
      words: [],
    };
  }

  /** An interim decode when one is due: `backoff` stretches the cadence (Infinity: none now). */
  interimDue(o: { interimResults: boolean; backoff: number }): InterimAsk | null {
    const u = this.utt;
    if (!u || u.interimInFlight || u.paused) return null;
    const now = this.now();
    // Long utterances need hypotheses for early commits even when the client asked for no interims.
    const long = now - u.start >= this.o.earlyCommitSeconds;
    if (!o.interimResults && !long) return null;
    const interval = (this.o.interimIntervalMs / 1000) * o.backoff;
    if (now - u.lastInterimAt < interval || now - u.committed < MIN_INTERIM_SECONDS) return null;
    u.lastInterimAt = now;
    u.interimInFlight = true;
    return { utterance: u.id, from: u.committed, to: now };
  }

  /** The interim decode is over (answered or failed): another may be asked for. */
  interimDone(ask: InterimAsk): void {
    if (this.utt?.id === ask.utterance) this.utt.interimInFlight = false;
  }

  /**
   * An interim hypothesis for `ask`: null when stale (a final for that audio was requested meanwhile). Otherwise
   * LocalAgreement-2 on a long utterance may commit an agreed prefix (`commit`); `rest` is the interim to show,
   * from `from`.
   */
  onHypothesis(
    ask: InterimAsk,
    words: DgWord[],
  ): { commit: FinalRequest | null; rest: DgWord[]; from: number } | null {
    const u = this.utt;
    if (!u || u.id !== ask.utterance || u.committed !== ask.from) return null;
    let commit: FinalRequest | null = null;
    let rest = words;
    if (u.hypothesis && ask.to - u.start >= this.o.earlyCommitSeconds) {
      let n = agreedPrefix(u.hypothesis, words);
      while (n > 0 && words[n - 1].end > ask.to - this.o.commitMarginSeconds) n--;
      if (n > 0) {
        const until = words[n - 1].end;
        commit = { ...closing(u, until, until, false, false), words: words.slice(0, n) };
        u.committed = u.reportFrom = until;
        rest = words.slice(n);
      }
    }
    u.hypothesis = rest;
    return { commit, rest, from: u.committed };
  }

  private open(start: number, reportFrom: number): Utterance {
    return {
      id: ++this.counter,
      start,
      reportFrom,
      committed: start,
      hypothesis: null,
      interimInFlight: false,
      lastInterimAt: -Infinity,
      paused: false,
    };
  }
}

/** The final of an utterance's undecided audio up to `to`. */
function closing(
  u: Utterance,
  to: number,
  reportTo: number,
  speechFinal: boolean,
  fromFinalize: boolean,
): FinalRequest {
  return { from: u.committed, to, reportFrom: u.reportFrom, reportTo, speechFinal, fromFinalize };
}
