/**
 * Frame-local analysis of a live session's audio, made as the audio arrives: a final's labels then start at its
 * endpoint with only the clip-level steps left (energy thresholds, noise subtraction, cepstra, clustering).
 *
 * The rows are those VoiceAnalyzer.frames would compute for a clip that starts on the grid: Kaldi fbank rows (snip
 * edges: each row depends only on its own 400 samples; DC removal and pre-emphasis are per frame, dither is off) at
 * every multiple of FRAME_SHIFT samples of stream time, and pitch at every other one. Bounded: rows
 * before the last labelled final's start are let go (forget), and at most MAX_ROWS are kept.
 */
import { KaldiFbank } from '../../audio/fbank.js';
import { PITCH_LEN, frameF0 } from './voice-stats.js';

const FRAME_SHIFT = 160;
/** 60 s of rows: more than a final can ask for. */
const MAX_ROWS = 6000;
/** frameF0 reads one sample past its frame (the lag after the last): a pitch is made once that sample is heard. */
const PITCH_READS = PITCH_LEN + 1;

export class FrameCache {
  private readonly fbank = new KaldiFbank();
  /** Heard samples not yet consumed by both analyses, from stream sample `tailAt`. */
  private tail = new Float32Array(0);
  private tailAt = 0;
  /** Row index (stream sample / FRAME_SHIFT) of rows[0] and f0[0]. */
  private first = 0;
  private rows: Float32Array[] = [];
  /** f0 in Hz (0 unvoiced) on the pitch grid; NaN where none was made (odd rows, not yet heard). */
  private f0: number[] = [];
  /** The next pitch frame's row index (even). */
  private nextPitch = 0;

  /** Audio of the stream from sample `at` on (16 kHz); a gap or overlap with what came before starts afresh. */
  hear(samples: Float32Array, at: number): void {
    if (samples.length === 0) return;
    if (at !== this.tailAt + this.tail.length) this.restart(at);
    const buf = new Float32Array(this.tail.length + samples.length);
    buf.set(this.tail);
    buf.set(samples, this.tail.length);
    const bufAt = this.tailAt;
    const end = bufAt + buf.length;
    const next = this.first + this.rows.length;
    const n = this.fbank.frames(end - next * FRAME_SHIFT);
    if (n > 0) {
      const from = next * FRAME_SHIFT - bufAt;
      const feats = this.fbank.compute(
        buf.subarray(from, from + (n - 1) * FRAME_SHIFT + this.fbank.frameLength),
      );
      for (let f = 0; f < n; f++) {
        this.rows.push(feats.data.slice(f * feats.bins, (f + 1) * feats.bins));
        this.f0.push(NaN);
      }
    }
    for (; this.nextPitch * FRAME_SHIFT + PITCH_READS <= end; this.nextPitch += 2) {
      const i = this.nextPitch - this.first;
      if (i >= 0 && i < this.f0.length)
        this.f0[i] = frameF0(buf, this.nextPitch * FRAME_SHIFT - bufAt, PITCH_LEN);
    }
    const keep = Math.min((this.first + this.rows.length) * FRAME_SHIFT, this.nextPitch * FRAME_SHIFT);
    this.tail = buf.slice(Math.max(0, keep - bufAt));
    this.tailAt = Math.max(bufAt, keep);
    if (this.rows.length > MAX_ROWS) this.drop(this.rows.length - MAX_ROWS);
  }

  /** Rows before stream sample `at` are no longer needed (finals are labelled in order). */
  forget(at: number): void {
    this.drop(Math.floor(at / FRAME_SHIFT) - this.first);
  }

  /** The fbank row at stream sample `at` (a multiple of the frame shift), if heard. */
  row(at: number): Float32Array | undefined {
    return this.rows[at / FRAME_SHIFT - this.first];
  }

  /** f0 (Hz, 0 unvoiced) of the pitch frame at stream sample `at` (a multiple of two frame shifts), if heard. */
  pitch(at: number): number | undefined {
    const f0 = this.f0[at / FRAME_SHIFT - this.first];
    return f0 === undefined || Number.isNaN(f0) ? undefined : f0;
  }

  private drop(n: number): void {
    n = Math.min(n, this.rows.length);
    if (n <= 0) return;
    this.rows.splice(0, n);
    this.f0.splice(0, n);
    this.first += n;
  }

  private restart(at: number): void {
    this.tail = new Float32Array(0);
    const row = Math.ceil(at / FRAME_SHIFT);
    this.tailAt = at;
    this.first = row;
    this.rows = [];
    this.f0 = [];
    this.nextPitch = row + (row % 2);
  }
}
