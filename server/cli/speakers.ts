// `earshot speakers ...`: speaker embeddings from the command line, with the embedder diarization uses (the built-in
// one, or --speaker-model as `earshot serve` takes it). Each subcommand is a function returning its Command, sharing
// the model option and the file loading below; add one with .addCommand in speakersCommand().
import { existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Command, Option } from 'commander';
import { AudioDecodeError } from '../../audio/errors.js';
import { loadSpeakerClip } from '../../models/speaker/clip.js';
import { BuiltinEmbedder } from '../../models/speaker/builtin.js';
import { EMBEDDING_SAMPLE_RATE, type SpeakerEmbedder, cosine } from '../../models/speaker/embedding.js';
import { loadOnnxEmbedder } from '../../models/speaker/onnx.js';
import { resolveSpeakerModel } from '../../models/resolve.js';
import { UsageError } from '../errors.js';

const FORMATS = ['text', 'json'] as const;
type Format = (typeof FORMATS)[number];
// Below this peak a file holds no voice to embed (-60 dBFS).
const SILENT_PEAK = 1e-3;

interface SpeakerFlags {
  speakerModel?: string;
  format: string;
}

function speakerModelOption(): Option {
  return new Option(
    '--speaker-model <model>',
    'speaker-embedding ONNX model: a name (campplus, eres2net, titanet-small, titanet-large, wespeaker-resnet34, campplus-zh-en), a file or directory, or owner/repo:file.onnx (default: the built-in embedding)',
  ).env('EARSHOT_SPEAKER_MODEL');
}

function checkedFormat(format: string): Format {
  if (!FORMATS.includes(format as Format))
    throw new UsageError(`--format must be one of ${FORMATS.join(', ')}`);
  return format as Format;
}

/** The embedder diarization would use with this --speaker-model, and the name to report it by. */
async function loadEmbedder(spec: string | undefined): Promise<{ model: string; embedder: SpeakerEmbedder }> {
  // An empty EARSHOT_SPEAKER_MODEL counts as unset, as it does for serve.
  if (!spec) return { model: 'builtin', embedder: new BuiltinEmbedder() };
  return { model: spec, embedder: await loadOnnxEmbedder(await resolveSpeakerModel(spec)) };
}

/** Every file decoded and checked before a model is loaded: a bad file fails fast, naming itself. */
async function loadClips(files: string[]): Promise<Float32Array[]> {
  const clips: Float32Array[] = [];
  for (const file of files) {
    if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`${file}: no such file`);
    const clip = await loadSpeakerClip(file).catch((err: unknown) => {
      throw err instanceof AudioDecodeError ? new UsageError(`${file}: ${err.message}`) : err;
    });
    let peak = 0;
    for (const x of clip) peak = Math.max(peak, Math.abs(x));
    if (peak < SILENT_PEAK) {
      const level = peak > 0 ? `silent (peak ${(20 * Math.log10(peak)).toFixed(0)} dBFS)` : 'digital silence';
      throw new UsageError(`${file} is ${level}: no voice to embed`);
    }
    clips.push(clip);
  }
  return clips;
}

/** One embedding per clip, a clip too short for the model refused naming its file. */
async function embedClips(
  embedder: SpeakerEmbedder,
  files: string[],
  clips: Float32Array[],
): Promise<Float32Array[]> {
  clips.forEach((clip, i) => {
    const seconds = clip.length / EMBEDDING_SAMPLE_RATE;
    if (seconds < embedder.minSeconds) {
      throw new UsageError(
        `${files[i]} holds ${seconds.toFixed(2)} s of audio; a speaker embedding needs at least ${embedder.minSeconds} s`,
      );
    }
  });
  return embedder.embed(clips);
}

const round = (x: number, digits = 6): number => Number(x.toFixed(digits));

function embedCommand(): Command {
  return new Command('embed')
    .description('print the speaker embedding (model, dim, vector) of each file, one line each')
    .argument('<files...>', 'WAV, or mp3/ogg/flac/webm/mp4 through ffmpeg')
    .addOption(speakerModelOption())
    .option(
      '--format <format>',
      `${FORMATS.join('|')}: tab-separated fields, or one JSON object a line`,
      'text',
    )
    .action(async (files: string[], flags: SpeakerFlags) => {
      const format = checkedFormat(flags.format);
      const clips = await loadClips(files);
      const { model, embedder } = await loadEmbedder(flags.speakerModel);
      try {
        const vectors = await embedClips(embedder, files, clips);
        vectors.forEach((v, i) => {
          const vector = Array.from(v, (x) => round(x));
          process.stdout.write(
            format === 'json'
              ? `${JSON.stringify({ file: files[i], model, dim: v.length, vector })}\n`
              : `${files[i]}\t${model}\t${v.length}\t${vector.join(' ')}\n`,
          );
        });
      } finally {
        await embedder.release();
      }
    });
}

function compareCommand(): Command {
  return new Command('compare')
    .description("cosine similarity of two files' speakers and the model's same-speaker verdict")
    .argument('<a>', 'first audio file')
    .argument('<b>', 'second audio file')
    .addOption(speakerModelOption())
    .option('--format <format>', FORMATS.join('|'), 'text')
    .action(async (a: string, b: string, flags: SpeakerFlags) => {
      const format = checkedFormat(flags.format);
      const clips = await loadClips([a, b]);
      const { model, embedder } = await loadEmbedder(flags.speakerModel);
      try {
        const [ea, eb] = await embedClips(embedder, [a, b], clips);
        const similarity = round(cosine(ea, eb), 4);
        const threshold = embedder.sameSpeakerThreshold;
        const same = similarity >= threshold;
        if (format === 'json') {
          const out = { a, b, model, similarity, threshold, same_speaker: same };
          process.stdout.write(`${JSON.stringify(out)}\n`);
          return;
        }
        process.stdout.write(
          `similarity\t${similarity.toFixed(4)}\n` +
            `threshold\t${threshold} (${model}: the same-speaker threshold diarization uses)\n` +
            `verdict\t${same ? 'same speaker' : 'different speakers'} (${basename(a)}, ${basename(b)})\n`,
        );
      } finally {
        await embedder.release();
      }
    });
}

/** `earshot speakers embed|compare`. */
export function speakersCommand(): Command {
  return new Command('speakers')
    .description('speaker embeddings: the built-in one, or a trained model (--speaker-model)')
    .addCommand(embedCommand())
    .addCommand(compareCommand());
}
