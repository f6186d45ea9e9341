import { existsSync, readFileSync, statSync } from 'node:fs';
import { Command, Option } from 'commander';
import { loadAudioFile } from '../../audio/load.js';
import {
  checkLanguage,
  DETECT_LANGUAGE_ALIASES,
  UnsupportedLanguageError,
  validLanguages,
} from '../../models/whisper/languages.js';
import { resolveModel } from '../../models/resolve.js';
import { canTranslate, checkTask } from '../../models/whisper/tasks.js';
import { detectSpeechWindows } from '../../models/vad/speech-windows.js';
import { decodeWindows, transcribeWith } from '../../models/whisper/transcribe.js';
import { BuiltinEmbedder } from '../../models/speaker/builtin.js';
import { fileDiarizer } from '../../models/speaker/diarize.js';
import { labelTranscript } from '../http/diarized.js';
import { progressBar } from './progress.js';
import { SAMPLE_RATE } from '../../audio/rate.js';
import { loadSileroVad } from '../../models/vad/silero.js';
import { DEFAULT_SILERO, vadModelProblem } from '../../models/vad/silero-files.js';
import { WhisperModel } from '../../models/whisper/runtime.js';
import { reportError } from './errors.js';
import { UsageError } from '../errors.js';
import { modelsCommand } from './models.js';
import { speakersCommand } from './speakers.js';
import { keysCommand } from '../auth/keys-command.js';
import { speakersEnrollCommand } from './speakers-enroll.js';
import {
  checkedDtype,
  checkedNumber,
  commanderMessage,
  configFromCommand,
  serveCommandLine,
} from '../config.js';
import { formatTranscript, TEXT_FORMATS, type TextFormat } from '../http/formats.js';

const MODEL_HELP =
  'a model directory (onnx-community layout), a hub name fetched once (tiny.en, base, large-v3-turbo, owner/repo) or synthetic:SIZE';
const DEFAULT_MODEL = 'synthetic:tiny';

/** What the server says too: a synthetic model runs anywhere, and its words mean nothing. */
function syntheticWarning(model: string): string | undefined {
  if (!model.startsWith('synthetic:')) return undefined;
  return `${model} is a SYNTHETIC model with random weights, its transcripts are meaningless; pass --model tiny.en (or a model directory) for real speech`;
}

interface TranscribeFlags {
  format: string;
  model?: string;
  language?: string;
  task?: string;
  prompt?: string;
  dtype?: string;
  device: string;
  threads: string;
  diarize?: boolean;
  wordTimestamps?: boolean;
  batchSize: string;
  vadModel: string;
}

function transcribeCommand(): Command {
  return new Command('transcribe')
    .description(
      'transcribe audio files through the same engine as the server; the transcript goes to stdout',
    )
    .argument('[files...]', 'WAV, or mp3/ogg/flac/webm/mp4 through ffmpeg')
    .option('--format <format>', TEXT_FORMATS.join('|'), 'text')
    .addOption(
      new Option('--model <model>', `${MODEL_HELP} (default: ${DEFAULT_MODEL}, random weights)`).env(
        'EARSHOT_MODEL',
      ),
    )
    .option('--language <code>', 'language code (en, de, ...) or auto to detect')
    .option('--task <task>', 'transcribe, or translate into English (multilingual models)', 'transcribe')
    .option('--prompt <text>', 'Whisper prompt: vocabulary, spelling, style')
    .option('--word-timestamps', 'word timings (always on for verbose_json)')
    .option('--dtype <dtype>', 'weights variant: fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4')
    .option('--device <device>', 'cpu or cuda (cuda falls back to cpu)', 'cpu')
    .option('--threads <n>', 'onnxruntime threads, 0 = all cores (0..256)', '0')
    .option('--batch-size <n>', 'above 1: decode Silero speech windows N at a time (1..64)', '1')
    .option('--diarize', 'speaker labels in every format (built-in speaker embedding)')
    .addOption(
      new Option(
        '--vad-model <model>',
        'Silero VAD for --batch-size and --diarize: v6, v5, v4 or an ONNX FILE (as earshot serve)',
      )
        .env('EARSHOT_VAD_MODEL')
        .default(DEFAULT_SILERO),
    )
    .action(runTranscribe);
}

/** An unknown --language fails before any decoding, naming a few of the codes the model knows. */
function checkModelLanguage(model: WhisperModel, language: string | undefined): void {
  try {
    checkLanguage(language, validLanguages(model.ids));
  } catch (err) {
    if (!(err instanceof UnsupportedLanguageError)) throw err;
    const codes = err.valid.filter((c) => !DETECT_LANGUAGE_ALIASES.includes(c));
    const some = codes.length > 12 ? `${codes.slice(0, 12).join(', ')}, ...` : codes.join(', ');
    const kind = model.ids.isMultilingual ? '' : ' (an English-only model)';
    throw new UsageError(`--language ${language}: not a language of this model${kind}; use ${some} or auto`);
  }
}

async function runTranscribe(files: string[], flags: TranscribeFlags): Promise<void> {
  const batchSize = checkedNumber('--batch-size', flags.batchSize, { kind: 'int', min: 1, max: 64 });
  const threads = checkedNumber('--threads', flags.threads, { kind: 'int', min: 0, max: 256 });
  if (files.length === 0) throw new UsageError('transcribe needs at least one FILE');
  const format = flags.format as TextFormat;
  if (!TEXT_FORMATS.includes(format))
    throw new UsageError(`--format must be one of ${TEXT_FORMATS.join(', ')}`);
  // A task that is not one fails before anything loads; translate on an English-only model once it is loaded.
  checkTask(flags.task);
  const device = flags.device;
  if (device !== 'cpu' && device !== 'cuda') throw new UsageError('--device must be cpu or cuda');
  const dtype = checkedDtype('--dtype', flags.dtype);
  // An empty EARSHOT_VAD_MODEL counts as unset, as it does for serve.
  const vadModel = flags.vadModel || DEFAULT_SILERO;
  const vadProblem = vadModelProblem(vadModel);
  if (vadProblem) throw new UsageError(`--vad-model: ${vadProblem}`);
  // Decode every file first: a bad file fails fast, before a model is loaded.
  const audio = [];
  for (const file of files) {
    if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`${file}: no such file`);
    audio.push({ file, ...(await loadAudioFile(file)) });
  }
  // An empty EARSHOT_MODEL counts as unset.
  const spec = flags.model || DEFAULT_MODEL;
  const warning = syntheticWarning(spec);
  if (warning) process.stderr.write(`earshot: warning: ${warning}\n`);
  const dir = await resolveModel(spec, { dtype, log: (m) => process.stderr.write(`${m}\n`) });
  const model = await WhisperModel.load(dir, {
    dtype,
    device,
    threads,
    warn: (m) => process.stderr.write(`warning: ${m}\n`),
  });
  // Batched mode decodes the speech regions Silero finds, up to 30 s each, several at a time.
  const vad = batchSize > 1 || flags.diarize ? await loadSileroVad({ model: vadModel }) : undefined;
  const diarize = flags.diarize && vad ? fileDiarizer(vad, new BuiltinEmbedder()) : undefined;
  try {
    checkModelLanguage(model, flags.language);
    const task = checkTask(flags.task, canTranslate(model.ids) ? undefined : spec);
    for (const a of audio) {
      // On a terminal only: piped output stays clean.
      const bar = progressBar(process.stderr, a.file);
      const seconds = a.samples16k.length / SAMPLE_RATE;
      const plain = await transcribeWith(
        async (windows, o) => {
          const r = await decodeWindows(model, windows, o);
          bar?.update(Math.max(...windows.map((w) => w.offset + w.audio.length / SAMPLE_RATE)) / seconds);
          return r;
        },
        a.samples16k,
        {
          language: flags.language,
          task,
          prompt: flags.prompt,
          wordTimestamps: flags.wordTimestamps === true || format === 'verbose_json' || flags.diarize,
          batchSize,
          windows: batchSize > 1 && vad ? await detectSpeechWindows(vad, a.samples16k) : undefined,
        },
      );
      const t = diarize ? labelTranscript(plain, await diarize(a.samples16k, {})) : plain;
      bar?.done();
      if (audio.length > 1 && format !== 'json' && format !== 'verbose_json')
        process.stdout.write(`==> ${a.file} <==\n`);
      const granularities: ('segment' | 'word')[] = flags.wordTimestamps ? ['segment', 'word'] : ['segment'];
      // A translation's language is its output's (as OpenAI's verbose_json has it).
      const out = formatTranscript(
        task === 'translate' ? { ...t, task, language: 'en' } : t,
        format,
        granularities,
      );
      process.stdout.write(out.body.endsWith('\n') ? out.body : `${out.body}\n`);
    }
  } finally {
    await model.release();
    await vad?.release();
  }
}

function serveCommand(): Command {
  return serveCommandLine().action(async (_flags: unknown, cmd: Command) => {
    // Checked here, before the server module (uWS, onnxruntime) loads: a bad option costs nothing.
    const config = configFromCommand(cmd, process.env);
    const { serveCommand: serve } = await import('../serve.js');
    await serve(config);
  });
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Commander reports parse errors by throwing (never by exiting the process); each message names the command whose
 * --help would help. Help and the version go to stdout.
 */
function throwOnError(cmd: Command): void {
  cmd.exitOverride((err) => {
    if (err.exitCode === 0 || err.code === 'commander.help') throw err;
    throw new UsageError(`${commanderMessage(err)} (${commandPath(cmd)} --help)`);
  });
  cmd.configureOutput({ outputError: () => {} });
  for (const sub of cmd.commands) throwOnError(sub);
}

function program(): Command {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  const root = new Command('earshot')
    .description('real-time speech transcription server (Whisper ONNX, Deepgram-compatible streaming)')
    .version(`earshot ${pkg.version}`, '-v, --version', 'print the version')
    .addCommand(serveCommand())
    .addCommand(transcribeCommand())
    .addCommand(modelsCommand())
    .addCommand(speakersCommand().addCommand(speakersEnrollCommand()))
    .addCommand(keysCommand())
    .addHelpText(
      'after',
      `\nMODEL (--model): ${MODEL_HELP}.\n'earshot COMMAND --help' describes each command.`,
    );
  throwOnError(root);
  return root;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    return reportError(err);
  }
}
