import { AudioDecodeError } from '../../audio/errors.js';
import { decodeAudio } from '../../audio/load.js';
import { SAMPLE_RATE } from '../../audio/rate.js';

/**
 * A clip decoded to 16 kHz, refused (`fail`'s message names it by `label`) unless it lasts `min`-`max` seconds.
 * Capped at `max`: a long clip (a small FLAC of hours of silence) is refused from its header or after `max`
 * seconds of decoding, never decoded whole.
 */
export async function decodeClip(
  bytes: Uint8Array,
  label: string,
  limits: { min: number; max: number; what: string },
  fail: (message: string) => Error,
): Promise<Float32Array> {
  const rule = `${limits.what} must last ${limits.min}-${limits.max} s`;
  let audio: Float32Array;
  try {
    audio = (await decodeAudio(bytes, { maxSeconds: limits.max })).samples16k;
  } catch (err) {
    if (!(err instanceof AudioDecodeError)) throw err;
    if (err.code === 'too_long') {
      throw fail(`${label} lasts ${err.seconds?.toFixed(1) ?? `more than ${limits.max}`} s: ${rule}`);
    }
    throw fail(`${label} is not audio earshot can decode: ${err.message}`);
  }
  const seconds = audio.length / SAMPLE_RATE;
  if (seconds < limits.min || seconds > limits.max)
    throw fail(`${label} lasts ${seconds.toFixed(1)} s: ${rule}`);
  return audio;
}
