/**
 * Diarization accuracy: DER (0.25 s collar, optimal speaker mapping) and speaker-count error per corpus file, for
 * the file path (offline clustering over VAD speech) and the live path (VAD finals at 500 ms endpointing, each
 * chunked within the session's speech regions at 300 ms pauses, the session's recent speech clustered again with
 * each final, a final split where its speaker changes), per
 * embedding; and known speakers (file path): with the enrollment clips of all the recording's speakers but one
 * (at most 4, the API's limit), the share of reference segments named right: a listed speaker by its name, the
 * unlisted one by none. And what the speaker confidence is worth: the chance that a turn labelled wrong (its label
 * maps to another speaker than the one it overlaps most) has a lower confidence than one labelled right, per group
 * and over every recording run (50 % = it tells nothing).
 *
 *   npm run bench:diarization [-- --only builtin|onnx] [--corpus synthetic|real|all] [--files a,b] [--path file|live]
 *                             [--finals]
 *
 * --files keeps the recordings whose name contains one of the comma-separated words (e.g. --files three,five);
 * --path runs one of the two paths only.
 * --finals prints every live final: its speech, the reference speakers in it and the labels it was sent with (a
 * live label cannot change once sent, so this is where live errors are found).
 *
 * Real voices (LibriSpeech readers, ../shared/corpus/real): the 12 dev-* conversations (what constants were chosen
 * on) and 15 held-out ones (bench/real-conversations.json), made once into .cache/real-conversations by
 * ../shared/tools/make_real_conversations.py (python3 + numpy + ffmpeg): each reader's whole recording less its
 * first ~3 s (the enrollment clip), in turns of 1.5-6 s with 0.2-0.9 s gaps:
 * - heldout-two-mixed, -b, -c: a woman and a man (14, 10, 25 s);
 * - heldout-two-male, -b, -c: two men (9, 28, 24 s); heldout-two-female, -b, -c: two women (12, 25, 21 s);
 * - heldout-three, -b: three readers (26, 30 s);
 * - heldout-four-noisy, -b: four readers under noise at 15 dB SNR (34, 44 s);
 * - heldout-five-fast, -b: five readers with 0.05-0.25 s gaps (32, 49 s).
 * The -b/-c ones are readers with the longest recordings among those in no other conversation. No reader of
 * either set is in the built-in embedding's fit (`npm run train:speaker` holds them out).
 * - dev-noisy-*: the dev conversations' readers again (other turns: seeds + 1000) under noise at 15 dB SNR
 *   (bench/noisy-dev-conversations.json), made the same way into .cache/noisy-dev-conversations: what noise
 *   robustness is tuned on, as dev-four-noisy alone is one recording;
 * - dev-noisy-four-*: four dev readers each (new groups of them, seeds 2140-2147) under noise at 15 dB SNR
 *   (bench/noisy-dev-four-conversations.json, into .cache/noisy-dev-four-conversations): the live path's hardest
 *   case, tuned on.
 * - dev-more-noisy-four-* (16, seeds 2300-2315) and dev-more-* (16 clean ones of 2-5 readers, half with 0.05-0.25 s
 *   gaps, seeds 2400-2415): more of the same kinds (bench/more-noisy-dev-four-conversations.json,
 *   bench/more-dev-conversations.json, into .cache/more-*): eight recordings swing by a few first finals that flip
 *   (a change that took dev-noisy-four from 7.09 to 4.70 % live took these 10.77 -> 11.77 and 2.98 -> 3.30 %), so
 *   a change tuned on the others is checked here before it is kept.
 * - dev-room-* (24, seeds 2500-2523): two or three dev readers each under noise at 10, 15 or 20 dB SNR, half with
 *   0.05-0.25 s gaps (bench/room-dev-conversations.json, into .cache/room-dev-conversations): made to check the
 *   file path's room levels on recordings no decision had looked at.
 * - dev-minor-*: three dev readers each, one of them heard for only 0.8-4.4 s in all (seeds 2000-2007;
 *   bench/minority-dev-conversations.json, made by bench/make-minority-conversations.py into
 *   .cache/minority-dev-conversations): a voice heard briefly, which live labels must not give another's number.
 *
 * Also: the diarizer's CPU per audio second and the longest event-loop stall it caused.
 *
 * Reads ../shared/corpus; the random-weight ONNX speaker model is generated once into .cache/. Its DER is
 * meaningless as accuracy (random weights): the row shows that the ONNX path runs end to end and what it costs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { loadAudioFile } from '../audio/load.js';
import { type SegmenterOptions, UtteranceSegmenter } from '../models/vad/segmenter.js';
import { SpeechRegions } from '../models/vad/speech-regions.js';
import { BuiltinEmbedder } from '../models/speaker/builtin.js';
import { diarizeFile, type FileDiarization } from '../models/speaker/diarize.js';
import { LiveDiarizer } from '../models/speaker/live.js';
import type { TimeSpan } from '../audio/span.js';
import type { SpeakerEmbedder } from '../models/speaker/embedding.js';
import { loadOnnxEmbedder } from '../models/speaker/onnx.js';
import { writeSpeakerModel } from '../test/helpers/speaker-model.js';
import { loadSileroVad, type SileroVad } from '../models/vad/silero.js';
import { type Turn, diarizationError, judgedTurns, parseRttm, wrongRankedBelow } from './lib/der.js';
import { table, writeReport } from './lib/report.js';

const CORPUS = new URL('../../shared/corpus/', import.meta.url).pathname;
const FILES = [
  'conversations/two-speakers',
  'conversations/three-speakers',
  'conversations/four-speakers-noisy',
  'speakers/five-speakers',
  'speakers/similar-voices',
  'speakers/fast-turns',
  // One speaker for 5 minutes: any second speaker found is an error.
  'long/monologue',
];
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const corpus = args.includes('--corpus') ? args[args.indexOf('--corpus') + 1] : 'all';
const fileFilter = args.includes('--files') ? args[args.indexOf('--files') + 1].split(',') : undefined;
const showFinals = args.includes('--finals');
const onlyPath = args.includes('--path') ? args[args.indexOf('--path') + 1] : undefined;
if (onlyPath !== undefined && onlyPath !== 'file' && onlyPath !== 'live') {
  console.error(`--path must be file or live, got ${onlyPath}`);
  process.exit(2);
}

/**
 * Conversations made once (deterministically: fixed readers and seeds) from a spec in bench/ into .cache/: the
 * held-out ones (real-conversations.json), the dev readers under noise (noisy-dev-conversations.json) and with a
 * minority reader (minority-dev-conversations.json, by make-minority-conversations.py).
 */
function madeConversations(
  specFile: string,
  cacheDir: string,
  tool = `${CORPUS}../tools/make_real_conversations.py`,
): string[] {
  const spec = new URL(specFile, import.meta.url).pathname;
  const dir = new URL(`../.cache/${cacheDir}/`, import.meta.url).pathname;
  const names = Object.keys(JSON.parse(readFileSync(spec, 'utf8')) as object);
  if (!names.every((n) => existsSync(`${dir}${n}.rttm`))) {
    execFileSync('python3', [tool, `${CORPUS}real/speakers`, '-', dir, spec], { stdio: 'inherit' });
  }
  return names.map((n) => `${dir}${n}`);
}

/** Paths without extension: synthetic corpus files, then real dev conversations, then the held-out ones. */
function recordings(): string[] {
  const list: string[] = [];
  if (corpus !== 'real') list.push(...FILES.map((f) => `${CORPUS}${f}`));
  if (corpus !== 'synthetic') {
    const dev = `${CORPUS}real/conversations/`;
    list.push(
      ...readdirSync(dev)
        .filter((f) => f.startsWith('dev-') && f.endsWith('.rttm'))
        .sort()
        .map((f) => `${dev}${f.slice(0, -5)}`),
      ...madeConversations('noisy-dev-conversations.json', 'noisy-dev-conversations'),
      ...madeConversations('noisy-dev-four-conversations.json', 'noisy-dev-four-conversations'),
      ...madeConversations('more-noisy-dev-four-conversations.json', 'more-noisy-dev-four-conversations'),
      ...madeConversations('more-dev-conversations.json', 'more-dev-conversations'),
      ...madeConversations('room-dev-conversations.json', 'room-dev-conversations'),
      ...madeConversations(
        'minority-dev-conversations.json',
        'minority-dev-conversations',
        new URL('make-minority-conversations.py', import.meta.url).pathname,
      ),
      ...madeConversations('real-conversations.json', 'real-conversations'),
    );
  }
  return fileFilter ? list.filter((p) => fileFilter.some((w) => p.split('/').at(-1)!.includes(w))) : list;
}

interface Utterance {
  /** Padded audio span (what a final decodes). */
  audio: TimeSpan;
  /** Unpadded speech span (what a final reports). */
  speech: TimeSpan;
}

/** Silero + the session's segmenter, exactly as a live stream cuts finals. */
async function utterances(vad: SileroVad, audio: Float32Array, opts: Partial<SegmenterOptions>) {
  const probs = await vad.createStream().push(audio);
  const seg = new UtteranceSegmenter({ frameSeconds: vad.frameSamples / 16000, ...opts });
  const out: Utterance[] = [];
  let start: { time: number; speech: number } | undefined;
  for (const e of [...seg.push(probs), ...seg.flush()]) {
    if (e.type === 'speech_start') start = e;
    else if (e.type === 'speech_end' && start) {
      out.push({ audio: { start: e.start, end: e.time }, speech: { start: start.speech, end: e.speech } });
      start = undefined;
    }
  }
  return out;
}

/**
 * CPU spent inside the diarizer (not VAD), microseconds, and the longest the event loop waited on it (what every
 * live stream of a server would wait), ms, for the current run.
 */
let diarizerCpu = 0;
let longestStall = 0;
async function timed<T>(work: () => Promise<T>): Promise<T> {
  const c0 = process.cpuUsage();
  let last = performance.now();
  let armed = true;
  const probe = (): void => {
    const now = performance.now();
    longestStall = Math.max(longestStall, now - last);
    last = now;
    if (armed) setImmediate(probe);
  };
  setImmediate(probe);
  try {
    return await work();
  } finally {
    armed = false;
    longestStall = Math.max(longestStall, performance.now() - last);
    const c = process.cpuUsage(c0);
    diarizerCpu += c.user + c.system;
  }
}

const clipTo = (turns: Turn[], span: TimeSpan): Turn[] =>
  turns
    .map((t) => ({ ...t, start: Math.max(t.start, span.start), end: Math.min(t.end, span.end) }))
    .filter((t) => t.end > t.start);

/** The file path's turns (clipped to the speech each final reports), with the names of known speakers. */
async function diarized(
  e: SpeakerEmbedder,
  vad: SileroVad,
  audio: Float32Array,
  known?: { name: string; audio: Float32Array }[],
): Promise<(Turn & { name?: string })[]> {
  const utts = await utterances(vad, audio, { endpointingMs: 300, speechPadMs: 100 });
  const d: FileDiarization = await timed(() =>
    diarizeFile(
      e,
      audio,
      utts.map((u) => u.audio),
      { known },
    ),
  );
  const turns = d.turns.map((t) => ({
    start: t.start,
    end: t.end,
    speaker: `s${t.speaker}`,
    confidence: t.confidence,
    name: t.name,
  }));
  return utts.flatMap((u) => clipTo(turns, u.speech));
}

const offline = (e: SpeakerEmbedder, vad: SileroVad, audio: Float32Array): Promise<Turn[]> =>
  diarized(e, vad, audio);

/**
 * Enrollment clips of the recording's speakers, in the order of its .json (real: `speakers`, synthetic: `voices`):
 * real conversations keep them in enroll/NAME-READER-0.wav beside them, synthetic ones in speakers/enroll/.
 */
function enrollment(name: string): { speaker: string; path: string }[] {
  const meta = JSON.parse(readFileSync(`${name}.json`, 'utf8')) as {
    speakers?: string[];
    voices?: Record<string, string>;
  };
  const base = name.split('/').at(-1)!;
  const dir = name.slice(0, -base.length);
  const speakers = meta.speakers ?? Object.keys(meta.voices ?? {}).sort();
  const clips = speakers.map((speaker) => ({
    speaker,
    path: meta.speakers
      ? `${dir}enroll/${base}-${speaker}-0.wav`
      : `${CORPUS}speakers/enroll/${base}-${speaker}.wav`,
  }));
  return clips.every((c) => existsSync(c.path)) ? clips : [];
}

/**
 * Known speakers: all the recording's speakers but the last are listed (at most 4); the share of reference
 * segments whose main hypothesis turn carries the right name (a listed speaker's, or none for the unlisted one).
 */
async function named(
  e: SpeakerEmbedder,
  vad: SileroVad,
  name: string,
  audio: Float32Array,
  ref: Turn[],
): Promise<{ right: number; segments: number } | undefined> {
  const clips = enrollment(name);
  if (clips.length < 2) return undefined;
  const listed = clips.slice(0, Math.min(4, clips.length - 1));
  const known = await Promise.all(
    listed.map(async (c) => ({ name: c.speaker, audio: (await loadAudioFile(c.path)).samples16k })),
  );
  const hyp = await diarized(e, vad, audio, known);
  let right = 0;
  for (const r of ref) {
    let best: { name?: string; overlap: number } = { overlap: 0 };
    for (const h of hyp) {
      const overlap = Math.min(r.end, h.end) - Math.max(r.start, h.start);
      if (overlap > best.overlap) best = { name: h.name, overlap };
    }
    const expected = listed.some((c) => c.speaker === r.speaker) ? r.speaker : undefined;
    if (best.overlap > 0 && best.name === expected) right++;
  }
  return { right, segments: ref.length };
}

/** `10.4-15.1  ref spk0 10.4-12.0, spk2 12.5-15.0  live s1 10.4-15.1`: one final, as spoken and as labelled. */
function finalLine(speech: TimeSpan, ref: Turn[], sent: Turn[]): string {
  const span = (t: TimeSpan): string => `${t.start.toFixed(1)}-${t.end.toFixed(1)}`;
  const turns = (ts: Turn[]): string => ts.map((t) => `${t.speaker} ${span(t)}`).join(', ');
  return `  ${span(speech)}  ref ${turns(clipTo(ref, speech))}  live ${turns(sent)}`;
}

async function live(e: SpeakerEmbedder, vad: SileroVad, audio: Float32Array, ref: Turn[]): Promise<Turn[]> {
  const utts = await utterances(vad, audio, { endpointingMs: 500 });
  // The session's speech regions, from the same VAD probabilities, heard up to each final's endpoint (the 500 ms of
  // silence after its speech).
  const probs = await vad.createStream().push(audio);
  const regions = new SpeechRegions({ frameSeconds: vad.frameSamples / 16000 });
  let heard = 0;
  const live = new LiveDiarizer(e);
  const out: Turn[] = [];
  for (const u of utts) {
    const a = audio.subarray(Math.round(u.audio.start * 16000), Math.round(u.audio.end * 16000));
    const upTo = Math.min(probs.length, Math.ceil(((u.speech.end + 0.5) * 16000) / vad.frameSamples));
    regions.push(probs.subarray(heard, upTo));
    heard = Math.max(heard, upTo);
    const speech = regions.within(u.audio.start, u.audio.end);
    const r = await timed(() => live.labelFinal(a, u.audio.start, [], undefined, speech));
    const sent = clipTo(
      r.turns.map((t) => ({ ...t, speaker: `s${t.speaker}` })),
      u.speech,
    );
    if (showFinals) console.log(finalLine(u.speech, ref, sent));
    out.push(...sent);
  }
  return out;
}

/** The .rttm when there is one, else the segments of the .json (long/ has no .rttm). */
function reference(name: string): Turn[] {
  if (existsSync(`${name}.rttm`)) return parseRttm(readFileSync(`${name}.rttm`, 'utf8'));
  const { segments } = JSON.parse(readFileSync(`${name}.json`, 'utf8')) as { segments: Turn[] };
  return segments.map(({ start, end, speaker }) => ({ start, end, speaker }));
}

async function embedders(): Promise<SpeakerEmbedder[]> {
  const list: SpeakerEmbedder[] = [];
  if (!only || only === 'builtin') list.push(new BuiltinEmbedder());
  if (!only || only === 'onnx') {
    const dir = new URL('../.cache/speaker/', import.meta.url).pathname;
    mkdirSync(dir, { recursive: true });
    const path = `${dir}synthetic-resnet.onnx`;
    if (!existsSync(path)) writeSpeakerModel(path, { kind: 'wespeaker' });
    list.push(await loadOnnxEmbedder(path));
  }
  return list;
}

const vad = await loadSileroVad();
const rows: Record<string, string | number>[] = [];
const results: unknown[] = [];
const naming: { embedding: string; file: string; right: number; segments: number }[] = [];
/** Per row, its turns' confidences and whether each was labelled right. */
const judged: { embedding: string; file: string; path: string; turns: ReturnType<typeof judgedTurns> }[] = [];
for (const e of await embedders()) {
  for (const name of recordings()) {
    const audio = (await loadAudioFile(`${name}.wav`)).samples16k;
    const ref = reference(name);
    for (const [path, run] of (
      [
        ['file', offline],
        ['live', live],
      ] as const
    ).filter(([p]) => !onlyPath || p === onlyPath)) {
      diarizerCpu = 0;
      longestStall = 0;
      const cpu0 = process.cpuUsage();
      if (showFinals && path === 'live') console.log(`${name.split('/').at(-1)} (${e.name}), live finals:`);
      const hyp = await run(e, vad, audio, ref);
      const cpu = process.cpuUsage(cpu0);
      const r = diarizationError(ref, hyp, { collar: 0.25 });
      const [msPerSecond, stall] = [diarizerCpu / 1e3 / (audio.length / 16000), longestStall];
      const names = path === 'file' ? await named(e, vad, name, audio, ref) : undefined;
      if (names) naming.push({ embedding: e.name, file: name, ...names });
      const row = {
        embedding: e.name,
        file: name.split('/').at(-1)!,
        path,
        'DER %': Number((100 * r.der).toFixed(2)),
        'miss %': Number(((100 * r.missed) / r.total).toFixed(2)),
        'FA %': Number(((100 * r.falseAlarm) / r.total).toFixed(2)),
        'conf %': Number(((100 * r.confusion) / r.total).toFixed(2)),
        speakers: `${r.hypSpeakers}/${r.refSpeakers}`,
        'count err': Math.abs(r.hypSpeakers - r.refSpeakers),
        'named %': names ? Number(((100 * names.right) / names.segments).toFixed(1)) : '-',
        'CPU s': Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
        // The diarizer alone (VAD excluded), per second of audio: what labels add to a stream or a file.
        'diarizer ms/s': Number(msPerSecond.toFixed(1)),
        'longest stall ms': Math.round(stall),
      };
      rows.push(row);
      judged.push({ embedding: e.name, file: row.file, path, turns: judgedTurns(ref, hyp, r.mapping) });
      results.push({ ...row, result: r });
    }
  }
  await e.release();
}
await vad.release();
console.log('Diarization: DER with a 0.25 s collar, optimal mapping; speakers = found/true\n');
console.log(table(rows));

/**
 * Synthetic corpus, dev conversations clean, under noise and with a minority reader (tuned on), held-out
 * conversations (the result).
 */
const GROUPS = [
  ['real held-out', 'heldout-'],
  ['real dev', 'dev-'],
  ['real dev noisy', 'dev-noisy-'],
  ['real dev noisy four', 'dev-noisy-four-'],
  ['real dev more noisy four', 'dev-more-noisy-four-'],
  ['real dev more', 'dev-more-'],
  ['real dev room', 'dev-room-'],
  ['real dev minority', 'dev-minor-'],
  ['synthetic', ''],
] as const;
/** The group whose name prefix is the longest that the file's name starts with. */
const groupOf = (file: string): string =>
  GROUPS.filter(([, prefix]) => file.startsWith(prefix)).sort((a, b) => b[1].length - a[1].length)[0][0];
const summary: Record<string, string | number>[] = [];
for (const embedding of [...new Set(rows.map((r) => r.embedding))]) {
  for (const [group] of GROUPS) {
    for (const path of ['file', 'live']) {
      const mine = rows.filter(
        (r) => r.embedding === embedding && r.path === path && groupOf(String(r.file)) === group,
      );
      if (mine.length === 0) continue;
      const der = mine.map((r) => Number(r['DER %']));
      const names = naming.filter(
        (n) => n.embedding === embedding && groupOf(n.file.split('/').at(-1)!) === group,
      );
      const right = names.reduce((a, n) => a + n.right, 0);
      const segments = names.reduce((a, n) => a + n.segments, 0);
      const turns = judged
        .filter((j) => j.embedding === embedding && j.path === path && groupOf(j.file) === group)
        .flatMap((j) => j.turns);
      const ranked = wrongRankedBelow(turns);
      summary.push({
        embedding,
        recordings: group,
        path,
        'mean DER %': Number((der.reduce((a, b) => a + b, 0) / der.length).toFixed(2)),
        'worst DER %': Math.max(...der),
        'count exact': `${mine.filter((r) => r['count err'] === 0).length}/${mine.length}`,
        'named %': path === 'file' && segments > 0 ? Number(((100 * right) / segments).toFixed(1)) : '-',
        'wrong turns': `${turns.filter((t) => !t.right).length}/${turns.length}`,
        'wrong below right %': Number.isNaN(ranked) ? '-' : Number((100 * ranked).toFixed(1)),
      });
    }
  }
}
console.log(
  '\nSummary (named: segments named right with all speakers but one enrolled; wrong turns: turns whose label maps to ' +
    'another speaker than the one they overlap most; wrong below right: the chance a wrong turn has the lower ' +
    'speaker confidence, 50 = the confidence tells nothing)\n',
);
console.log(table(summary));
for (const embedding of [...new Set(judged.map((j) => j.embedding))]) {
  const pooled = ['file', 'live'].map((path) => {
    const mine = judged.filter((j) => j.embedding === embedding && j.path === path).flatMap((j) => j.turns);
    return `${path} ${(100 * wrongRankedBelow(mine)).toFixed(1)} % (${mine.filter((t) => !t.right).length} wrong)`;
  });
  console.log(`\n${embedding}, every recording above: wrong below right ${pooled.join(', ')}`);
}
console.log(`\n${writeReport('diarization', { rows: results, summary })}`);
