import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from './errors.js';
import { defaultCacheDir } from './hub/cache.js';
import { type HubOptions } from './hub/client.js';
import { pullSpeakerModel, speakerModelOnHub, unknownSpeakerModel } from './speaker/hub-models.js';
import { pullModel } from './whisper/hub-files.js';
import { progressBar } from './hub/progress.js';
import {
  SYNTH_GENERATOR_VERSION,
  synthesizeWhisper,
  type SynthDtype,
  type SynthSize,
} from './synth/index.js';

const SYNTH_SIZES: readonly SynthSize[] = ['micro', 'tiny', 'base', 'small'];

export interface ResolveOptions extends HubOptions {
  dtype?: string;
  log?: (msg: string) => void;
}

/**
 * Turns a --model value into a local onnx-community directory: an existing directory is used as is,
 * `synthetic:SIZE[:timestamped][:script=...]` is built once into the cache, anything else is a hub model name
 * pulled into the cache (with a progress bar) on first use.
 */
export async function resolveModel(spec: string, opts: ResolveOptions = {}): Promise<string> {
  if (existsSync(spec) && statSync(spec).isDirectory()) return spec;
  if (spec.startsWith('synthetic:')) return synthesizeCached(spec, opts);
  if (spec.startsWith('/') || spec.startsWith('.')) {
    throw new ModelLoadError(
      `model directory ${spec} does not exist (pass --model DIR with an onnx-community Whisper export, a name such as tiny.en, or synthetic:tiny)`,
    );
  }
  return pullModel(spec, {
    ...opts,
    dtype: opts.dtype ?? 'fp32',
    onProgress: opts.onProgress ?? terminalProgress(),
  });
}

/**
 * Turns a --speaker-model value into a local path: an existing file or directory as is, a known name (campplus,
 * wespeaker-resnet34, ...: models/speaker/hub-models.ts) or `owner/repo:file.onnx` fetched from the hub into its
 * cache on first use (with a progress bar on a terminal). A bare word that is no known name is refused with the
 * names; any other path is returned unchanged for the loader to name as missing.
 */
export async function resolveSpeakerModel(spec: string, opts: HubOptions = {}): Promise<string> {
  if (existsSync(spec)) return spec;
  if (speakerModelOnHub(spec)) {
    return pullSpeakerModel(spec, { ...opts, onProgress: opts.onProgress ?? terminalProgress() });
  }
  if (/^[\w-]+$/.test(spec)) throw unknownSpeakerModel(spec);
  return spec;
}

/** A progress bar when stderr is a terminal; none when piped (logs stay clean). */
function terminalProgress(): HubOptions['onProgress'] {
  return process.stderr.isTTY ? progressBar() : undefined;
}

export function parseSyntheticSpec(spec: string): { size: SynthSize; timestamped: boolean; script?: string } {
  const [, size, ...rest] = spec.split(':');
  if (!SYNTH_SIZES.includes(size as SynthSize)) {
    throw new ModelLoadError(`unknown synthetic model size "${size}": use one of ${SYNTH_SIZES.join(', ')}`);
  }
  let timestamped = false;
  let script: string | undefined;
  for (const part of rest) {
    if (part === 'timestamped') timestamped = true;
    else if (part.startsWith('script=')) script = decodeURIComponent(part.slice('script='.length));
    else
      throw new ModelLoadError(`unknown synthetic model option "${part}" (use timestamped or script=TEXT)`);
  }
  return { size: size as SynthSize, timestamped, script };
}

async function synthesizeCached(spec: string, opts: ResolveOptions): Promise<string> {
  const { size, timestamped, script } = parseSyntheticSpec(spec);
  const dtypes: SynthDtype[] =
    opts.dtype === 'q8' ? ['fp32', 'q8'] : opts.dtype === 'fp16' ? ['fp32', 'fp16'] : ['fp32'];
  const key = [size, timestamped ? 'ts' : '', script ? hash(script) : '', dtypes.join('+')]
    .filter(Boolean)
    .join('-');
  const dir = join(opts.cacheDir ?? defaultCacheDir(), 'synthetic', key);
  if (existsSync(join(dir, 'onnx'))) {
    if (generatorVersion(dir) === SYNTH_GENERATOR_VERSION) return dir;
    opts.log?.(`rebuilding synthetic ${size} model in ${dir} (built by an older generator)`);
  } else {
    opts.log?.(`building synthetic ${size} model into ${dir} (once)`);
  }
  // Build beside and rename, so an interrupted build never leaves a half model that looks complete.
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await synthesizeWhisper(tmp, { size, timestamped, script, dtypes });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}

/** The generator version a cached synthetic model was built by (0 when unknown: built before versions). */
function generatorVersion(dir: string): number {
  try {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
      earshot_synth?: { generator?: unknown };
    };
    const v = config.earshot_synth?.generator;
    return typeof v === 'number' ? v : 0;
  } catch {
    return 0;
  }
}

function hash(s: string): string {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h >>> 0).toString(16);
}
