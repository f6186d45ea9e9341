import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isDtype, type Dtype } from '../models/model-dir.js';

/** A configuration value that cannot be used; startup stops with this one line. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Kind = 'string' | 'int' | 'number' | 'bool';

interface Option {
  flag: string;
  env: string;
  kind: Kind;
  help: string;
  choices?: readonly string[];
  min?: number;
  max?: number;
}

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
    help: 'transcript store: memory, file:DIR or redis://...',
  },
  jwtSecret: {
    flag: 'jwt-secret',
    env: 'EARSHOT_JWT_SECRET',
    kind: 'string',
    help: 'HS256 secret for Bearer JWTs',
  },
  jwksUrl: { flag: 'jwks-url', env: 'EARSHOT_JWKS_URL', kind: 'string', help: 'JWKS URL for Bearer JWTs' },
  jwtAudience: {
    flag: 'jwt-audience',
    env: 'EARSHOT_JWT_AUDIENCE',
    kind: 'string',
    help: 'required JWT aud',
  },
  jwtIssuer: { flag: 'jwt-issuer', env: 'EARSHOT_JWT_ISSUER', kind: 'string', help: 'required JWT iss' },
  apiKeys: { flag: 'api-keys', env: 'EARSHOT_API_KEYS', kind: 'string', help: 'NAME:KEY,... or @FILE' },
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
  threads: number;
  transport: 'auto' | 'uws' | 'ws';
  store: string;
  jwtSecret?: string;
  jwksUrl?: string;
  jwtAudience?: string;
  jwtIssuer?: string;
  apiKeys?: string;
  maxStreams: number;
  admissionTarget: number;
  endpointingMs: number;
  interimIntervalMs: number;
  maxBatch: number;
  batchWindowMs: number;
  idleTimeoutMs: number;
  drainTimeoutMs: number;
  maxFrameBytes: number;
  maxBodyBytes: number;
  logLevel: string;
}

export const DEFAULTS: ServerConfig = {
  host: '0.0.0.0',
  port: 8080,
  // Runs anywhere, offline included; the banner says loudly that its text is meaningless.
  model: 'synthetic:tiny',
  device: 'cpu',
  threads: 0,
  transport: 'auto',
  store: 'memory',
  maxStreams: 100,
  admissionTarget: 0.85,
  endpointingMs: 500,
  interimIntervalMs: 1000,
  maxBatch: 8,
  batchWindowMs: 5,
  idleTimeoutMs: 10_000,
  drainTimeoutMs: 30_000,
  maxFrameBytes: 1024 * 1024,
  maxBodyBytes: 200 * 1024 * 1024,
  logLevel: 'info',
};

type Key = keyof typeof OPTIONS;

function coerce(key: Key, raw: unknown, source: string): unknown {
  const o: Option = OPTIONS[key];
  const where = `${source} ${source === 'flag' ? `--${o.flag}` : source === 'env' ? o.env : key}`;
  if (o.kind === 'string') {
    if (typeof raw !== 'string' || raw === '') throw new ConfigError(`${where}: expected a non-empty string`);
    if (o.choices && !o.choices.includes(raw))
      throw new ConfigError(`${where}: "${raw}" is not one of ${o.choices.join(', ')}`);
    if (key === 'dtype' && !isDtype(raw))
      throw new ConfigError(`${where}: "${raw}" is not a dtype (fp32, fp16, q8, ...)`);
    return raw;
  }
  if (o.kind === 'bool') {
    if (typeof raw === 'boolean') return raw;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    throw new ConfigError(`${where}: expected true or false`);
  }
  // Flags and environment are text; a JSON config file must use JSON numbers.
  const text = source !== 'config' && typeof raw === 'string' && raw.trim() !== '';
  const n = typeof raw === 'number' ? raw : text ? Number(raw) : NaN;
  if (!Number.isFinite(n) || (o.kind === 'int' && !Number.isInteger(n))) {
    throw new ConfigError(
      `${where}: expected ${o.kind === 'int' ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}`,
    );
  }
  if ((o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max)) {
    throw new ConfigError(`${where}: ${n} is outside ${o.min}..${o.max}`);
  }
  return n;
}

/** flags > environment > config file > defaults. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const options: Record<string, { type: 'string' }> = { config: { type: 'string' } };
  for (const o of Object.values(OPTIONS)) options[o.flag] = { type: 'string' };
  let flags: Record<string, string | undefined>;
  try {
    const parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    flags = parsed.values as Record<string, string | undefined>;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message} (earshot serve --help lists the options)`);
  }
  const out: Record<string, unknown> = { ...DEFAULTS };
  const file = flags.config ?? env.EARSHOT_CONFIG;
  if (file) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config file ${file}: ${(err as Error).message}`);
    }
    if (!json || typeof json !== 'object' || Array.isArray(json))
      throw new ConfigError(`config file ${file}: expected a JSON object`);
    for (const [k, v] of Object.entries(json)) {
      if (!(k in OPTIONS))
        throw new ConfigError(
          `config file ${file}: unknown key "${k}" (keys: ${Object.keys(OPTIONS).join(', ')})`,
        );
      out[k] = coerce(k as Key, v, 'config');
    }
  }
  for (const [k, o] of Object.entries(OPTIONS) as [Key, Option][]) {
    const v = env[o.env];
    if (v !== undefined && v !== '') out[k] = coerce(k, v, 'env');
  }
  for (const [k, o] of Object.entries(OPTIONS) as [Key, Option][]) {
    const v = flags[o.flag];
    if (v !== undefined) out[k] = coerce(k, v, 'flag');
  }
  return out as unknown as ServerConfig;
}

export function configHelp(): string {
  const rows = Object.values(OPTIONS).map(
    (o: Option) => `  --${o.flag.padEnd(18)} ${o.env.padEnd(30)} ${o.help}`,
  );
  return `earshot serve [options]   (flags > environment > --config FILE (JSON) > defaults)\n\n${rows.join('\n')}\n  --config FILE      EARSHOT_CONFIG                 JSON file with any of the keys above (camelCase)`;
}
