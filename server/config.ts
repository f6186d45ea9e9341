// The one loader of the server's settings (options.ts is their table): flags > environment > config file >
// defaults, every value checked whichever source it came from.
import { readFileSync } from 'node:fs';
import { Command, Option as CommanderOption } from 'commander';
import { DTYPES, isDtype, type Dtype } from '../models/whisper/model-dir.js';
import { vadModelProblem } from '../models/vad/silero-files.js';
import { DEFAULTS, OPTIONS, type Option, type ServerConfig } from './options.js';

/** A configuration value that cannot be used; startup stops with this one line (exit 2). */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

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

/** A --dtype value, checked. */
export function checkedDtype(where: string, raw: string | undefined): Dtype | undefined {
  if (raw === undefined) return undefined;
  if (!isDtype(raw)) throw new ConfigError(`${where} ${raw} is not one of ${DTYPES.join(', ')}`);
  return raw;
}

function coerce(key: Key, raw: unknown, source: Source): unknown {
  const o: Option = OPTIONS[key];
  const where = origin(key, source);
  let value: unknown;
  if (o.kind === 'string') {
    if (typeof raw !== 'string' || raw === '') throw new ConfigError(`${where}: expected a non-empty string`);
    if (o.choices && !o.choices.includes(raw)) {
      const list = o.choices.join(', ');
      throw new ConfigError(`${where}: "${raw}" is not ${o.noun ? `${o.noun} (${list})` : `one of ${list}`}`);
    }
    if (key === 'store' && !STORE.test(raw))
      throw new ConfigError(
        // A URL may carry a password: only its scheme is echoed.
        `${where}: "${raw.includes(':') ? `${raw.split(':')[0]}:...` : raw}" is not memory, file, file:DIR or redis://HOST:PORT`,
      );
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
  return value;
}

function placeholder(key: Key, o: Option): string {
  if (o.kind === 'bool') return 'true|false';
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
    // A switch that is on by default takes its value: --early-finals false.
    const arg = o.kind === 'bool' && !o.default ? '' : ` <${placeholder(key, o)}>`;
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
