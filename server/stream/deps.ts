import type { LiveLabellers } from '../../models/speaker/live-labels.js';
import type { KnownSpeaker } from '../../models/speaker/cluster.js';
import type { VadModel } from '../../models/vad/silero.js';
import type { WindowResult } from '../../models/whisper/transcribe.js';
import type { ListenParams } from '../params.js';
import type { ModelInfo } from '../protocol.js';
import type { TranscribeJob } from '../scheduling/scheduler.js';
import type { TranscriptStore } from '../store/types.js';
import type { SessionConfig } from './config.js';
import type { EarlyOutcome } from './early-finals.js';

/** What a live stream needs from the server: its engine, store and socket, and its resume state. */
export interface SessionDeps {
  id: string;
  params: ListenParams;
  config: SessionConfig;
  model: ModelInfo;
  vad: VadModel;
  store: TranscriptStore;
  scheduler: {
    submit(job: TranscribeJob): Promise<WindowResult | null>;
    dropInterims(session: string): void;
    /** An early final's job is a final from now on. */
    promote(job: TranscribeJob): void;
  };
  /** Encodes the session's prompt (keyterms) into decoder tokens once. */
  encodePrompt?: (text: string) => number[];
  /** Extra delay factor for interims under load (1 = nominal cadence, Infinity = none now). */
  interimBackoff?: () => number;
  /** Observes results, received audio and time spent on speaker labels (metrics). */
  observe?: {
    result(kind: 'final' | 'interim', lag: number): void;
    audio(seconds: number): void;
    labelled?(seconds: number): void;
    /** What became of a final decoded during the endpointing wait. */
    earlyFinal?(outcome: EarlyOutcome): void;
  };
  /** Where speaker labels for diarize=true are computed (without, diarize gives no labels). */
  labels?: LiveLabellers;
  /** known_speakers: voiceprints whose names the matching speakers take (words' speaker_name). */
  knownSpeakers?: readonly KnownSpeaker[];
  send(message: object): 'ok' | 'backpressure' | 'dropped';
  bufferedAmount(): number;
  close(code: number, reason: string): void;
  log: {
    info(o: object, msg?: string): void;
    warn(o: object, msg?: string): void;
    error(o: object, msg?: string): void;
  };
  /** Resume: the session's committed time in an earlier connection; times continue from there. */
  timeOffset?: number;
  seqStart?: number;
  /** Resume: the speaker clustering of the earlier connections (SessionRecord.speakers), so labels keep. */
  speakers?: unknown;
  /** This connection continues an earlier one (said in the opening Metadata). */
  resumed?: boolean;
  /**
   * One channel of a multichannel stream (see channels.ts): its Results say [index, count], its decodes are their
   * own session in the scheduler, and its finals take their seq from the stream's one counter (nextSeq).
   */
  channel?: { index: number; count: number };
  nextSeq?: () => number;
  /**
   * Once, when everything received is decoded (the stream's compute is no longer used): frees its slots. A stream
   * that ends with its finals (CloseStream, a limit, shutdown) waits for it before sending its close frame, so a
   * client that reconnects on the close finds the slot free.
   */
  onDecoded?: () => Promise<void> | void;
  /** Once, when the stream is over and its last final is stored. */
  onEnd?: (s: { readonly id: string; readonly params: ListenParams }) => void;
}
