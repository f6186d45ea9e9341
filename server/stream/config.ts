/** Per-stream tunables (the server's options fill them; tests override a few). */
export interface SessionConfig {
  /** How often an utterance in progress is re-decoded for interim results (adapted under load). */
  interimIntervalMs: number;
  /** Utterances longer than this commit their agreed prefix early (LocalAgreement-2). */
  earlyCommitSeconds: number;
  /** Words closer than this to the audio's edge are never committed early (still unstable). */
  commitMarginSeconds: number;
  /** An utterance this long (pads included) is cut at its quietest recent point; <= 30 s (one Whisper window). */
  maxUtteranceSeconds: number;
  speechPadMs: number;
  minSpeechMs: number;
  vadThreshold: number;
  /** No audio or KeepAlive for this long closes with 1011 NET-0001 (not while the server owes an answer). */
  idleTimeoutMs: number;
  /**
   * After CloseStream, the longest wait for the last finals; past it what was decoded is delivered, then Metadata
   * and 1011 naming what was not decoded (the session keeps decoding into the store for a resume).
   */
  flushTimeoutMs: number;
  /** Lag (seconds of received audio a final still waits for) past which a warning is logged, once per episode. */
  lagWarnSeconds: number;
  /**
   * Audio queued for processing beyond this closes the stream (1013): the client outruns the server. Finals
   * waiting for inference that reach back further than this (or more than maxPendingFinals of them) stop it too,
   * after the finals of what was received are delivered (1013 with how to resume).
   */
  maxQueuedSeconds: number;
  maxPendingFinals: number;
  /**
   * A socket buffering more than this drops interims; finals are never dropped. The transport's own limit is
   * higher: a final that cannot be queued below it means the client does not read (1008).
   */
  maxSendBufferBytes: number;
  /** Temperature schedules: finals may fall back, interims never do (they are replaced soon anyway). */
  finalTemperatures: readonly number[];
  compressionRatioThreshold: number;
  /** Control messages (KeepAlive, Finalize, CloseStream) past this rate close the stream 1008. */
  controlMessagesPerSecond: number;
  controlMessageBurst: number;
  /** Decode an utterance's final as soon as its pause is long enough to know its audio (see EarlyFinals). */
  earlyFinals: boolean;
}

export const DEFAULT_SESSION_CONFIG: SessionConfig = {
  interimIntervalMs: 1000,
  earlyCommitSeconds: 8,
  commitMarginSeconds: 1,
  maxUtteranceSeconds: 30,
  speechPadMs: 200,
  minSpeechMs: 250,
  vadThreshold: 0.5,
  idleTimeoutMs: 10_000,
  flushTimeoutMs: 60_000,
  lagWarnSeconds: 5,
  maxQueuedSeconds: 120,
  maxPendingFinals: 256,
  maxSendBufferBytes: 1024 * 1024,
  finalTemperatures: [0, 0.2, 0.4],
  compressionRatioThreshold: 2.4,
  controlMessagesPerSecond: 20,
  controlMessageBurst: 100,
  earlyFinals: true,
};
