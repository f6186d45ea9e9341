/**
 * `earshot speakers enroll NAME CLIP...`: a named voiceprint from 2-30 s clips of one speaker. With --url it is
 * POSTed to a running server (/v1/speakers, under the credential's subject); without, it is computed here and
 * written straight into the store of --store/--data-dir (the server's own, where a running server sees it at
 * once), under --subject: the subject a server gives the credential (`key:NAME` for an API key, a JWT's `sub`,
 * '' with auth off).
 */
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { BuiltinEmbedder } from '../../models/speaker/builtin.js';
import type { SpeakerEmbedder } from '../../models/speaker/embedding.js';
import { builtinModelId, modelFileId } from '../../models/speaker/model-id.js';
import { loadOnnxEmbedder } from '../../models/speaker/onnx.js';
import { resolveSpeakerModel } from '../../models/resolve.js';
import { loadSileroVad } from '../../models/vad/silero.js';
import { DEFAULT_SILERO, vadModelProblem } from '../../models/vad/silero-files.js';
import { ApiError, ServiceError, UsageError } from '../errors.js';
import { MAX_VOICEPRINTS } from '../http/speakers.js';
import { DEFAULTS } from '../options.js';
import { createStore } from '../store/index.js';
import { VoiceprintLimitError } from '../store/types.js';
import { voiceprintOf } from '../voiceprints/enroll.js';
import { nameProblem } from '../voiceprints/names.js';

interface EnrollFlags {
  url?: string;
  apiKey?: string;
  store: string;
  dataDir: string;
  subject: string;
  speakerModel?: string;
  vadModel: string;
}

export function speakersEnrollCommand(): Command {
  return new Command('enroll')
    .description(
      'store a named voiceprint from 2-30 s clips of one speaker: on a running server (--url), or in the store of --store/--data-dir',
    )
    .argument('<name>', 'the name speakers are labelled with (known_speakers=NAME)')
    .argument('<clips...>', 'WAV, or mp3/ogg/flac/webm through ffmpeg; 2-30 s each, one voice')
    .addOption(new Option('--url <url>', 'a running server, e.g. http://localhost:8080').env('EARSHOT_URL'))
    .addOption(new Option('--api-key <key>', 'its API key (with --url)').env('EARSHOT_API_KEY'))
    .addOption(
      new Option('--store <store>', 'without --url: file, file:DIR or redis://HOST:PORT')
        .env('EARSHOT_STORE')
        .default(DEFAULTS.store),
    )
    .addOption(
      new Option('--data-dir <dir>', "without --url: the file store's home")
        .env('EARSHOT_DATA_DIR')
        .default(DEFAULTS.dataDir),
    )
    .option(
      '--subject <subject>',
      "without --url: whose voiceprint (key:NAME, a JWT's sub; '' with auth off)",
      '',
    )
    .addOption(
      new Option('--speaker-model <model>', 'without --url: as the server runs it (default: built-in)').env(
        'EARSHOT_SPEAKER_MODEL',
      ),
    )
    .addOption(
      new Option('--vad-model <model>', 'without --url: Silero VAD v6, v5, v4 or an ONNX FILE')
        .env('EARSHOT_VAD_MODEL')
        .default(DEFAULT_SILERO),
    )
    .action(enroll);
}

async function enroll(name: string, clips: string[], flags: EnrollFlags): Promise<void> {
  const problem = nameProblem(name);
  if (problem) throw new UsageError(`NAME ${problem}`);
  const files = await Promise.all(
    clips.map((c) =>
      readFile(c).catch((err: NodeJS.ErrnoException) => {
        throw new UsageError(`${c}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
      }),
    ),
  );
  const out = flags.url ? await remote(name, clips, files, flags) : await local(name, clips, files, flags);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

async function remote(name: string, paths: string[], files: Buffer[], flags: EnrollFlags): Promise<unknown> {
  let url: URL;
  try {
    url = new URL('/v1/speakers', flags.url);
  } catch {
    throw new UsageError(`--url ${flags.url}: not a URL (http://HOST:PORT)`);
  }
  const form = new FormData();
  form.set('name', name);
  files.forEach((f, i) => form.append('files[]', new Blob([f]), paths[i]));
  const headers: Record<string, string> = flags.apiKey ? { authorization: `Token ${flags.apiKey}` } : {};
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', body: form, headers });
  } catch (err) {
    const why = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
    throw new ServiceError(`cannot reach ${url.origin}: ${why}`);
  }
  const text = await res.text();
  let body: { error?: { message?: string } } | undefined;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = undefined;
  }
  if (res.ok) return body;
  const message = `${url.origin} refused the enrolment (HTTP ${res.status}): ${body?.error?.message ?? text}`;
  // Clip files[i] is the i-th CLIP: say which file.
  const named = message.replace(/files\[(\d+)\]/g, (m, i: string) => `${paths[Number(i)] ?? m}`);
  throw res.status >= 400 && res.status < 500 && res.status !== 401 && res.status !== 429
    ? new UsageError(named)
    : new ServiceError(named);
}

async function local(name: string, paths: string[], files: Buffer[], flags: EnrollFlags): Promise<unknown> {
  if (flags.store === 'memory') {
    throw new UsageError(
      '--store memory keeps nothing once this command ends: give the server its --store, or --url',
    );
  }
  const vadProblem = vadModelProblem(flags.vadModel || DEFAULT_SILERO);
  if (vadProblem) throw new UsageError(`--vad-model: ${vadProblem}`);
  let embedder: SpeakerEmbedder;
  let modelId: string;
  if (flags.speakerModel) {
    const path = await resolveSpeakerModel(flags.speakerModel);
    embedder = await loadOnnxEmbedder(path);
    modelId = modelFileId(path);
  } else {
    embedder = new BuiltinEmbedder();
    modelId = builtinModelId();
  }
  const vad = await loadSileroVad({ model: flags.vadModel || DEFAULT_SILERO });
  const store = createStore({ store: flags.store, dataDir: flags.dataDir, retentionHours: 0 });
  try {
    const clips = files.map((bytes, i) => ({ field: paths[i], bytes }));
    const v = await voiceprintOf({ embedder, modelId, vad }, flags.subject, name, clips).catch(
      (err: unknown) => {
        throw err instanceof ApiError ? new UsageError(err.message) : err;
      },
    );
    await store.voiceprints.put(v, MAX_VOICEPRINTS).catch((err: unknown) => {
      if (err instanceof VoiceprintLimitError) throw new ServiceError(err.message);
      throw new ServiceError(
        `the store (${flags.store}) did not take the voiceprint: ${(err as Error).message}`,
      );
    });
    const { embedding: _, ...summary } = v;
    return summary;
  } finally {
    await store.close?.();
    await vad.release();
    await embedder.release();
  }
}
