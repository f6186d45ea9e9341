import { existsSync, readFileSync, statSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AudioDecodeError } from '../audio/errors.js';
import { loadAudioFile } from '../audio/load.js';
import { ModelLoadError } from '../models/errors.js';
import { HubError, listCachedModels, pullModel } from '../models/hub.js';
import { isDtype, type Dtype } from '../models/model-dir.js';
import { progressBar } from '../models/progress.js';
import { resolveModel } from '../models/resolve.js';
import { synthesizeWhisper, type SynthDtype, type SynthSize } from '../models/synth/index.js';
import { detectSpeechWindows } from '../models/speech-windows.js';
import { transcribe } from '../models/transcribe.js';
import { loadSileroVad } from '../models/vad.js';
import { WhisperModel } from '../models/whisper.js';
import { formatTranscript, TEXT_FORMATS, type TextFormat } from './formats.js';

/** A command line that cannot run as given; exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const HELP = `earshot: real-time speech transcription server (Whisper ONNX, Deepgram-compatible streaming)

Usage:
  earshot serve [--host 0.0.0.0] [--port 8080] [--model M] [--device cpu|cuda] [--config FILE] ...
  earshot transcribe FILE... [--format json|verbose_json|text|srt|vtt] [--model M] [--language L]
                             [--word-timestamps] [--dtype D] [--device cpu|cuda] [--prompt TEXT]
                             [--batch-size N]  (N > 1: decode VAD speech windows N at a time)
  earshot models pull NAME [--dtype D]       download from the Hugging Face hub into the cache
  earshot models list                        models in the cache
  earshot models synth SIZE --out DIR        a Whisper-architecture model with pseudo-random weights
        SIZE micro|tiny|base|small; [--timestamped] [--dtype fp32|q8|fp16 (repeatable)] [--script TEXT]
        [--vocab small|real] [--english-only] [--mels 80|128] [--seed N]

M is a model directory (onnx-community layout), a model name (tiny.en, base, large-v3-turbo, owner/repo)
fetched from the hub once, or synthetic:SIZE. Run 'earshot serve --help' for every server option.`;

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

function parse(
  args: string[],
  options: ParseArgsConfig['options'],
): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function dtypeOf(v: unknown): Dtype | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  if (!isDtype(s))
    throw new UsageError(`--dtype ${s} is not one of fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4`);
  return s;
}

async function cmdTranscribe(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    format: { type: 'string', default: 'text' },
    model: { type: 'string' },
    language: { type: 'string' },
    prompt: { type: 'string' },
    dtype: { type: 'string' },
    device: { type: 'string' },
    threads: { type: 'string' },
    diarize: { type: 'boolean' },
    'word-timestamps': { type: 'boolean' },
    'batch-size': { type: 'string', default: '1' },
  });
  const batchSize = Number(str(values['batch-size']));
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 64) {
    throw new UsageError('--batch-size must be an integer from 1 to 64');
  }
  if (positionals.length === 0) throw new UsageError('transcribe needs at least one FILE');
  const format = str(values.format) as TextFormat;
  if (!TEXT_FORMATS.includes(format))
    throw new UsageError(`--format must be one of ${TEXT_FORMATS.join(', ')}`);
  if (values.diarize) throw new UsageError('--diarize is not available yet in this build');
  const device = str(values.device) ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw new UsageError('--device must be cpu or cuda');
  const dtype = dtypeOf(values.dtype);
  // Decode every file first: a bad file fails fast, before a model is loaded.
  const audio = [];
  for (const file of positionals) {
    if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`${file}: no such file`);
    audio.push({ file, ...(await loadAudioFile(file)) });
  }
  const dir = await resolveModel(str(values.model) ?? process.env.EARSHOT_MODEL ?? 'synthetic:tiny', {
    dtype,
    log: (m) => process.stderr.write(`${m}\n`),
  });
  const model = await WhisperModel.load(dir, {
    dtype,
    device,
    threads: Number(str(values.threads) ?? 0),
    warn: (m) => process.stderr.write(`warning: ${m}\n`),
  });
  // Batched mode decodes the speech regions Silero finds, up to 30 s each, several at a time.
  const vad = batchSize > 1 ? await loadSileroVad() : undefined;
  try {
    for (const a of audio) {
      const t = await transcribe(model, a.samples16k, {
        language: str(values.language),
        prompt: str(values.prompt),
        wordTimestamps: values['word-timestamps'] === true || format === 'verbose_json',
        batchSize,
        windows: vad ? await detectSpeechWindows(vad, a.samples16k) : undefined,
      });
      if (audio.length > 1 && format !== 'json' && format !== 'verbose_json')
        process.stdout.write(`==> ${a.file} <==\n`);
      const granularities: ('segment' | 'word')[] = values['word-timestamps']
        ? ['segment', 'word']
        : ['segment'];
      const out = formatTranscript(t, format, granularities);
      process.stdout.write(out.body.endsWith('\n') ? out.body : `${out.body}\n`);
    }
  } finally {
    await model.release();
    await vad?.release();
  }
  return 0;
}

async function cmdModels(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'pull') {
    const { values, positionals } = parse(rest, { dtype: { type: 'string' } });
    if (positionals.length !== 1)
      throw new UsageError('models pull takes one NAME (tiny.en, base, owner/repo, ...)');
    const dir = await pullModel(positionals[0], {
      dtype: dtypeOf(values.dtype) ?? 'fp32',
      onProgress: progressBar(),
    });
    process.stdout.write(`${dir}\n`);
    return 0;
  }
  if (sub === 'list') {
    parse(rest, {});
    const models = await listCachedModels();
    if (models.length === 0) process.stdout.write('no models in the cache (earshot models pull NAME)\n');
    for (const m of models) {
      const mb = (m.bytes / 1e6).toFixed(1);
      process.stdout.write(
        `${m.repo}\t${m.revision}\t${mb} MB\t${m.complete ? 'complete' : 'partial'}\t${m.dir}\n`,
      );
    }
    return 0;
  }
  if (sub === 'synth') {
    const { values, positionals } = parse(rest, {
      out: { type: 'string' },
      timestamped: { type: 'boolean' },
      dtype: { type: 'string', multiple: true },
      script: { type: 'string' },
      vocab: { type: 'string' },
      'english-only': { type: 'boolean' },
      mels: { type: 'string' },
      seed: { type: 'string' },
    });
    const size = positionals[0] as SynthSize;
    if (positionals.length !== 1 || !['micro', 'tiny', 'base', 'small'].includes(size)) {
      throw new UsageError('models synth takes one SIZE: micro, tiny, base or small');
    }
    const out = str(values.out);
    if (!out) throw new UsageError('models synth needs --out DIR');
    const dtypes = ((values.dtype as string[] | undefined) ?? ['fp32']).map((d) => {
      if (d !== 'fp32' && d !== 'q8' && d !== 'fp16')
        throw new UsageError(`--dtype ${d}: synth writes fp32, q8 or fp16`);
      return d as SynthDtype;
    });
    const vocab = str(values.vocab) ?? 'small';
    if (vocab !== 'small' && vocab !== 'real') throw new UsageError('--vocab must be small or real');
    const mels = Number(str(values.mels) ?? 80);
    if (mels !== 80 && mels !== 128) throw new UsageError('--mels must be 80 or 128');
    const seed = Number(str(values.seed) ?? 1);
    if (!Number.isInteger(seed)) throw new UsageError('--seed must be an integer');
    await synthesizeWhisper(out, {
      size,
      dtypes,
      seed,
      timestamped: values.timestamped === true,
      script: str(values.script),
      vocab,
      multilingual: values['english-only'] !== true,
      mels,
    });
    process.stdout.write(`${out}\n`);
    return 0;
  }
  throw new UsageError('models takes pull, list or synth');
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'serve': {
        const { serveCommand } = await import('./serve.js');
        return await serveCommand(rest);
      }
      case 'transcribe':
        return await cmdTranscribe(rest);
      case 'models':
        return await cmdModels(rest);
      case '--version':
      case '-v': {
        const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
          version: string;
        };
        process.stdout.write(`earshot ${pkg.version}\n`);
        return 0;
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${HELP}\n`);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${cmd}" (earshot --help lists them)`);
    }
  } catch (err) {
    return reportError(err);
  }
}

/** One line on stderr, and the exit code: 2 for what the user can fix in the input, 1 otherwise. */
export function reportError(err: unknown): number {
  const e = err as Error;
  if (e instanceof UsageError || e instanceof AudioDecodeError) {
    process.stderr.write(`earshot: ${e.message}\n`);
    return 2;
  }
  if (e instanceof ModelLoadError || e instanceof HubError) {
    process.stderr.write(`earshot: ${e.message}\n`);
    return 1;
  }
  process.stderr.write(`earshot: ${e?.stack ?? String(err)}\n`);
  return 1;
}
