import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { defaultCacheDir } from '../../models/hub/cache.js';
import { listCachedModels, pullModel } from '../../models/whisper/hub-files.js';
import {
  listCachedSpeakerModels,
  pullSpeakerModel,
  SPEAKER_MODELS,
  speakerModelOnHub,
} from '../../models/speaker/hub-models.js';
import { progressBar } from '../../models/hub/progress.js';
import { synthesizeWhisper, type SynthDtype, type SynthSize } from '../../models/synth/index.js';
import { UsageError } from '../errors.js';
import { checkedDtype, checkedNumber } from '../config.js';

const SIZES: readonly SynthSize[] = ['micro', 'tiny', 'base', 'small'];

interface CachedModel {
  name: string;
  revision: string;
  dir: string;
  bytes: number;
  complete: boolean;
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) total += await dirBytes(p);
    else if (entry.isFile()) total += (await stat(p)).size;
  }
  return total;
}

/**
 * The synthetic models `--model synthetic:...` built into the cache (models/resolve.ts): one directory per
 * variant, named SIZE[-ts][-SCRIPTHASH]-DTYPES; a build in progress is a `.tmp-PID` sibling.
 */
async function listSyntheticModels(cacheDir = defaultCacheDir()): Promise<CachedModel[]> {
  const root = join(cacheDir, 'synthetic');
  let names: string[];
  try {
    names = (await readdir(root, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && !e.name.includes('.tmp-'))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
  return Promise.all(
    names.map(async (key) => {
      const [size, ...rest] = key.split('-');
      const dtypes = rest.pop() ?? 'fp32';
      const timestamped = rest.includes('ts') ? ':timestamped' : '';
      const scripted = rest.some((p) => p !== 'ts') ? ':script=...' : '';
      const dir = join(root, key);
      return {
        name: `synthetic:${size}${timestamped}${scripted}`,
        revision: dtypes,
        dir,
        bytes: await dirBytes(dir),
        complete: existsSync(join(dir, 'onnx')),
      };
    }),
  );
}

async function list(): Promise<void> {
  const cacheDir = defaultCacheDir();
  const hub = (await listCachedModels(cacheDir)).map(({ repo, ...m }) => ({ name: repo, ...m }));
  const models = [
    ...hub,
    ...(await listSyntheticModels(cacheDir)),
    ...(await listCachedSpeakerModels(cacheDir)),
  ];
  if (models.length === 0) {
    process.stdout.write(
      'no models in the cache (earshot models pull NAME; --model synthetic:tiny builds one)\n',
    );
  }
  for (const m of models) {
    const mb = (m.bytes / 1e6).toFixed(1);
    process.stdout.write(
      `${m.name}\t${m.revision}\t${mb} MB\t${m.complete ? 'complete' : 'partial'}\t${m.dir}\n`,
    );
  }
}

/** `earshot models pull|list|synth`. */
export function modelsCommand(): Command {
  const models = new Command('models').description(
    'the model cache (EARSHOT_CACHE_DIR, default ~/.cache/earshot)',
  );
  models
    .command('pull')
    .description(
      'download a Whisper export (onnx-community) or a speaker-embedding model from the Hugging Face hub into the cache',
    )
    .argument(
      '<name>',
      `Whisper: tiny.en, base, small, large-v3-turbo, owner/repo, ...; speaker model: ${SPEAKER_MODELS.map((m) => m.name).join(', ')} or owner/repo:file.onnx`,
    )
    .option(
      '--dtype <dtype>',
      'Whisper weights variant: fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4',
      'fp32',
    )
    .action(async (name: string, opts: { dtype: string }) => {
      if (speakerModelOnHub(name)) {
        process.stdout.write(`${await pullSpeakerModel(name, { onProgress: progressBar() })}\n`);
        return;
      }
      const dtype = checkedDtype('--dtype', opts.dtype) ?? 'fp32';
      process.stdout.write(`${await pullModel(name, { dtype, onProgress: progressBar() })}\n`);
    });
  models
    .command('list')
    .description('models in the cache: Whisper and speaker-model hub downloads, built synthetic models')
    .action(list);
  models
    .command('synth')
    .description('write a Whisper-architecture model with deterministic pseudo-random weights')
    .argument('[size]', SIZES.join('|'))
    .option('--out <dir>', 'output directory (onnx-community layout)')
    .option('--timestamped', 'add cross-attention outputs (word timestamps)')
    .addOption(
      new Option('--dtype <dtype>', 'fp32, q8 or fp16; repeat for several')
        .argParser((v: string, prev: string[]) => [...prev, v])
        .default([], 'fp32'),
    )
    .option('--script <text>', 'what the model says whatever it hears: "<|0.00|> hello<|1.00|>"')
    .option('--vocab <vocab>', 'small or real (the real token-id layout)', 'small')
    .option('--english-only', 'an English-only (.en) model')
    .option('--mels <n>', '80 or 128 mel bins', '80')
    .option('--seed <n>', 'weights seed', '1')
    .action(synth);
  return models;
}

interface SynthFlags {
  out?: string;
  timestamped?: boolean;
  dtype: string[];
  script?: string;
  vocab: string;
  englishOnly?: boolean;
  mels: string;
  seed: string;
}

async function synth(size: string | undefined, opts: SynthFlags): Promise<void> {
  if (!size || !SIZES.includes(size as SynthSize))
    throw new UsageError('models synth takes one SIZE: micro, tiny, base or small');
  if (!opts.out) throw new UsageError('models synth needs --out DIR');
  const dtypes = (opts.dtype.length > 0 ? opts.dtype : ['fp32']).map((d) => {
    if (d !== 'fp32' && d !== 'q8' && d !== 'fp16')
      throw new UsageError(`--dtype ${d}: synth writes fp32, q8 or fp16`);
    return d as SynthDtype;
  });
  if (opts.vocab !== 'small' && opts.vocab !== 'real') throw new UsageError('--vocab must be small or real');
  const mels = Number(opts.mels);
  if (mels !== 80 && mels !== 128) throw new UsageError('--mels must be 80 or 128');
  const seed = checkedNumber('--seed', opts.seed, { kind: 'int', min: 0, max: 2 ** 32 - 1 });
  await synthesizeWhisper(opts.out, {
    size: size as SynthSize,
    dtypes,
    seed,
    timestamped: opts.timestamped === true,
    script: opts.script,
    vocab: opts.vocab,
    multilingual: opts.englishOnly !== true,
    mels,
  });
  process.stdout.write(`${opts.out}\n`);
}
