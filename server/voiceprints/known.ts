// known_speakers=alice,bob|all: the subject's stored voiceprints, as the embeddings that name speakers.
import type { KnownSpeaker } from '../../models/speaker/cluster.js';
import { ApiError } from '../errors.js';
import type { Voiceprint, VoiceprintStore } from '../store/types.js';
import type { KnownSpeakersRequest } from './names.js';

const list = (names: readonly string[]) =>
  names
    .slice(0, 10)
    .map((n) => `"${n}"`)
    .join(', ') + (names.length > 10 ? ` and ${names.length - 10} more` : '');

/**
 * The voiceprints a request names, refused when one is not the subject's (400 naming it) or was made by another
 * speaker model than `modelId` (409: its embedding space is not this server's).
 */
export async function knownVoiceprints(
  store: VoiceprintStore,
  subject: string,
  request: KnownSpeakersRequest,
  modelId: string,
): Promise<KnownSpeaker[]> {
  let found: Voiceprint[];
  if (request === 'all') found = await store.list(subject);
  else {
    const got = await Promise.all(request.map((n) => store.get(subject, n)));
    const missing = request.filter((_, i) => !got[i]);
    if (missing.length) {
      const message = `known_speakers: no voiceprint named ${list(missing)} (POST /v1/speakers enrols one; GET /v1/speakers lists yours)`;
      throw new ApiError('UNKNOWN_SPEAKER', message, { dgError: message });
    }
    found = got as Voiceprint[];
  }
  const other = found.filter((v) => v.model !== modelId);
  if (other.length) {
    const message = `known_speakers: ${list(other.map((v) => v.name))} ${other.length === 1 ? 'was' : 'were'} enrolled with speaker model ${other[0].model}, and this server runs ${modelId}: enrol ${other.length === 1 ? 'it' : 'them'} again (or delete ${other.length === 1 ? 'it' : 'them'})`;
    throw new ApiError('SPEAKER_MODEL_MISMATCH', message, { dgError: message });
  }
  return found.map((v) => ({ name: v.name, embedding: Float32Array.from(v.embedding) }));
}
