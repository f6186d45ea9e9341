/**
 * OpenAI's known speakers: `known_speaker_names[]` with `known_speaker_references[]`, each reference a short clip
 * of that speaker as a data URL (or, here, a file part). Every problem is a KnownSpeakerError naming the field.
 */
import { AudioDecodeError } from '../../audio/errors.js';
import { decodeAudio } from '../../audio/load.js';
import { SAMPLE_RATE } from '../../audio/rate.js';

/** OpenAI's limits: up to 4 speakers, each clip 2-10 s. */
export const MAX_KNOWN_SPEAKERS = 4;
const MIN_CLIP_SECONDS = 2;
const MAX_CLIP_SECONDS = 10;

export class KnownSpeakerError extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
    this.name = 'KnownSpeakerError';
  }
}

export interface KnownSpeaker {
  name: string;
  audio: Float32Array;
}

/** The bytes of a base64 data URL (`data:audio/wav;base64,...`). */
function dataUrlBytes(url: string, index: number): Uint8Array {
  const m = /^data:([^,;]*)((?:;[^,;]*)*?);base64,([A-Za-z0-9+/=\s]*)$/s.exec(url);
  if (!m) {
    const what = url.startsWith('data:') ? 'a base64 data URL' : 'a data URL (data:audio/wav;base64,...)';
    throw new KnownSpeakerError(
      `known_speaker_references[${index}] is not ${what}`,
      'known_speaker_references[]',
    );
  }
  const bytes = Buffer.from(m[3].replace(/\s/g, ''), 'base64');
  if (bytes.length === 0) {
    throw new KnownSpeakerError(`known_speaker_references[${index}] is empty`, 'known_speaker_references[]');
  }
  return bytes;
}

/** Checks the names against the references and decodes every clip to 16 kHz. */
export async function knownSpeakers(
  names: readonly string[],
  references: readonly (string | Uint8Array)[],
): Promise<KnownSpeaker[]> {
  if (names.length === 0 && references.length === 0) return [];
  if (names.length !== references.length) {
    throw new KnownSpeakerError(
      `known_speaker_names[] has ${names.length} entries and known_speaker_references[] ${references.length}: give one reference clip per name`,
      names.length < references.length ? 'known_speaker_names[]' : 'known_speaker_references[]',
    );
  }
  if (names.length > MAX_KNOWN_SPEAKERS) {
    throw new KnownSpeakerError(
      `at most ${MAX_KNOWN_SPEAKERS} known speakers, got ${names.length}`,
      'known_speaker_names[]',
    );
  }
  const seen = new Set<string>();
  for (const [i, name] of names.entries()) {
    if (!name.trim() || name.length > 100) {
      throw new KnownSpeakerError(
        `known_speaker_names[${i}] must be 1-100 characters`,
        'known_speaker_names[]',
      );
    }
    if (seen.has(name)) {
      throw new KnownSpeakerError(`known_speaker_names[] names "${name}" twice`, 'known_speaker_names[]');
    }
    seen.add(name);
  }
  const out: KnownSpeaker[] = [];
  for (const [i, ref] of references.entries()) {
    const bytes = typeof ref === 'string' ? dataUrlBytes(ref, i) : ref;
    const limits = `a reference clip must last ${MIN_CLIP_SECONDS}-${MAX_CLIP_SECONDS} s`;
    let audio: Float32Array;
    try {
      // Capped at the longest clip: a long reference (a small FLAC of hours of silence) is refused from its
      // header or after MAX_CLIP_SECONDS of decoding, never decoded whole.
      audio = (await decodeAudio(bytes, { maxSeconds: MAX_CLIP_SECONDS })).samples16k;
    } catch (err) {
      if (!(err instanceof AudioDecodeError)) throw err;
      if (err.code === 'too_long') {
        throw new KnownSpeakerError(
          `known_speaker_references[${i}] lasts ${err.seconds?.toFixed(1) ?? `more than ${MAX_CLIP_SECONDS}`} s: ${limits}`,
          'known_speaker_references[]',
        );
      }
      throw new KnownSpeakerError(
        `known_speaker_references[${i}] is not audio earshot can decode: ${err.message}`,
        'known_speaker_references[]',
      );
    }
    const seconds = audio.length / SAMPLE_RATE;
    if (seconds < MIN_CLIP_SECONDS || seconds > MAX_CLIP_SECONDS) {
      throw new KnownSpeakerError(
        `known_speaker_references[${i}] lasts ${seconds.toFixed(1)} s: ${limits}`,
        'known_speaker_references[]',
      );
    }
    out.push({ name: names[i], audio });
  }
  return out;
}
