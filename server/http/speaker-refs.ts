/**
 * OpenAI's known speakers: `known_speaker_names[]` with `known_speaker_references[]`, each reference a short clip
 * of that speaker as a data URL (or, here, a file part). Every problem is a KnownSpeakerError naming the field.
 */
import { decodeClip } from '../voiceprints/clip.js';

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

/** The bytes of a base64 data URL (`data:audio/wav;base64,...`); `label` names it in `fail`'s message. */
export function dataUrlBytes(url: string, label: string, fail: (message: string) => Error): Uint8Array {
  const m = /^data:([^,;]*)((?:;[^,;]*)*?);base64,([A-Za-z0-9+/=\s]*)$/s.exec(url);
  if (!m) {
    const what = url.startsWith('data:') ? 'a base64 data URL' : 'a data URL (data:audio/wav;base64,...)';
    throw fail(`${label} is not ${what}`);
  }
  const bytes = Buffer.from(m[3].replace(/\s/g, ''), 'base64');
  if (bytes.length === 0) throw fail(`${label} is empty`);
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
  const fail = (message: string) => new KnownSpeakerError(message, 'known_speaker_references[]');
  const limits = { min: MIN_CLIP_SECONDS, max: MAX_CLIP_SECONDS, what: 'a reference clip' };
  for (const [i, ref] of references.entries()) {
    const label = `known_speaker_references[${i}]`;
    const bytes = typeof ref === 'string' ? dataUrlBytes(ref, label, fail) : ref;
    out.push({ name: names[i], audio: await decodeClip(bytes, label, limits, fail) });
  }
  return out;
}
