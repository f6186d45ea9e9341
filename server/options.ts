// Every server setting in one table: flag, environment variable, config-file key (the camelCase name), range,
// default and help. A data table: it is the documentation an operator reads in one place; the loader that applies
// flags > environment > config file > defaults is config.ts.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DTYPES } from '../models/whisper/model-dir.js';
import { DEFAULT_SILERO } from '../models/vad/silero-files.js';

interface Common {
  flag: string;
  env: string;
  help: string;
  /** The placeholder in --help (`--port <n>`). */
  arg?: string;
  choices?: readonly string[];
  /** What a value is, for the refusal of one outside the choices ("a dtype"); default "one of". */
  noun?: string;
}

/** Numbers always carry their range: every numeric value is checked, whichever source it came from. */
export type Option = Common &
  (
    | { kind: 'string'; default?: string }
    | { kind: 'bool'; default?: boolean }
    | { kind: 'int' | 'number'; min: number; max: number; default?: number }
  );

/** Every server setting: flag, environment variable and config-file key (the camelCase name) in one table. */
export const OPTIONS = {
  host: { flag: 'host', env: 'EARSHOT_HOST', kind: 'string', help: 'address to bind', default: '0.0.0.0' },
  port: {
    flag: 'port',
    env: 'EARSHOT_PORT',
    kind: 'int',
    min: 0,
    max: 65535,
    help: 'port (0 = any free port)',
    default: 8080,
  },
  model: {
    flag: 'model',
    env: 'EARSHOT_MODEL',
    kind: 'string',
    help: 'model dir, hub name (tiny.en, base, ...) or synthetic:SIZE',
    // Runs anywhere, offline included; the banner says loudly that its text is meaningless.
    default: 'synthetic:tiny',
  },
  dtype: {
    flag: 'dtype',
    env: 'EARSHOT_DTYPE',
    kind: 'string',
    choices: DTYPES,
    noun: 'a dtype',
    help: 'weights variant',
  },
  device: {
    flag: 'device',
    env: 'EARSHOT_DEVICE',
    kind: 'string',
    choices: ['cpu', 'cuda'],
    help: 'inference device (cuda falls back to cpu)',
    default: 'cpu',
  },
  vadModel: {
    flag: 'vad-model',
    env: 'EARSHOT_VAD_MODEL',
    kind: 'string',
    arg: 'model',
    help: 'Silero VAD for streams, files and the CLI: v6, v5, v4 (scores steady background noise as speech) or an ONNX FILE',
    default: DEFAULT_SILERO,
  },
  threads: {
    flag: 'threads',
    env: 'EARSHOT_THREADS',
    kind: 'int',
    min: 0,
    max: 256,
    help: 'onnxruntime threads (0 = all cores)',
    default: 0,
  },
  transport: {
    flag: 'transport',
    env: 'EARSHOT_TRANSPORT',
    kind: 'string',
    choices: ['auto', 'uws', 'ws'],
    help: 'WebSocket server: uws (uWebSockets.js) or ws',
    default: 'auto',
  },
  store: {
    flag: 'store',
    env: 'EARSHOT_STORE',
    kind: 'string',
    arg: 'store',
    help: "transcript store: file (one fsync'd file per session in --data-dir), redis://HOST:PORT (shared by replicas) or memory",
    default: 'file',
  },
  dataDir: {
    flag: 'data-dir',
    env: 'EARSHOT_DATA_DIR',
    kind: 'string',
    arg: 'dir',
    help: 'where --store file keeps transcripts',
    default: join(process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'earshot'),
  },
  retentionHours: {
    flag: 'retention',
    env: 'EARSHOT_RETENTION_HOURS',
    kind: 'number',
    min: 0,
    max: 1_000_000,
    help: "hours a finished session's transcript is kept (file and redis stores; 0 = forever)",
    default: 168,
  },
  jwtSecret: {
    flag: 'jwt-secret',
    env: 'EARSHOT_JWT_SECRET',
    kind: 'string',
    arg: 'secret',
    help: 'HS256 secret for Bearer JWTs',
  },
  jwksUrl: {
    flag: 'jwks-url',
    env: 'EARSHOT_JWKS_URL',
    kind: 'string',
    arg: 'url',
    help: 'JWKS URL for Bearer JWTs',
  },
  jwtAudience: {
    flag: 'jwt-audience',
    env: 'EARSHOT_JWT_AUDIENCE',
    kind: 'string',
    arg: 'aud',
    help: 'required JWT aud',
  },
  jwtIssuer: {
    flag: 'jwt-issuer',
    env: 'EARSHOT_JWT_ISSUER',
    kind: 'string',
    arg: 'iss',
    help: 'required JWT iss',
  },
  apiKeys: {
    flag: 'api-keys',
    env: 'EARSHOT_API_KEYS',
    kind: 'string',
    arg: 'keys',
    help: 'API keys: NAME:KEY[:admin],... (KEY in clear or sha256:HEX), or @FILE',
  },
  apiKeysFile: {
    flag: 'api-keys-file',
    env: 'EARSHOT_API_KEYS_FILE',
    kind: 'string',
    arg: 'file',
    help: 'API keys file, one `name sha256:HEX [admin]` a line (earshot keys create); reloaded on change and SIGHUP',
  },
  allowedOrigins: {
    flag: 'allowed-origins',
    env: 'EARSHOT_ALLOWED_ORIGINS',
    kind: 'string',
    arg: 'origins',
    help: "browser Origins allowed to connect besides the page's own, comma-separated, or *",
  },
  allowedHosts: {
    flag: 'allowed-hosts',
    env: 'EARSHOT_ALLOWED_HOSTS',
    kind: 'string',
    arg: 'names',
    help: 'Host header names served besides localhost, IP addresses and --host (DNS rebinding check), comma-separated, or *',
  },
  allowAnonymous: {
    flag: 'allow-anonymous',
    env: 'EARSHOT_ALLOW_ANONYMOUS',
    kind: 'bool',
    help: 'with no auth configured, serve non-loopback clients too (anyone who reaches the port)',
  },
  // Without it the built-in embedding (pitch and formants) labels speakers.
  speakerModel: {
    flag: 'speaker-model',
    env: 'EARSHOT_SPEAKER_MODEL',
    kind: 'string',
    arg: 'model',
    help: 'speaker-embedding ONNX model for diarization: a name (campplus, eres2net, titanet-small, titanet-large, wespeaker-resnet34, campplus-zh-en; README "Trained speaker models"), a file, a directory, or owner/repo:file.onnx on the hub',
  },
  audioSecondsPerHour: {
    flag: 'audio-seconds-per-hour',
    env: 'EARSHOT_AUDIO_SECONDS_PER_HOUR',
    kind: 'int',
    min: 0,
    max: 1e9,
    help: 'audio seconds a subject may send per rolling hour, streams and files (0 = no limit)',
    default: 0,
  },
  audioSecondsPerDay: {
    flag: 'audio-seconds-per-day',
    env: 'EARSHOT_AUDIO_SECONDS_PER_DAY',
    kind: 'int',
    min: 0,
    max: 1e9,
    help: 'audio seconds a subject may send per rolling day (0 = no limit)',
    default: 0,
  },
  concurrentStreams: {
    flag: 'concurrent-streams',
    env: 'EARSHOT_CONCURRENT_STREAMS',
    kind: 'int',
    min: 0,
    max: 1_000_000,
    help: 'live streams per subject (0 = no limit)',
    default: 0,
  },
  maxSessionSeconds: {
    flag: 'max-session-seconds',
    env: 'EARSHOT_MAX_SESSION_SECONDS',
    kind: 'int',
    min: 0,
    max: 1e9,
    help: 'longest stream, wall clock; then 1008 after its finals (0 = no limit)',
    default: 0,
  },
  requestsPerMinute: {
    flag: 'requests-per-minute',
    env: 'EARSHOT_REQUESTS_PER_MINUTE',
    kind: 'int',
    min: 0,
    max: 1_000_000,
    help: 'file transcriptions per minute per subject (0 = no limit)',
    default: 0,
  },
  connectionsPerSecond: {
    flag: 'connections-per-second',
    env: 'EARSHOT_CONNECTIONS_PER_SECOND',
    kind: 'int',
    min: 0,
    max: 1_000_000,
    help: 'new connections and requests per second per client address (0 = no limit)',
    default: 0,
  },
  maxStreams: {
    flag: 'max-streams',
    env: 'EARSHOT_MAX_STREAMS',
    kind: 'int',
    min: 1,
    max: 1_000_000,
    help: 'hard cap on live streams',
    default: 100,
  },
  admissionTarget: {
    flag: 'admission-target',
    env: 'EARSHOT_ADMISSION_TARGET',
    kind: 'number',
    min: 0,
    max: 1,
    help: 'inference utilisation new streams may fill (0 = only --max-streams limits)',
    default: 0.95,
  },
  endpointingMs: {
    flag: 'endpointing',
    env: 'EARSHOT_ENDPOINTING_MS',
    kind: 'int',
    min: 10,
    max: 60000,
    help: 'default silence (ms) that ends an utterance',
    default: 500,
  },
  maxUtteranceSeconds: {
    flag: 'max-utterance',
    env: 'EARSHOT_MAX_UTTERANCE',
    kind: 'number',
    min: 5,
    // One utterance, pads included, is one Whisper window (30 s).
    max: 30,
    help: 'longest utterance (s): one still going is cut at its quietest recent point (not speech_final)',
    default: 30,
  },
  earlyFinals: {
    flag: 'early-finals',
    env: 'EARSHOT_EARLY_FINALS',
    kind: 'bool',
    help: 'decode a final while its endpointing silence passes (ready up to endpointing - 200 ms sooner)',
    default: true,
  },
  interimIntervalMs: {
    flag: 'interim-interval',
    env: 'EARSHOT_INTERIM_INTERVAL_MS',
    kind: 'int',
    min: 100,
    max: 60000,
    help: 'interim cadence (ms) at nominal load',
    default: 1000,
  },
  maxBatch: {
    flag: 'max-batch',
    env: 'EARSHOT_MAX_BATCH',
    kind: 'int',
    min: 1,
    max: 64,
    help: 'most windows per inference batch',
    default: 8,
  },
  riders: {
    flag: 'riders',
    env: 'EARSHOT_RIDERS',
    kind: 'int',
    min: 0,
    max: 64,
    help: 'interims a batch of finals may carry (default: what the calibrated call cost pays for; 0 on a CPU)',
  },
  batchWindowMs: {
    flag: 'batch-window',
    env: 'EARSHOT_BATCH_WINDOW_MS',
    kind: 'int',
    min: 0,
    max: 1000,
    help: 'wait (ms) to fill a batch',
    default: 5,
  },
  idleTimeoutMs: {
    flag: 'idle-timeout',
    env: 'EARSHOT_IDLE_TIMEOUT_MS',
    kind: 'int',
    min: 0,
    max: 3_600_000,
    help: 'close a stream without audio or KeepAlive (ms; NET-0001)',
    default: 10_000,
  },
  drainTimeoutMs: {
    flag: 'drain-timeout',
    env: 'EARSHOT_DRAIN_TIMEOUT_MS',
    kind: 'int',
    min: 0,
    max: 600_000,
    help: 'SIGTERM: longest wait (ms) for streams to finish',
    default: 30_000,
  },
  flushTimeoutMs: {
    flag: 'flush-timeout',
    env: 'EARSHOT_FLUSH_TIMEOUT_MS',
    kind: 'int',
    min: 0,
    max: 3_600_000,
    help: 'CloseStream: longest wait (ms) for the last finals, then 1011 naming what was not decoded (0 = none)',
    default: 60_000,
  },
  maxFrameBytes: {
    flag: 'max-frame-bytes',
    env: 'EARSHOT_MAX_FRAME_BYTES',
    kind: 'int',
    min: 1024,
    max: 64 * 1024 * 1024,
    help: 'largest WebSocket frame (bigger closes 1009)',
    default: 1024 * 1024,
  },
  maxBodyBytes: {
    flag: 'max-body-bytes',
    env: 'EARSHOT_MAX_BODY_BYTES',
    kind: 'int',
    min: 1024,
    max: 2 ** 31,
    help: 'largest HTTP upload',
    default: 200 * 1024 * 1024,
  },
  bodyTimeoutMs: {
    flag: 'body-timeout',
    env: 'EARSHOT_BODY_TIMEOUT_MS',
    kind: 'int',
    min: 1000,
    max: 3_600_000,
    help: 'an HTTP upload must arrive whole within this (ms; else 408)',
    default: 300_000,
  },
  maxAudioSeconds: {
    flag: 'max-audio-seconds',
    env: 'EARSHOT_MAX_AUDIO_SECONDS',
    kind: 'int',
    min: 1,
    max: 86_400,
    help: 'longest audio one upload may decode to (s; longer is refused with 400)',
    // 2 h of 16 kHz float32 is 460 MB per job.
    default: 7200,
  },
  logLevel: {
    flag: 'log-level',
    env: 'EARSHOT_LOG_LEVEL',
    kind: 'string',
    choices: ['trace', 'debug', 'info', 'warn', 'error', 'silent'],
    help: 'log level',
    default: 'info',
  },
} as const satisfies Record<string, Option>;

type Options = typeof OPTIONS;
/** An option's value: one of its choices, else by kind. */
type ValueOf<O> = O extends { choices: readonly (infer C)[] }
  ? C
  : O extends { kind: 'bool' }
    ? boolean
    : O extends { kind: 'int' | 'number' }
      ? number
      : string;
type WithDefault = {
  [K in keyof Options]: Options[K] extends { default: unknown } ? K : never;
}[keyof Options];

/** The settings: an option with a default always has a value, the others may be absent. */
export type ServerConfig = { -readonly [K in WithDefault]: ValueOf<Options[K]> } & {
  -readonly [K in Exclude<keyof Options, WithDefault>]?: ValueOf<Options[K]>;
};

export const DEFAULTS = Object.fromEntries(
  Object.entries(OPTIONS).flatMap(([k, o]) => ('default' in o ? [[k, o.default]] : [])),
) as unknown as ServerConfig;
