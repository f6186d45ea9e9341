/**
 * Learns the built-in speaker embedding's parameters (models/speaker/builtin-voice.json) from real readers.
 *
 *   npm run train:speaker -- DIR [--out FILE]
 *
 * DIR is a LibriSpeech-style folder such as ../shared/corpus/real: speakers/<reader>-<chapter>-<utt>.flac (one or
 * more recordings per reader) and speakers/SPEAKERS.TXT; readers of DIR/conversations/spec.json and of
 * bench/real-conversations.json (the conversations the benchmark reports) are held out of the fit. Each recording
 * is cut into pieces of 1.5, 2, 2.5 and 3 s (each length tiling it; and a copy under noise at 10-25 dB SNR, white
 * or smoothed over 2, 4 or 8 samples, so that noise of any colour counts as variation inside one voice), the
 * pieces' voice statistics standardised and projected by LDA (within-reader whitened). The embedding size is
 * chosen by 5-fold cross-validation over readers (equal error rate of piece pairs, cosine of the projections); on
 * the same cross-validated pairs, the embedding's cosine (learnt and fixed parts, builtin.ts) is calibrated
 * (logistic, equal priors) and its spread measured (1 - cosine of 2.5 s pieces within one reader, and how much more
 * between two); the held-out readers' equal error rate is reported.
 * Deterministic: same DIR, same file. Not needed at run time.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadAudioFile } from '../audio/load.js';
import { BUILTIN_PARAMS_FORMAT, type BuiltinParams } from '../models/speaker/builtin-params.js';
import { embedStats, learntVector, thresholdFor } from '../models/speaker/builtin.js';
import { cosine } from '../models/speaker/embedding.js';
import { STATS_DIM, VoiceAnalyzer } from '../models/speaker/voice-stats.js';
import { rng } from '../models/whisper/logits.js';
import { equalErrorRate, fitLda, logisticCalibration, standardisation } from './lib/lda.js';

const args = process.argv.slice(2);
const dir = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--out');
if (!dir) {
  console.error('usage: npm run train:speaker -- DIR [--out FILE]   (DIR: e.g. ../shared/corpus/real)');
  process.exit(2);
}
const out = args.includes('--out')
  ? args[args.indexOf('--out') + 1]
  : new URL('../models/speaker/builtin-voice.json', import.meta.url).pathname;
const PIECES = [1.5, 2, 2.5, 3];
const DIMS = [16, 24, 32];
const FOLDS = 5;
const SR = 16000;

/**
 * The recording with Gaussian-ish noise (sum of uniforms) at `snrDb` below its speech level, averaged over `smooth`
 * samples (1: white; 2, 4, 8: ever more of it at low frequencies, like hum, fans and rooms).
 */
function noisy(x: Float32Array, snrDb: number, seed: number, smooth = 1): Float32Array {
  const rand = rng(seed);
  const white = Float32Array.from(x, () => (rand() + rand() + rand() - 1.5) * 2);
  const coloured = new Float32Array(x.length);
  let run = 0;
  for (let i = 0; i < x.length; i++) {
    run += white[i] - (i >= smooth ? white[i - smooth] : 0);
    coloured[i] = run / smooth;
  }
  let p = 0;
  for (const v of coloured) p += v * v;
  const gain = 1 / Math.sqrt(p / Math.max(1, coloured.length) || 1);
  let e = 0;
  let n = 0;
  for (const v of x) {
    if (Math.abs(v) <= 1e-3) continue;
    e += v * v;
    n++;
  }
  const sigma = Math.sqrt(e / Math.max(1, n)) / 10 ** (snrDb / 20);
  return Float32Array.from(x, (v, i) => v + sigma * gain * coloured[i]);
}

interface Piece {
  reader: string;
  /** The recording (index) and where in it, seconds: pieces that share audio are not compared. */
  file: number;
  start: number;
  seconds: number;
  stats: Float64Array;
  /** The fixed kernel's statistics (voice-kernel.ts). */
  fixed: Float64Array;
}

function heldOutReaders(): Set<string> {
  const specs = [
    join(dir!, 'conversations/spec.json'),
    new URL('real-conversations.json', import.meta.url).pathname,
  ];
  const ids = new Set<string>();
  for (const p of specs) {
    if (!existsSync(p)) continue;
    const spec = JSON.parse(readFileSync(p, 'utf8')) as Record<string, { speakers: string[] }>;
    for (const c of Object.values(spec)) for (const s of c.speakers) ids.add(s);
  }
  return ids;
}

async function pieces(files: string[]): Promise<Piece[]> {
  const analyzer = new VoiceAnalyzer();
  const all: Piece[] = [];
  for (const [n, f] of files.entries()) {
    const reader = basename(f).split('-')[0];
    const clean = (await loadAudioFile(f)).samples16k;
    const rand = rng(n + 1);
    const snr = 10 + 15 * rand();
    const smooth = [1, 2, 4, 8][Math.floor(4 * rand())];
    for (const audio of [clean, noisy(clean, snr, n + 1000, smooth)]) {
      const frames = analyzer.frames(audio);
      for (const len of PIECES) {
        for (let t = 0; t + len <= audio.length / SR; t += len) {
          if (frames.speechFrames(t, t + len) < 50) continue;
          all.push({
            reader,
            file: n,
            start: t,
            seconds: len,
            stats: frames.stats(t, t + len),
            fixed: frames.fixedStats(t, t + len),
          });
        }
      }
    }
    if ((n + 1) % 50 === 0) console.error(`  ${n + 1}/${files.length} recordings`);
  }
  return all;
}

function fit(
  train: Piece[],
  dim: number,
  calibration = { slope: 1, offset: 0 },
  spread = { within: 1, between: 1 },
): BuiltinParams {
  const { mean, scale } = standardisation(train.map((p) => p.stats));
  const z = train.map((p) =>
    Float64Array.from(p.stats, (v, i) => (Number.isFinite(v) ? (v - mean[i]) / scale[i] : 0)),
  );
  const ids = [...new Set(train.map((p) => p.reader))];
  const { projection } = fitLda(
    z,
    train.map((p) => ids.indexOf(p.reader)),
    dim,
  );
  return {
    format: BUILTIN_PARAMS_FORMAT,
    statsDim: STATS_DIM,
    dim,
    mean,
    scale,
    projection,
    calibration,
    spread,
  };
}

/**
 * Cosine scores of pairs of pieces (same reader, different readers): of the learnt part alone, or of the whole
 * embedding; `only` keeps the pairs of two pieces of that length. Different-reader pairs are thinned to at most
 * `maxDiff` (evenly), enough for an error rate or a calibration.
 */
function scores(
  params: BuiltinParams,
  test: Piece[],
  opts: { whole?: boolean; only?: number; maxDiff?: number } = {},
): { same: number[]; diff: number[] } {
  const pieces = opts.only === undefined ? test : test.filter((p) => p.seconds === opts.only);
  const emb = pieces.map((p) =>
    opts.whole ? embedStats(params, p.stats, p.fixed) : learntVector(params, p.stats),
  );
  let diffPairs = 0;
  for (let i = 0; i < pieces.length; i++)
    for (let j = i + 1; j < pieces.length; j++) if (pieces[i].reader !== pieces[j].reader) diffPairs++;
  const every = Math.max(1, Math.ceil(diffPairs / (opts.maxDiff ?? Infinity)));
  const shared = (a: Piece, b: Piece): boolean =>
    a.file === b.file && a.start < b.start + b.seconds && b.start < a.start + a.seconds;
  const same: number[] = [];
  const diff: number[] = [];
  let k = 0;
  for (let i = 0; i < pieces.length; i++) {
    for (let j = i + 1; j < pieces.length; j++) {
      if (pieces[i].reader !== pieces[j].reader) {
        if (k++ % every === 0) diff.push(cosine(emb[i], emb[j]));
      } else if (!shared(pieces[i], pieces[j])) same.push(cosine(emb[i], emb[j]));
    }
  }
  return { same, diff };
}

const average = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Appends `from`'s scores to `to`'s (a loop: millions of values are too many for push(...)). */
function append(to: { same: number[]; diff: number[] }, from: { same: number[]; diff: number[] }): void {
  for (const v of from.same) to.same.push(v);
  for (const v of from.diff) to.diff.push(v);
}

const speakersDir = join(dir, 'speakers');
const files = readdirSync(speakersDir)
  .filter((f) => f.endsWith('.flac'))
  .sort()
  .map((f) => join(speakersDir, f));
const heldOut = heldOutReaders();
const trainFiles = files.filter((f) => !heldOut.has(basename(f).split('-')[0]));
const testFiles = files.filter((f) => heldOut.has(basename(f).split('-')[0]));
console.error(`${trainFiles.length} recordings to fit, ${testFiles.length} held out; analysing...`);
const train = await pieces(trainFiles);
const test = await pieces(testFiles);
const readers = [...new Set(train.map((p) => p.reader))].sort((a, b) => Number(a) - Number(b));
const foldOf = new Map(readers.map((r, i) => [r, i % FOLDS]));

// Cross-validation over readers: embedding size by equal error rate; calibration on the pooled held-out pairs.
const cv: Record<number, { eer: number }> = {};
for (const dim of DIMS) {
  const all = { same: [] as number[], diff: [] as number[] };
  for (let f = 0; f < FOLDS; f++) {
    const fitted = fit(
      train.filter((p) => foldOf.get(p.reader) !== f),
      dim,
    );
    append(
      all,
      scores(
        fitted,
        train.filter((p) => foldOf.get(p.reader) === f),
        { maxDiff: 200_000 },
      ),
    );
  }
  cv[dim] = { eer: equalErrorRate(all.same, all.diff).eer };
  console.error(`  dim ${dim}: cross-validated EER ${(100 * cv[dim].eer).toFixed(2)} %`);
}
const dim = DIMS.reduce((a, b) => (cv[b].eer < cv[a].eer ? b : a));
// The whole embedding's cosine on the same cross-validated pairs: calibration on every length, spread on 2.5 s.
const whole = { same: [] as number[], diff: [] as number[] };
const at25 = { same: [] as number[], diff: [] as number[] };
for (let f = 0; f < FOLDS; f++) {
  const params = fit(
    train.filter((p) => foldOf.get(p.reader) !== f),
    dim,
  );
  const fold = train.filter((p) => foldOf.get(p.reader) === f);
  append(whole, scores(params, fold, { whole: true, maxDiff: 200_000 }));
  append(at25, scores(params, fold, { whole: true, only: 2.5 }));
}
const calibration = logisticCalibration(whole.same, whole.diff);
const within = 1 - average(at25.same);
const spread = { within, between: 1 - average(at25.diff) - within };
const params = fit(train, dim, calibration, spread);
const held = scores(params, test, { whole: true, maxDiff: 1_000_000 });
const heldEer = equalErrorRate(held.same, held.diff);
const learntOnly = scores(params, test, { maxDiff: 1_000_000 });
const heldLearnt = equalErrorRate(learntOnly.same, learntOnly.diff);
const threshold = thresholdFor(params);
const rate = (xs: number[], above: boolean): number =>
  xs.filter((s) => s >= threshold === above).length / xs.length;
const round = (xs: readonly number[]): number[] => xs.map((v) => Number(v.toPrecision(7)));
const report = {
  readersFitted: readers.length,
  piecesFitted: train.length,
  dim,
  crossValidatedEer: Object.fromEntries(DIMS.map((d) => [d, Number(cv[d].eer.toFixed(4))])),
  heldOutReaders: [...new Set(test.map((p) => p.reader))].length,
  heldOutEer: Number(heldEer.eer.toFixed(4)),
  heldOutLearntPartEer: Number(heldLearnt.eer.toFixed(4)),
  threshold: Number(threshold.toFixed(4)),
  heldOutAtThreshold: {
    sameAccepted: Number(rate(held.same, true).toFixed(4)),
    differentRejected: Number(rate(held.diff, false).toFixed(4)),
  },
};
console.error(JSON.stringify(report, null, 1));
const file = {
  format: params.format,
  statsDim: params.statsDim,
  dim: params.dim,
  mean: round(params.mean),
  scale: round(params.scale),
  projection: round(params.projection),
  calibration: {
    slope: Number(calibration.slope.toPrecision(7)),
    offset: Number(calibration.offset.toPrecision(7)),
  },
  spread: {
    within: Number(spread.within.toPrecision(7)),
    between: Number(spread.between.toPrecision(7)),
  },
  provenance: {
    source:
      'LibriSpeech train-clean-100 (Panayotov et al. 2015), CC BY 4.0: one 10-20 s recording per reader, as in earshot corpus real/speakers',
    command: 'npm run train:speaker -- ../shared/corpus/real',
    readers,
    heldOut: 'readers of real/conversations/spec.json and bench/real-conversations.json',
    ...report,
  },
};
writeFileSync(out, `${JSON.stringify(file)}\n`);
console.error(`wrote ${out}`);
