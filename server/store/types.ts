import type { DgWord, EndReason } from '../protocol.js';

export interface StoredFinal {
  seq: number;
  start: number;
  end: number;
  transcript: string;
  words: DgWord[];
  speech_final: boolean;
  from_finalize: boolean;
  end_reason?: EndReason;
  /** A multichannel stream's channel (0-based); absent for one channel. */
  channel?: number;
}

export interface SessionRecord {
  id: string;
  /** The credential's subject that owns it ('' when auth is off). */
  subject: string;
  created: string;
  /** 'closed' as soon as no connection is open, even while its last finals are still being decoded. */
  status: 'live' | 'closed';
  /** Seconds of audio received (the extent of the input, audio refused at shutdown included). */
  duration: number;
  /** Wall-clock seconds its connections lasted so far: a resume continues --max-session-seconds from here. */
  streamed?: number;
  /**
   * Seconds up to which every sample is covered by a stored final or was judged non-speech: a resumed connection
   * continues its clock here, and the client re-sends its audio from here.
   */
  committed: number;
  lastSeq: number;
  params: Record<string, unknown>;
  /** diarize=true: the live diarizer's JSON state (models/speaker OnlineClusterState), so a resume keeps labels. */
  speakers?: unknown;
}

/** What a live session updates as it goes. */
export type RecordPatch = Partial<
  Pick<SessionRecord, 'status' | 'duration' | 'streamed' | 'committed' | 'lastSeq' | 'speakers'>
>;

/**
 * Where finals live before they are sent: the source for resume, transcript export and the plugin. The default
 * keeps them in memory; durable stores (file, Redis) implement the same interface.
 */
export interface TranscriptStore {
  open(record: SessionRecord): Promise<void>;
  append(session: string, final: StoredFinal): Promise<void>;
  finals(session: string, afterSeq?: number): Promise<StoredFinal[]>;
  get(session: string): Promise<SessionRecord | undefined>;
  update(session: string, patch: RecordPatch): Promise<void>;
  delete(session: string): Promise<boolean>;
  /** Whether a new stream can be promised durable finals right now (absent: always). */
  available?(): boolean;
  /**
   * Stores shared by replicas: one live connection per session across all of them. The holder
   * (`replica/connection`) renews it while live; it expires ttlMs after the last renewal, or as soon as the store
   * can tell the holder died. Absent: one process, whose own session table is the guard.
   */
  lease?(session: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Named voiceprints, kept beside the transcripts in the same backend. */
  readonly voiceprints: VoiceprintStore;
  release?(session: string, holder: string): Promise<void>;
  close?(): Promise<void>;
}

/** The store cannot take a write: the stream closes 1011 saying so rather than send a final it could lose. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

/**
 * The session's transcript reached the store's size cap: the stream ends (1008) rather than grow it without bound;
 * a new session starts a new transcript.
 */
export class TranscriptFullError extends Error {
  override name = 'TranscriptFullError';
}

/**
 * A subject's named voiceprint: the speaker embedding of its enrolment clips (the unit mean of their unit
 * embeddings), never the audio. Only the speaker model that made it can compare voices with it.
 */
export interface Voiceprint {
  /** The credential's subject that enrolled it ('' when auth is off). */
  subject: string;
  name: string;
  /** The speaker model's id (models/speaker/model-id.ts): embeddings of two models are not comparable. */
  model: string;
  dim: number;
  embedding: number[];
  /** Seconds of enrolment audio behind it, and how many clips. */
  seconds: number;
  clips: number;
  created: string;
}

/**
 * Voiceprints by subject and name. Kept until deleted (no retention sweep: an enrolment is meant to last); a
 * delete removes the stored vector itself.
 */
export interface VoiceprintStore {
  /**
   * Stores it, replacing the subject's voiceprint of that name; throws VoiceprintLimitError when the subject
   * already holds `limit` others.
   */
  put(v: Voiceprint, limit: number): Promise<void>;
  get(subject: string, name: string): Promise<Voiceprint | undefined>;
  /** The subject's voiceprints by name, or every subject's when subject is undefined (admins). */
  list(subject: string | undefined): Promise<Voiceprint[]>;
  delete(subject: string, name: string): Promise<boolean>;
}

export class VoiceprintLimitError extends Error {
  override name = 'VoiceprintLimitError';
  constructor(readonly limit: number) {
    super(`at most ${limit} voiceprints per subject: delete one first (DELETE /v1/speakers/{name})`);
  }
}
