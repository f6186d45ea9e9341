// What an admitted /v1/listen upgrade carries to its open connection.

import type { KnownSpeaker } from '../../models/speaker/cluster.js';
import type { Principal } from '../auth/types.js';
import type { Refusal, StreamStop } from '../errors.js';
import type { StreamLease } from '../limits/limiter.js';
import type { ListenParams } from '../params.js';
import type { SessionRecord, StoredFinal } from '../store/types.js';
import type { LiveStream } from '../stream/channels.js';

export interface StreamContext {
  /** The session's store key: its id scoped to the principal's subject. */
  id: string;
  principal: Principal;
  /** The stream's concurrency slot, audio budget and deadline. */
  lease: StreamLease;
  /** Whether the credential still holds (a revoked key, an expired JWT): re-checked while the stream lives. */
  recheck?: () => Promise<Refusal | undefined>;
  /** A limit crossed mid-stream: no more audio is taken, and the session was told to stop. */
  stop?: StreamStop;
  deadline?: NodeJS.Timeout;
  params: ListenParams;
  /** The stored record when this connection continues an earlier session. */
  resumed?: SessionRecord;
  /** Who holds the session in a store shared by replicas (`replica/connection`), and its renewal timer. */
  holder: string;
  renewal?: NodeJS.Timeout;
  /** Finals after the client's resume_from, re-sent first. */
  replay: StoredFinal[];
  session?: LiveStream;
  /** known_speakers: the voiceprints whose names live speaker labels take. */
  knownSpeakers?: KnownSpeaker[];
}
