/**
 * A recording's room as the voice statistics see it: its steady noise per mel band and the energy a frame needs to
 * count as speech, from one clip's frames or, for a whole recording, measured block by block (RoomMeter).
 */
import { KaldiFbank, LOG_FLOOR } from '../../audio/fbank.js';

/**
 * The noise floor in each mel band: this quantile of the band's power over the frames that are not digital
 * silence (between words and syllables a band falls to the noise; a minimum-statistics estimate).
 */
const NOISE_QUANTILE = 0.1;

/**
 * What an analysis measures of the room rather than of a voice: the energy (log power) a frame needs to count as
 * speech (within 30 dB of the loud frames and 8 dB above the quiet ones, so that under steady noise, which passes
 * the first test at 15 dB SNR, the noise alone is not taken for the voice), the fixed kernel's floor (within 30 dB
 * of the loud frames, digital silence included in the reference, as it was tuned), and the steady noise per mel
 * band (a minimum-statistics estimate), or none when too few frames were heard to tell.
 */
export interface RoomLevels {
  speechFloor: number;
  voiceFloor: number;
  noise?: Float64Array;
}

/** A quantile (0..1) of some values. */
type Quantile = (q: number) => number;

/** Levels from quantiles of frame energy (over the frames that are not digital silence, and over all) and bands. */
export function levelsFrom(
  heard: { frames: number; energy: Quantile; band: (b: number) => Quantile },
  allEnergy: Quantile,
  bins: number,
): RoomLevels {
  return {
    speechFloor: Math.max(heard.energy(0.95) - Math.log(1000), heard.energy(0.1) + Math.log(6.3)),
    voiceFloor: allEnergy(0.95) - Math.log(1000),
    ...(heard.frames < 10
      ? {}
      : { noise: Float64Array.from({ length: bins }, (_, b) => Math.exp(heard.band(b)(NOISE_QUANTILE))) }),
  };
}

/** Each frame's energy: log of the power summed over its bands. */
export function frameEnergy(data: Float32Array, frames: number, bins: number): Float64Array {
  const energy = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    let e = 0;
    for (let b = 0; b < bins; b++) e += Math.exp(data[f * bins + b]);
    energy[f] = Math.log(e + 1e-10);
  }
  return energy;
}

/** Digital silence: every band at the log floor (a muted or padded stream), never speech nor a noise sample. */
export const silentEnergyOf = (bins: number): number => Math.log(bins * Math.exp(LOG_FLOOR) + 1e-10) + 1e-6;

/** Log-power histogram resolution and range (from the fbank's floor up): a 1 % power step, 217 dB. */
const LEVEL_STEP = 0.01;
const LEVEL_STEPS = 5000;

/** Counts of log-power values, for quantiles of more values than are worth keeping (an hour is 360,000 frames). */
class LevelHistogram {
  private readonly counts = new Uint32Array(LEVEL_STEPS);
  n = 0;

  add(v: number): void {
    const i = Math.floor((v - LOG_FLOOR) / LEVEL_STEP);
    this.counts[Math.max(0, Math.min(LEVEL_STEPS - 1, i))]++;
    this.n++;
  }

  quantile(q: number): number {
    if (this.n === 0) return NaN;
    const rank = q * (this.n - 1);
    let seen = 0;
    for (let i = 0; i < LEVEL_STEPS; i++) {
      seen += this.counts[i];
      if (seen > rank) return LOG_FLOOR + (i + 0.5) * LEVEL_STEP;
    }
    return LOG_FLOOR + LEVEL_STEPS * LEVEL_STEP;
  }
}

/**
 * The room of a whole recording, measured block by block (pauses included): its levels are those a clip of the
 * whole recording would give, to a 1 % power step. Within one speech region the quietest frames are still speech,
 * so a region's own levels take speech for noise and subtract part of the voice, and set a speech floor no reader's
 * recording was analysed with (train:speaker analyses whole recordings). Files analysed by the room's levels rather
 * than each region's: the 36 noisy dev conversations 9.1 -> 6.6 % mean DER, speaker count exact 21 -> 28.
 */
export class RoomMeter {
  private readonly fbank = new KaldiFbank();
  private readonly all = new LevelHistogram();
  private readonly heard = new LevelHistogram();
  private bands: LevelHistogram[] = [];

  /** The levels of what was added so far, made once (every region of a file asks for them). */
  private made?: RoomLevels;

  add(clip: Float32Array): void {
    this.made = undefined;
    const { frames, bins, data } = this.fbank.compute(clip);
    if (this.bands.length === 0) this.bands = Array.from({ length: bins }, () => new LevelHistogram());
    const silent = silentEnergyOf(bins);
    const energy = frameEnergy(data, frames, bins);
    for (let f = 0; f < frames; f++) {
      this.all.add(energy[f]);
      if (energy[f] <= silent) continue;
      this.heard.add(energy[f]);
      for (let b = 0; b < bins; b++) this.bands[b].add(data[f * bins + b]);
    }
  }

  /** Undefined until a frame that is not digital silence was heard. */
  get levels(): RoomLevels | undefined {
    if (this.heard.n === 0) return undefined;
    return (this.made ??= levelsFrom(
      {
        frames: this.heard.n,
        energy: (q) => this.heard.quantile(q),
        band: (b) => (q) => this.bands[b].quantile(q),
      },
      (q) => this.all.quantile(q),
      this.bands.length,
    ));
  }
}
