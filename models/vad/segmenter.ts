/**
 * Turns per-frame speech probabilities (Silero VAD) into utterances. Pure logic: no audio, no inference.
 *
 * Defaults, and why:
 * - threshold 0.5 / negThreshold threshold-0.15: Silero's own defaults (VADIterator). The gap is hysteresis: once
 *   in speech, frames down to 0.35 still count as speech, so a soft syllable does not start a pause.
 * - minSpeechMs 250: what Silero, whisper.cpp and sherpa-onnx use. Clicks, breaths and coughs are shorter, and
 *   Whisper fed such a blip tends to hallucinate ("Thank you.").
 * - endpointingMs 500: Deepgram's 10 ms default suits a streaming acoustic model that emits words as it goes; Whisper
 *   decodes whole utterances and loses context (and accuracy) when cut at every inter-word gap. 500 ms is
 *   whisper_streaming's VAC silence and close to speaches' 550 ms and Deepgram's 300-500 ms advice for conversation:
 *   longer than pauses inside a sentence, short enough that finals do not feel late.
 * - speechPadMs 200: Silero's probability rises a little after the first phoneme and a quiet onset/coda is easily
 *   clipped; 200 ms restores it without pulling much silence in (faster-whisper pads 400 ms offline).
 * - maxUtteranceSeconds 30: one utterance (pads included) must fit Whisper's 30 s window. It is a safety net, not
 *   an endpointer: noise can hold Silero between negThreshold and threshold for minutes, and hysteresis alone would
 *   then keep one utterance open for as long.
 *
 * Event contract: times are seconds from stream start and exact multiples of frameSeconds (frame index times
 * frameSeconds). Events are dated, not timely: speech_start comes out once minSpeech is confirmed (about
 * minSpeechMs after the speech began; its time is moved back by the pad), speech_end once the endpointing silence
 * has passed. Every speech_start is followed by exactly one speech_end. speech_end.time is the last speech frame's
 * end plus the pad, never past the audio consumed; the next speech_start is never before the previous speech_end.
 * An utterance reaching maxUtterance ends there: if it is all silence after some point, as an ordinary speech_end
 * at that point; otherwise cut at its quietest recent boundary, a speech_end with reason 'max_utterance' (time =
 * speech = the cut). The frames after a cut are judged again as if no speech were open, so only the VAD crossing
 * threshold for minSpeech starts the next utterance (its start is never before the cut).
 *
 * With pauseEvents, speech also reports its pauses as they happen: `pause` once the silence has lasted the pad (the
 * audio a speech_end would decode is all consumed; `time`/`speech` are what that speech_end will carry if the
 * silence lasts), `resume` when speech goes on before the endpointing silence has passed. A consumer may decode the
 * utterance during the endpointing wait and keep the result only if the speech_end's times match the pause's.
 */

export interface SegmenterOptions {
  /** Duration of one VAD frame (frameSamples / 16000). */
  frameSeconds: number;
  /** Default 0.5: a frame with prob >= threshold starts speech. */
  threshold?: number;
  /** Default threshold - 0.15: in speech, a frame below this is silence (hysteresis). */
  negThreshold?: number;
  /** Default 250: speech must last this long (uninterrupted) before speech_start; shorter blips are dropped. */
  minSpeechMs?: number;
  /** Default 500: silence that ends an utterance; false = never end on silence (only flush/forced split). */
  endpointingMs?: number | false;
  /** Default 200: audio kept before speech start and after speech end. */
  speechPadMs?: number;
  /** Default 30: an utterance (pads included) reaching this length ends (see the event contract). */
  maxUtteranceSeconds?: number;
  /** Default 20% of maxUtteranceSeconds, at most 5: how far back from the limit a quiet cut point is sought. */
  splitSearchSeconds?: number;
  /** Default false: also emit pause/resume events (see the event contract). */
  pauseEvents?: boolean;
}

/**
 * `time`/`start` include the pad (the audio to decode); `speech` is the unpadded boundary (what to report).
 * `reason` is set when the utterance did not end in a pause but was cut at maxUtteranceSeconds.
 */
export type SegmentEvent =
  | { type: 'speech_start'; time: number; speech: number }
  | { type: 'speech_end'; time: number; start: number; speech: number; reason?: 'max_utterance' }
  | { type: 'pause'; time: number; speech: number }
  | { type: 'resume'; time: number };

/** Options that cannot work; the message says which and why. */
export class SegmenterOptionsError extends Error {
  override name = 'SegmenterOptionsError';
}

export class UtteranceSegmenter {
  private readonly fs: number;
  private readonly thr: number;
  private readonly negThr: number;
  private readonly minSpeechFrames: number;
  private readonly endpointFrames: number; // Infinity when endpointing is off
  private readonly padFrames: number;
  private readonly maxFrames: number;
  private readonly searchFrames: number;
  /** Silence frames after which a pause is reported (Infinity: no pause events). */
  private readonly pauseFrames: number;

  /** Frames consumed. */
  private n = 0;
  /** Earliest frame the next utterance may start at (end of the previous one). */
  private floor = 0;
  // Not in speech: a run of speech frames awaiting minSpeech. -1 = none.
  private candStart = -1;
  private candFrames = 0;
  // In speech.
  private speaking = false;
  private uttStart = 0;
  private lastVoicedEnd = 0;
  /** Probabilities of the current utterance's most recent frames, for choosing a cut point. */
  private recent: number[] = [];
  /** A pause was reported and speech has not resumed since. */
  private paused = false;

  constructor(opts: SegmenterOptions) {
    const fs = opts.frameSeconds;
    if (!(fs > 0) || !Number.isFinite(fs)) {
      throw new SegmenterOptionsError(`frameSeconds must be a positive number, got ${fs}`);
    }
    const thr = opts.threshold ?? 0.5;
    if (!(thr > 0 && thr <= 1)) throw new SegmenterOptionsError(`threshold must be in (0, 1], got ${thr}`);
    const negThr = opts.negThreshold ?? Math.max(0, thr - 0.15);
    if (!(negThr >= 0 && negThr <= thr)) {
      throw new SegmenterOptionsError(`negThreshold must be in [0, threshold=${thr}], got ${negThr}`);
    }
    const ms = (name: string, v: number | undefined, dflt: number): number => {
      const x = v ?? dflt;
      if (!(x >= 0) || !Number.isFinite(x)) {
        throw new SegmenterOptionsError(`${name} must be a non-negative number of milliseconds, got ${v}`);
      }
      return x;
    };
    const frames = (seconds: number): number => Math.round(seconds / fs);
    this.fs = fs;
    this.thr = thr;
    this.negThr = negThr;
    this.minSpeechFrames = Math.max(1, frames(ms('minSpeechMs', opts.minSpeechMs, 250) / 1000));
    this.endpointFrames =
      opts.endpointingMs === false
        ? Infinity
        : Math.max(1, frames(ms('endpointingMs', opts.endpointingMs, 500) / 1000));
    this.padFrames = frames(ms('speechPadMs', opts.speechPadMs, 200) / 1000);
    const maxS = opts.maxUtteranceSeconds ?? 30;
    this.maxFrames = Math.floor(maxS / fs + 1e-9);
    if (
      !Number.isFinite(maxS) ||
      this.maxFrames < 2 ||
      this.maxFrames <= this.minSpeechFrames + this.padFrames
    ) {
      throw new SegmenterOptionsError(
        `maxUtteranceSeconds=${maxS} is too short for minSpeechMs + speechPadMs at ${fs}s frames`,
      );
    }
    const searchS = opts.splitSearchSeconds ?? Math.min(5, maxS * 0.2);
    if (!(searchS >= 0) || searchS >= maxS) {
      throw new SegmenterOptionsError(
        `splitSearchSeconds must be in [0, maxUtteranceSeconds=${maxS}), got ${searchS}`,
      );
    }
    this.searchFrames = Math.min(frames(searchS), this.maxFrames - 1);
    // A pause is worth reporting only when it comes before the speech_end it anticipates.
    const pause = Math.max(1, this.padFrames);
    this.pauseFrames = opts.pauseEvents && pause < this.endpointFrames ? pause : Infinity;
  }

  get inSpeech(): boolean {
    return this.speaking;
  }

  get time(): number {
    return this.n * this.fs;
  }

  push(probs: Float32Array): SegmentEvent[] {
    const events: SegmentEvent[] = [];
    for (let i = 0; i < probs.length; i++) this.step(probs[i], events);
    return events;
  }

  /** End of stream: closes an open utterance; a blip still shorter than minSpeech is dropped. */
  flush(): SegmentEvent[] {
    const events: SegmentEvent[] = [];
    if (this.speaking) this.end(events);
    this.candStart = -1;
    this.candFrames = 0;
    return events;
  }

  private step(p: number, events: SegmentEvent[]): void {
    const frame = this.n++;
    if (!this.speaking) {
      if (this.candStart < 0) {
        if (p >= this.thr) {
          this.candStart = frame;
          this.candFrames = 1;
        }
      } else if (p >= this.negThr) {
        this.candFrames++;
      } else {
        this.candStart = -1;
      }
      if (this.candStart >= 0 && this.candFrames >= this.minSpeechFrames) {
        this.speaking = true;
        this.uttStart = Math.max(this.candStart - this.padFrames, this.floor, 0);
        this.lastVoicedEnd = this.n;
        const speech = this.t(this.candStart);
        this.candStart = -1;
        this.recent = [];
        events.push({ type: 'speech_start', time: this.t(this.uttStart), speech });
      }
      return;
    }
    this.recent.push(p);
    if (this.recent.length > this.searchFrames + 1) this.recent.shift();
    if (p >= this.negThr) {
      this.lastVoicedEnd = this.n;
      if (this.paused) {
        this.paused = false;
        events.push({ type: 'resume', time: this.t(frame) });
      }
    } else if (this.n - this.lastVoicedEnd === this.pauseFrames) {
      this.paused = true;
      events.push({
        type: 'pause',
        time: this.t(this.lastVoicedEnd + this.padFrames),
        speech: this.t(this.lastVoicedEnd),
      });
    }
    if (this.n - this.lastVoicedEnd >= this.endpointFrames) {
      this.end(events);
    } else if (this.n - this.uttStart >= this.maxFrames) {
      this.cut(events);
    }
  }

  private end(events: SegmentEvent[]): void {
    const endFrame = Math.min(this.lastVoicedEnd + this.padFrames, this.n);
    events.push({
      type: 'speech_end',
      time: this.t(endFrame),
      start: this.t(this.uttStart),
      speech: this.t(this.lastVoicedEnd),
    });
    this.speaking = false;
    this.paused = false;
    this.floor = endFrame;
    this.recent = [];
  }

  /**
   * The utterance reached maxUtterance. Cut at the quietest boundary of the last splitSearch seconds: the boundary
   * between frames b-1 and b scores (p[b-1] + p[b]) / 2; among equals the latest wins (keeps utterances long). If
   * speech has stopped at that point (everything after it is silence), the utterance simply ends there. Otherwise
   * it ends at the cut, and the frames after it are replayed with no speech open: the VAD must start the next
   * utterance (a noise-fooled VAD hovering under threshold cannot carry one on), and real speech that goes on
   * restarts within minSpeech, losing nothing (the new start may reach back to the cut).
   */
  private cut(events: SegmentEvent[]): void {
    const r = this.recent;
    const first = this.n - r.length; // frame index of r[0]
    let best = this.n;
    let bestScore = Infinity;
    // Boundary b lies between r[k-1] and r[k] (b = first + k); the boundary at n scores its left frame only.
    for (let k = 1; k <= r.length; k++) {
      const b = first + k;
      if (b <= this.uttStart) continue;
      const score = k < r.length ? (r[k - 1] + r[k]) / 2 : r[k - 1];
      if (score <= bestScore) {
        bestScore = score;
        best = b;
      }
    }
    if (this.lastVoicedEnd < this.n && best >= this.lastVoicedEnd) {
      this.end(events);
      return;
    }
    const at = this.t(best);
    events.push({
      type: 'speech_end',
      time: at,
      start: this.t(this.uttStart),
      speech: at,
      reason: 'max_utterance',
    });
    this.speaking = false;
    this.paused = false;
    this.floor = best;
    this.recent = [];
    const tail = r.slice(best - first);
    this.n = best; // step() advances it back to where it was
    for (const p of tail) this.step(p, events);
  }

  private t(frame: number): number {
    return frame * this.fs;
  }
}
