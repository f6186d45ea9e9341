/**
 * A voiceprint from enrolment clips: each clip decoded (2-30 s, refused from its header when longer), checked to
 * hold speech (Silero VAD), embedded whole; the voiceprint is the unit mean of the clips' unit embeddings.
 */
import { SAMPLE_RATE } from '../../audio/rate.js';
import type { SpeakerEmbedder } from '../../models/speaker/embedding.js';
import type { VadModel } from '../../models/vad/silero.js';
import { ApiError } from '../errors.js';
import { decodeClip } from './clip.js';
import type { Voiceprint } from '../store/types.js';

export const MIN_CLIP_SECONDS = 2;
export const MAX_CLIP_SECONDS = 30;
export const MAX_CLIPS = 10;
/** Each clip must hold this much speech (seconds the VAD scores as speech). */
const MIN_SPEECH_SECONDS = 1;

export interface Enroller {
  embedder: SpeakerEmbedder;
  /** The embedder's model id (models/speaker/model-id.ts). */
  modelId: string;
  vad: VadModel;
}

/** A clip as the request gave it: its bytes, and the field that names it in errors (`files[1]`). */
export interface EnrolmentClip {
  field: string;
  bytes: Uint8Array;
}

const fieldError = (field: string) => (message: string) =>
  new ApiError('INVALID_FIELD', message, { dgError: `${field}: ${message}` });

/** Seconds of a clip the VAD takes for speech. */
async function speechSeconds(vad: VadModel, audio: Float32Array): Promise<number> {
  const probs = await vad.createStream().push(audio);
  let frames = 0;
  for (const p of probs) if (p >= 0.5) frames++;
  return (frames * vad.frameSamples) / SAMPLE_RATE;
}

/** Every clip checked before any is embedded; throws an ApiError naming the field of the first bad one. */
export async function voiceprintOf(
  e: Enroller,
  subject: string,
  name: string,
  clips: readonly EnrolmentClip[],
): Promise<Voiceprint> {
  if (clips.length === 0) {
    throw fieldError('files[]')('send one or more clips of the speaker (2-30 s each) as "file" or "files[]"');
  }
  if (clips.length > MAX_CLIPS)
    throw fieldError('files[]')(`at most ${MAX_CLIPS} clips, got ${clips.length}`);
  const limits = { min: MIN_CLIP_SECONDS, max: MAX_CLIP_SECONDS, what: 'an enrolment clip' };
  const audio: Float32Array[] = [];
  for (const c of clips) {
    const samples = await decodeClip(c.bytes, c.field, limits, fieldError(c.field));
    const speech = await speechSeconds(e.vad, samples);
    if (speech < MIN_SPEECH_SECONDS) {
      throw fieldError(c.field)(
        `${c.field} holds ${speech.toFixed(1)} s of speech: each clip needs at least ${MIN_SPEECH_SECONDS} s of the speaker's voice`,
      );
    }
    audio.push(samples);
  }
  // A clip at a time, yielding between them: the built-in embedding runs on this thread (~1 s per 30 s clip),
  // and live streams share it.
  const embeddings: Float32Array[] = [];
  for (const a of audio) {
    embeddings.push(...(await e.embedder.embed([a])));
    await new Promise((resolve) => setImmediate(resolve));
  }
  const mean = new Float64Array(e.embedder.dim);
  embeddings.forEach((v, i) => {
    // The zero vector: the embedder found no voice to describe (e.g. a tone the VAD took for speech).
    if (v.every((x) => x === 0))
      throw fieldError(clips[i].field)(`${clips[i].field} holds no voice to enrol`);
    for (let d = 0; d < mean.length; d++) mean[d] += v[d] / embeddings.length;
  });
  const norm = Math.hypot(...mean) || 1;
  return {
    subject,
    name,
    model: e.modelId,
    dim: mean.length,
    embedding: Array.from(mean, (x) => Math.fround(x / norm)),
    seconds: Math.round(audio.reduce((s, a) => s + a.length / SAMPLE_RATE, 0) * 1000) / 1000,
    clips: clips.length,
    created: new Date().toISOString(),
  };
}
