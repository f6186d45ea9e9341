// Every server setting in one table (flag, environment variable, config-file key, range, help), and the one
// loader that applies flags > environment > config file > defaults. Over 400 lines because the table is the
// documentation: splitting it would scatter what an operator reads in one place.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, Option as CommanderOption } from 'commander';
import { isDtype, type Dtype } from '../models/whisper/model-dir.js';
import { DEFAULT_SILERO, vadModelProblem } from '../models/vad/silero-files.js';

/** A configuration value that cannot be used; startup stops with this one line (exit 2). */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

interface Common {
  flag: string;
  env: string;
  help: string;
  /** The placeholder in --help (`--port <n>`). */
  arg?: string;
  choices?: readonly string[];
  /**
   * false: part of the contract but not built yet, so startup refuses it rather than ignoring it; a list: only
   * values of these schemes work (`memory`, `file:DIR` is scheme `file`). Absent: implemented.
   */
  implemented?: false | readonly string[];
}

/** Numbers always carry their range: every numeric value is checked, whichever source it came from. */
type Option = Common &
  ({ kind: 'string' } | { kind: 'bool' } | { kind: 'int' | 'number'; min: number; max: number });

/** Every server setting: flag, environment variable and config-file key (the camelCase name) in one table. */
export const OPTIONS = {
  host: { flag: 'host', env: 'EARSHOT_HOST', kind: 'string', help: 'address to bind' },
  port: {
    flag: 'port',
    env: 'EARSHOT_PORT',
    kind: 'int',
    min: 0,
    max: 65535,
    help: 'port (0 = any free port)',
  },
  model: {
    flag: 'model',
    env: 'EARSHOT_MODEL',
    kind: 'string',
    help: 'model dir, hub name (tiny.en, base, ...) or synthetic:SIZE',
  },
  dtype: {
    flag: 'dtype',
    env: 'EARSHOT_DTYPE',
    kind: 'string',
    help: 'weights variant: fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4',
  },
  device: {
    flag: 'device',
    env: 'EARSHOT_DEVICE',
    kind: 'string',
    choices: ['cpu', 'cuda'],
    help: 'inference device (cuda falls back to cpu)',
  },
  vadModel: {
    flag: 'vad-model',
    env: 'EARSHOT_VAD_MODEL',
    kind: 'string',
    arg: 'model',
    help: 'Silero VAD for streams, files and the CLI: v6, v5, v4 (scores steady background noise as speech) or an ONNX FILE',
  },
  threads: {
    flag: 'threads',
    env: 'EARSHOT_THREADS',
    kind: 'int',
    min: 0,
    max: 256,
    help: 'onnxruntime threads (0 = all cores)',
  },
  transport: {
    flag: 'transport',
    env: 'EARSHOT_TRANSPORT',
    kind: 'string',
    choices: ['auto', 'uws', 'ws'],
    help: 'WebSocket server: uws (uWebSockets.js) or ws',
  },
  store: {
    flag: 'store',
    env: 'EARSHOT_STORE',
    kind: 'string',
    arg: 'store',
    help: "transcript store: file (one fsync'd file per session in --data-dir), redis://HOST:PORT (shared by replicas) or memory",
  },
  dataDir: {
    flag: 'data-dir',
    env: 'EARSHOT_DATA_DIR',
    kind: 'string',
    arg: 'dir',
    help: 'where --store file keeps transcripts',
  },
  retentionHours: {
    flag: 'retention',
    env: 'EARSHOT_RETENTION_HOURS',
    kind: 'number',
    min: 0,
    max: 1_000_000,
    help: "hours a finished session's transcript is kept (file and redis stores; 0 = forever)",
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
    help: 'speaker-embedding ONNX model for diarization: a file, a directory, or owner/repo:file.onnx on the hub',
  },
  audioSecondsPerHour: {
    flag: 'audio-seconds-per-hour',
    env: 'EARSHOT_AUDIO_SECONDS_PER_HOUR',
    kind: 'int',
    min: 0,
    max: 1e9,
    help: 'audio seconds a subject may send per rolling hour, streams and files (0 = no limit)',
  },
  audioSecondsPerDay: {
    flag: 'audio-seconds-per-day',
    env: 'EARSHOT_AUDIO_SECONDS_PER_DAY',
    kind: 'int',
    min: 0,
    max: 1e9,
    help: 'audio seconds a subject may send per rolling day (0 = no limit)',
  },
  concurrentStreams: {
    flag: 'concurrent-streams',
    env: 'EARSHOT_CONCURRENT_STREAMS',
    kind: 'int',
    min: 0,
    max: 1_000_000,
    help: 'live streams per subject (0 = no limit)',
  },
  maxSessionSeconds: {
    flag: 'max-session-seconds',
    env: 'EARSHOT_MAX_SESSION_SECONDS',
    kind: 'int',
    min: 0,
    max: 1e9,
    help: 'longest stream, wall clock; then 1008 after its finals (0 = no limit)',
  },
  requestsPerMinute: {
    flag: 'requests-per-minute',
    env: 'EARSHOT_REQUESTS_PER_MINUTE',
    kind: 'int',
    min: 0,
    max: 1_000_000,
    help: 'file transcriptions per minute per subject (0 = no limit)',
  },
  connectionsPerSecond: {
    flag: 'connections-per-second',
    env: 'EARSHOT_CONNECTIONS_PER_SECOND',
    kind: 'int',
    min: 0,
    max: 1_000_000,
    help: 'new connections and requests per second per client address (0 = no limit)',
  },
  maxStreams: {
    flag: 'max-streams',
    env: 'EARSHOT_MAX_STREAMS',
    kind: 'int',
    min: 1,
    max: 1_000_000,
    help: 'hard cap on live streams',
  },
  admissionTarget: {
    flag: 'admission-target',
    env: 'EARSHOT_ADMISSION_TARGET',
    kind: 'number',
    min: 0,
    max: 1,
    help: 'inference utilisation new streams may fill (0 = only --max-streams limits)',
  },
  endpointingMs: {
    flag: 'endpointing',
    env: 'EARSHOT_ENDPOINTING_MS',
    kind: 'int',
    min: 10,
    max: 60000,
    help: 'default silence (ms) that ends an utterance',
  },
  maxUtteranceSeconds: {
    flag: 'max-utterance',
    env: 'EARSHOT_MAX_UTTERANCE',
    kind: 'number',
    min: 5,
    // One utterance, pads included, is one Whisper window (30 s).
    max: 30,
    help: 'longest utterance (s): one still going is cut at its quietest recent point (not speech_final)',
  },
  interimIntervalMs: {
    flag: 'interim-interval',
    env: 'EARSHOT_INTERIM_INTERVAL_MS',
    kind: 'int',
    min: 100,
    max: 60000,
    help: 'interim cadence (ms) at nominal load',
  },
  maxBatch: {
    flag: 'max-batch',
    env: 'EARSHOT_MAX_BATCH',
    kind: 'int',
    min: 1,
    max: 64,
    help: 'most windows per inference batch',
  },
  batchWindowMs: {
    flag: 'batch-window',
    env: 'EARSHOT_BATCH_WINDOW_MS',
    kind: 'int',
    min: 0,
    max: 1000,
    help: 'wait (ms) to fill a batch',
  },
  idleTimeoutMs: {
    flag: 'idle-timeout',
    env: 'EARSHOT_IDLE_TIMEOUT_MS',
    kind: 'int',
    min: 0,
    max: 3_600_000,
    help: 'close a stream without audio or KeepAlive (ms; NET-0001)',
  },
  drainTimeoutMs: {
    flag: 'drain-timeout',
    env: 'EARSHOT_DRAIN_TIMEOUT_MS',
    kind: 'int',
    min: 0,
    max: 600_000,
    help: 'SIGTERM: longest wait (ms) for streams to finish',
  },
  flushTimeoutMs: {
    flag: 'flush-timeout',
    env: 'EARSHOT_FLUSH_TIMEOUT_MS',
    kind: 'int',
    min: 0,
    max: 3_600_000,
    help: 'CloseStream: longest wait (ms) for the last finals, then 1011 naming what was not decoded (0 = none)',
  },
  maxFrameBytes: {
    flag: 'max-frame-bytes',
    env: 'EARSHOT_MAX_FRAME_BYTES',
    kind: 'int',
    min: 1024,
    max: 64 * 1024 * 1024,
    help: 'largest WebSocket frame (bigger closes 1009)',
  },
  maxBodyBytes: {
    flag: 'max-body-bytes',
    env: 'EARSHOT_MAX_BODY_BYTES',
    kind: 'int',
    min: 1024,
    max: 2 ** 31,
    help: 'largest HTTP upload',
  },
  bodyTimeoutMs: {
    flag: 'body-timeout',
    env: 'EARSHOT_BODY_TIMEOUT_MS',
    kind: 'int',
    min: 1000,
    max: 3_600_000,
    help: 'an HTTP upload must arrive whole within this (ms; else 408)',
  },
  maxAudioSeconds: {
    flag: 'max-audio-seconds',
    env: 'EARSHOT_MAX_AUDIO_SECONDS',
    kind: 'int',
    min: 1,
    max: 86_400,
    help: 'longest audio one upload may decode to (s; longer is refused with 400)',
  },
  logLevel: {
    flag: 'log-level',
    env: 'EARSHOT_LOG_LEVEL',
    kind: 'string',
    choices: ['trace', 'debug', 'info', 'warn', 'error', 'silent'],
    help: 'log level',
  },
} as const satisfies Record<string, Option>;

export interface ServerConfig {
  host: string;
  port: number;
  model: string;
  dtype?: Dtype;
  device: 'cpu' | 'cuda';
  vadModel: string;
  threads: number;
  transport: 'auto' | 'uws' | 'ws';
  store: string;
  dataDir: string;
  retentionHours: number;
  jwtSecret?: string;
  jwksUrl?: string;
  jwtAudience?: string;
  jwtIssuer?: string;
  apiKeys?: string;
  apiKeysFile?: string;
  allowedOrigins?: string;
  allowedHosts?: string;
  allowAnonymous?: boolean;
  speakerModel?: string;
  audioSecondsPerHour: number;
  audioSecondsPerDay: number;
  concurrentStreams: number;
  maxSessionSeconds: number;
  requestsPerMinute: number;
  connectionsPerSecond: number;
  maxStreams: number;
  admissionTarget: number;
  endpointingMs: number;
  maxUtteranceSeconds: number;
  interimIntervalMs: number;
  maxBatch: number;
  batchWindowMs: number;
  idleTimeoutMs: number;
  drainTimeoutMs: number;
  flushTimeoutMs: number;
  maxFrameBytes: number;
  maxBodyBytes: number;
  bodyTimeoutMs: number;
  maxAudioSeconds: number;
  logLevel: string;
}

export const DEFAULTS: ServerConfig = {
  host: '0.0.0.0',
  port: 8080,
  // Runs anywhere, offline included; the banner says loudly that its text is meaningless.
  model: 'synthetic:tiny',
  device: 'cpu',
  vadModel: DEFAULT_SILERO,
  threads: 0,
  transport: 'auto',
  store: 'file',
  dataDir: join(process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'earshot'),
  retentionHours: 168,
  audioSecondsPerHour: 0,
  audioSecondsPerDay: 0,
  concurrentStreams: 0,
  maxSessionSeconds: 0,
  requestsPerMinute: 0,
  connectionsPerSecond: 0,
  maxStreams: 100,
  admissionTarget: 0.95,
  endpointingMs: 500,
  maxUtteranceSeconds: 30,
  interimIntervalMs: 1000,
  maxBatch: 8,
  batchWindowMs: 5,
  idleTimeoutMs: 10_000,
  drainTimeoutMs: 30_000,
  flushTimeoutMs: 60_000,
  maxFrameBytes: 1024 * 1024,
  maxBodyBytes: 200 * 1024 * 1024,
  bodyTimeoutMs: 300_000,
  // 2 h of 16 kHz float32 is 460 MB per job.
  maxAudioSeconds: 7200,
  logLevel: 'info',
};

type Key = keyof typeof OPTIONS;
type Source = { kind: 'flag' } | { kind: 'env' } | { kind: 'config'; file: string };

const entries = Object.entries(OPTIONS) as [Key, Option][];

/** Names where a value came from, as the user wrote it: the flag, the variable, or the file and its key. */
function origin(key: Key, source: Source): string {
  const o: Option = OPTIONS[key];
  if (source.kind === 'flag') return `--${o.flag}`;
  return source.kind === 'env' ? o.env : `config file ${source.file}: "${key}"`;
}

export interface NumberSpec {
  kind: 'int' | 'number';
  min: number;
  max: number;
}

/**
 * A number checked against its range. Text (flags, environment) is parsed; a JSON config file must use JSON
 * numbers, so `textAllowed` is false there. The message names `where` and the range.
 */
export function checkedNumber(where: string, raw: unknown, spec: NumberSpec, textAllowed = true): number {
  const text = textAllowed && typeof raw === 'string' && raw.trim() !== '';
  const n = typeof raw === 'number' ? raw : text ? Number(raw) : NaN;
  const what = spec.kind === 'int' ? 'an integer' : 'a number';
  if (!Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n))) {
    throw new ConfigError(
      `${where}: expected ${what} from ${spec.min} to ${spec.max}, got ${JSON.stringify(raw)}`,
    );
  }
  if (n < spec.min || n > spec.max)
    throw new ConfigError(`${where}: ${n} is outside ${spec.min}..${spec.max}`);
  return n;
}

/** --store values; file:DIR is short for `--store file --data-dir DIR`. */
const STORE = /^(memory|file(:.+)?|rediss?:\/\/.+)$/;

const DTYPES = 'fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4';

/** A --dtype value, checked. */
export function checkedDtype(where: string, raw: string | undefined): Dtype | undefined {
  if (raw === undefined) return undefined;
  if (!isDtype(raw)) throw new ConfigError(`${where} ${raw} is not one of ${DTYPES}`);
  return raw;
}

function coerce(key: Key, raw: unknown, source: Source): unknown {
  const o: Option = OPTIONS[key];
  const where = origin(key, source);
  let value: unknown;
  if (o.kind === 'string') {
    if (typeof raw !== 'string' || raw === '') throw new ConfigError(`${where}: expected a non-empty string`);
    if (o.choices && !o.choices.includes(raw))
      throw new ConfigError(`${where}: "${raw}" is not one of ${o.choices.join(', ')}`);
    if (key === 'store' && !STORE.test(raw))
      throw new ConfigError(
        // A URL may carry a password: only its scheme is echoed.
        `${where}: "${raw.includes(':') ? `${raw.split(':')[0]}:...` : raw}" is not memory, file, file:DIR or redis://HOST:PORT`,
      );
    if (key === 'dtype' && !isDtype(raw))
      throw new ConfigError(`${where}: "${raw}" is not a dtype (${DTYPES})`);
    const vadProblem = key === 'vadModel' ? vadModelProblem(raw) : undefined;
    if (vadProblem) throw new ConfigError(`${where}: ${vadProblem}`);
    value = raw;
  } else if (o.kind === 'bool') {
    if (typeof raw === 'boolean') value = raw;
    else if (raw === 'true' || raw === '1') value = true;
    else if (raw === 'false' || raw === '0') value = false;
    else throw new ConfigError(`${where}: expected true or false, got ${JSON.stringify(raw)}`);
  } else {
    value = checkedNumber(where, raw, o, source.kind !== 'config');
  }
  refuseUnimplemented(key, value, source);
  return value;
}

/** An option of the contract that is not built yet stops startup: accepting and ignoring it would mislead. */
function refuseUnimplemented(key: Key, value: unknown, source: Source): void {
  const o: Option = OPTIONS[key];
  if (o.implemented === undefined) return;
  const scheme = String(value).split(':')[0];
  if (o.implemented !== false && o.implemented.includes(scheme)) return;
  const what =
    o.implemented === false ? `--${o.flag}` : `--${o.flag} ${scheme}${scheme === value ? '' : ':...'}`;
  const from =
    source.kind === 'flag' ? '' : ` (from ${source.kind === 'env' ? o.env : `config file ${source.file}`})`;
  const remedy =
    o.implemented !== false
      ? `use ${o.implemented.map((v) => `--${o.flag} ${v}`).join(' or ')}`
      : source.kind === 'flag'
        ? 'remove it'
        : source.kind === 'env'
          ? `unset ${o.env}`
          : `remove "${key}" from the file`;
  throw new ConfigError(`${what}${from} is not implemented yet in this version; ${remedy}`);
}

function placeholder(key: Key, o: Option): string {
  if (o.kind === 'int' || o.kind === 'number')
    return key.endsWith('Ms') ? 'ms' : key.endsWith('Bytes') ? 'bytes' : 'n';
  return o.arg ?? o.flag.split('-').pop()!;
}

function describe(key: Key, o: Option): string {
  const parts = [o.help];
  if (o.choices) parts.push(`(${o.choices.join('|')})`);
  if (o.kind === 'int' || o.kind === 'number') parts.push(`(${o.min}..${o.max})`);
  // The config-file key is the camelCase flag unless the name carries a unit.
  const camel = o.flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
  if (camel !== key) parts.push(`[config: ${key}]`);
  if (o.implemented === false) parts.push('(NOT IMPLEMENTED YET: refused)');
  return parts.join(' ');
}

/**
 * `earshot serve`'s command line, generated from OPTIONS: per-option help with range, default and variable.
 * Commander parses only; precedence and checks are configFromCommand's, so they hold for every source.
 */
export function serveCommandLine(): Command {
  const cmd = new Command('serve')
    .description('serve live transcription (Deepgram /v1/listen), the file routes and the captions page')
    .addHelpText(
      'after',
      '\nPrecedence: flags > environment > --config FILE (JSON, camelCase keys: maxBatch) > defaults.',
    );
  for (const [key, o] of entries) {
    const arg = o.kind === 'bool' ? '' : ` <${placeholder(key, o)}>`;
    const opt = new CommanderOption(`--${o.flag}${arg}`, describe(key, o)).env(o.env);
    const fallback = (DEFAULTS as unknown as Record<string, unknown>)[key];
    if (fallback !== undefined) opt.default(fallback);
    cmd.addOption(opt);
  }
  cmd.addOption(
    new CommanderOption('--config <file>', 'JSON file with any of the options above').env('EARSHOT_CONFIG'),
  );
  return cmd;
}

/** flags > environment > config file > defaults, from a parsed serveCommandLine(). */
export function configFromCommand(cmd: Command, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  // Commander also fills in defaults and process.env; only what was typed on this command line counts here.
  const typed = (flag: string): unknown => {
    const name = cmd.options.find((x) => x.long === `--${flag}`)?.attributeName();
    return name !== undefined && cmd.getOptionValueSource(name) === 'cli'
      ? cmd.getOptionValue(name)
      : undefined;
  };
  const out: Record<string, unknown> = { ...DEFAULTS };
  const file = (typed('config') as string | undefined) ?? (env.EARSHOT_CONFIG || undefined);
  if (file) Object.assign(out, readConfigFile(file));
  for (const [k, o] of entries) {
    const v = env[o.env];
    if (v !== undefined && v !== '') out[k] = coerce(k, v, { kind: 'env' });
  }
  for (const [k, o] of entries) {
    const v = typed(o.flag);
    if (v !== undefined) out[k] = coerce(k, v, { kind: 'flag' });
  }
  return out as unknown as ServerConfig;
}

function readConfigFile(file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT'
        ? 'no such file'
        : e instanceof SyntaxError
          ? `not valid JSON (${e.message})`
          : e.message;
    throw new ConfigError(`config file ${file}: ${why}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json))
    throw new ConfigError(`config file ${file}: expected a JSON object of options ({"port": 8080})`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    if (!(k in OPTIONS))
      throw new ConfigError(
        `config file ${file}: unknown key "${k}" (keys: ${Object.keys(OPTIONS).join(', ')})`,
      );
    out[k] = coerce(k as Key, v, { kind: 'config', file });
  }
  return out;
}

/** Commander's error text as one line without its "error: " prefix. */
export function commanderMessage(err: Error): string {
  return err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
}

/** Parses serve's arguments without touching the process (no output, no exit): for tests and embedding. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const cmd = serveCommandLine()
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (err) {
    throw new ConfigError(`${commanderMessage(err as Error)} (earshot serve --help lists the options)`);
  }
  return configFromCommand(cmd, env);
}
