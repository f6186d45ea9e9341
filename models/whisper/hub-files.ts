// What an onnx-community Whisper repository holds, and pulling one through the generic hub client: the short
// names users type, the side files, one encoder/decoder pair per dtype, and ONNX external data named by config.json.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cachedSnapshots, exists, type CachedSnapshot } from '../hub/cache.js';
import { HubError, pullFiles, type HubOptions } from '../hub/client.js';
import { DTYPE_SUFFIX, isDtype, type Dtype } from './model-dir.js';

// Short names users type (`--model tiny.en`) and the onnx-community repos behind them.
const KNOWN_MODELS =
  'tiny tiny.en base base.en small small.en medium medium.en large-v3 large-v3-turbo'.split(' ');
// Sizes with a `_timestamped` sibling (cross-attention outputs, needed for word timestamps).
const TIMESTAMPED_MODELS = new Set(KNOWN_MODELS.filter((m) => m !== 'large-v3'));

const SIDE_FILES = [
  'config.json',
  'generation_config.json',
  'preprocessor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
];

export function repoForModelName(name: string): string {
  const trimmed = name.trim();
  if (/^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/.test(trimmed) && !/\.\.|--/.test(trimmed)) return trimmed;
  let short = trimmed.replace(/^whisper-/, '');
  let suffix = '';
  if (short.endsWith('_timestamped')) {
    short = short.slice(0, -'_timestamped'.length);
    suffix = '_timestamped';
    if (!TIMESTAMPED_MODELS.has(short)) throw unknownModel(name);
  }
  if (!KNOWN_MODELS.includes(short)) throw unknownModel(name);
  return `onnx-community/whisper-${short}${suffix}`;
}

function unknownModel(name: string): HubError {
  return new HubError(
    `unknown model "${name}": use one of ${KNOWN_MODELS.join(', ')} (optionally with _timestamped), ` +
      'a hub repo as owner/name, or a local model directory',
  );
}

export function filesForDtype(dtype: string): string[] {
  const suffix = isDtype(dtype) ? DTYPE_SUFFIX[dtype] : undefined;
  if (suffix === undefined) {
    throw new HubError(`unknown dtype "${dtype}": use one of ${Object.keys(DTYPE_SUFFIX).join(', ')}`);
  }
  return [...SIDE_FILES, `onnx/encoder_model${suffix}.onnx`, `onnx/decoder_model_merged${suffix}.onnx`];
}

/** ONNX external-data chunks named by config.json (`transformers.js_config.use_external_data_format`). */
function externalDataFiles(config: unknown, suffix: string): string[] {
  const tjs = (config as Record<string, unknown> | null)?.['transformers.js_config'] as
    { use_external_data_format?: unknown } | undefined;
  const setting = tjs?.use_external_data_format;
  if (!setting) return [];
  const out: string[] = [];
  for (const base of ['encoder_model', 'decoder_model_merged']) {
    const fullName = `${base}${suffix}.onnx`;
    // Same lookup as transformers.js: per-file map keyed by full or base name, or one value for all.
    let chunks: number;
    if (typeof setting === 'object') {
      const map = setting as Record<string, unknown>;
      chunks = Number(map[fullName] ?? map[base] ?? 0);
    } else {
      chunks = Number(setting);
    }
    if (!Number.isInteger(chunks) || chunks < 0 || chunks > 100) chunks = 0;
    for (let i = 0; i < chunks; i++) out.push(`onnx/${fullName}_data${i === 0 ? '' : `_${i}`}`);
  }
  return out;
}

/** The files of one dtype a snapshot lacks (external data chunks included once config.json is there). */
async function missingFiles(snapshot: string | null, dtype: string): Promise<string[]> {
  const wanted = filesForDtype(dtype);
  if (snapshot === null) return wanted;
  try {
    const config: unknown = JSON.parse(await readFile(join(snapshot, 'config.json'), 'utf8'));
    wanted.push(...externalDataFiles(config, DTYPE_SUFFIX[dtype as Dtype]));
  } catch {
    // no config.json yet (it is in `wanted`), or not JSON: the download step reports that
  }
  const present = await Promise.all(wanted.map((f) => exists(join(snapshot, f))));
  return wanted.filter((_, i) => !present[i]);
}

/**
 * Finds in the cache, or downloads, the files of a Whisper ONNX model and returns its snapshot directory.
 * A complete cached snapshot of the revision causes no network access.
 */
export async function pullModel(
  nameOrRepo: string,
  opts: HubOptions & { dtype?: string } = {},
): Promise<string> {
  const repo = repoForModelName(nameOrRepo);
  const dtype = opts.dtype ?? 'fp32';
  filesForDtype(dtype); // an unknown dtype fails before the cache or the network is looked at
  return pullFiles(
    repo,
    {
      missing: (snapshot) => missingFiles(snapshot, dtype),
      describe: `${repo} (revision ${opts.revision ?? 'main'}, ${dtype})`,
      pullHint: `pull it once with network access (earshot models pull ${nameOrRepo} --dtype ${dtype})`,
    },
    opts,
  );
}

/** Side files plus an encoder/decoder pair of one dtype (and its external data) are all there. */
async function isComplete(snapshot: string): Promise<boolean> {
  for (const dtype of Object.keys(DTYPE_SUFFIX)) {
    if ((await missingFiles(snapshot, dtype)).length === 0) return true;
  }
  return false;
}

/** The Whisper models in the hub cache (snapshots whose config.json says whisper), one row per snapshot. */
export async function listCachedModels(
  cacheDir?: string,
): Promise<(CachedSnapshot & { complete: boolean })[]> {
  const isWhisper = async (dir: string): Promise<boolean> =>
    /"model_type"\s*:\s*"whisper"/.test(await readFile(join(dir, 'config.json'), 'utf8').catch(() => ''));
  const snapshots = await cachedSnapshots(cacheDir, isWhisper);
  return Promise.all(snapshots.map(async (s) => ({ ...s, complete: await isComplete(s.dir) })));
}
