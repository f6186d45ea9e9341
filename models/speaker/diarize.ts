/**
 * Diarization API for the server: who spoke when.
 * - diarizeFile(): a whole recording (file routes). Each VAD speech region is cut into chunks of about 2.5 s
 *   (long enough for a steady voice estimate, short enough to be mostly one speaker); the chunks are clustered
 *   offline (weighted average linkage), speakers with little speech folded into their nearest neighbour; then
 *   every region is re-segmented against the speakers found: 1.5 s windows every 0.1 s scored against each
 *   speaker's centroid, with a Viterbi path that pays for every change of speaker. Comparing a window with a
 *   speaker's many seconds is steadier than comparing two windows, which is why changes are found this way and
 *   not window against window.
 * - LiveDiarizer: one per live session: labels each final (and its words) as it comes, with stable speaker numbers
 *   and a JSON state that survives a resume. A final holding two speakers (no pause between turns) is split at the
 *   change the same way.
 */
import {
  type OnlineClusterState,
  OnlineClusterer,
  agglomerative,
  centroids,
  nameClusters,
} from './cluster.js';
import { type SpanEmbedder, type SpeakerEmbedder, cosine, spansOf } from './embedding.js';

export interface TimeSpan {
  start: number;
  end: number;
}

export interface SpeakerTurn extends TimeSpan {
  speaker: number;
  /** Known speaker's name, when reference clips were given and one matched. */
  name?: string;
  /** 0..1: how clearly the audio matches its speaker. */
  confidence: number;
}

export interface SegmentOptions {
  /** Clustering unit, seconds; default 2.5. */
  chunkSeconds?: number;
  /** Re-segmentation window, seconds; default 1.5. */
  windowSeconds?: number;
  /** Re-segmentation step, seconds; default 0.1 (0.5 when the embedder cannot analyse a recording once). */
  hopSeconds?: number;
}

export interface DiarizeFileOptions extends SegmentOptions {
  /** Same-speaker similarity (average linkage); default the embedder's own. */
  threshold?: number;
  minSpeakers?: number;
  maxSpeakers?: number;
  /** Reference clips (16 kHz) of speakers to name. */
  known?: readonly { name: string; audio: Float32Array }[];
}

export interface FileDiarization {
  turns: SpeakerTurn[];
  speakers: { id: number; name?: string; seconds: number }[];
}

/** Live: a voice heard for less than this inside a final joins the nearest known speaker, seconds. */
const MIN_NEW_SPEAKER_SECONDS = 1.5;
/** File: a speaker with less speech than this (seconds, or this share of the recording's speech) is folded. */
const MIN_SPEAKER_SECONDS = 3;
const MIN_SPEAKER_SHARE = 0.04;
/** Viterbi cost of a change of speaker, in summed cosine similarity (one 0.1 s step scores at most 1). */
const CHANGE_PENALTY = 0.5;

/** `span` in equal chunks of about chunkSeconds (one when shorter than 1.5 chunks). */
export function chunks(span: TimeSpan, chunkSeconds = 2.5): TimeSpan[] {
  const n = Math.max(1, Math.round((span.end - span.start) / chunkSeconds));
  const d = (span.end - span.start) / n;
  return Array.from({ length: n }, (_, i) => ({
    start: span.start + i * d,
    end: i === n - 1 ? span.end : span.start + (i + 1) * d,
  }));
}

const seconds = (s: TimeSpan): number => s.end - s.start;

/** Similarity mapped to 0..1 around the threshold: 0.5 at the threshold, 1 at identity. */
function confidenceOf(similarity: number, threshold: number): number {
  const c =
    similarity >= threshold
      ? 0.5 + (0.5 * (similarity - threshold)) / Math.max(1e-6, 1 - threshold)
      : (0.5 * (similarity + 1)) / Math.max(1e-6, threshold + 1);
  return Math.max(0, Math.min(1, c));
}

/**
 * Splits `span` among `speakers` (unit centroids): windows scored by cosine to each centroid, the best path with
 * CHANGE_PENALTY per change. Returns contiguous runs with the index of their speaker in `speakers`.
 */
async function resegment(
  spans: SpanEmbedder,
  span: TimeSpan,
  speakers: readonly Float32Array[],
  opts: { windowSeconds: number; hopSeconds: number },
): Promise<(TimeSpan & { k: number })[]> {
  if (speakers.length === 1) return [{ ...span, k: 0 }];
  const { windowSeconds: win, hopSeconds: hop } = opts;
  const steps: number[] = [];
  for (let t = span.start; t < span.end - 1e-9; t += hop) steps.push(t);
  // Each step's window is centred on it, slid inwards at the edges so that every window is full length.
  const windows = steps.map((t) => {
    const len = Math.min(win, seconds(span));
    const a = Math.min(Math.max(span.start, t + hop / 2 - len / 2), span.end - len);
    return { start: a, end: a + len };
  });
  const score = (await spans.embedSpans(windows)).map((w) => speakers.map((c) => cosine(w, c)));
  const K = speakers.length;
  let total = score[0].slice();
  const from: number[][] = [];
  for (let i = 1; i < steps.length; i++) {
    const best = total.indexOf(Math.max(...total));
    const back = new Array<number>(K);
    const next = new Array<number>(K);
    for (let k = 0; k < K; k++) {
      const stay = total[k];
      const change = total[best] - CHANGE_PENALTY;
      back[k] = stay >= change ? k : best;
      next[k] = Math.max(stay, change) + score[i][k];
    }
    from.push(back);
    total = next;
  }
  const path = new Array<number>(steps.length);
  path[steps.length - 1] = total.indexOf(Math.max(...total));
  for (let i = steps.length - 1; i > 0; i--) path[i - 1] = from[i - 1][path[i]];
  const runs: (TimeSpan & { k: number })[] = [];
  for (let i = 0; i < steps.length; i++) {
    const end = i + 1 < steps.length ? steps[i + 1] : span.end;
    const last = runs.at(-1);
    if (last && last.k === path[i]) last.end = end;
    else runs.push({ start: steps[i], end, k: path[i] });
  }
  return runs;
}

/** Labels of clusters with less than minSeconds go to the cluster they resemble most (average similarity). */
function absorbSmallClusters(
  embeddings: readonly Float32Array[],
  labels: number[],
  durations: readonly number[],
  minSeconds: number,
  keepAtLeast: number,
): number[] {
  for (;;) {
    const totals = new Map<number, number>();
    labels.forEach((l, i) => totals.set(l, (totals.get(l) ?? 0) + durations[i]));
    if (totals.size <= keepAtLeast) break;
    const small = [...totals].filter(([, s]) => s < minSeconds).sort((a, b) => a[1] - b[1]);
    if (small.length === 0) break;
    const victim = small[0][0];
    let target = -1;
    let best = -Infinity;
    for (const l of totals.keys()) {
      if (l === victim) continue;
      let sum = 0;
      let n = 0;
      labels.forEach((a, i) => {
        if (a !== victim) return;
        labels.forEach((b, j) => {
          if (b === l) {
            sum += cosine(embeddings[i], embeddings[j]);
            n++;
          }
        });
      });
      if (sum / n > best) {
        best = sum / n;
        target = l;
      }
    }
    labels = labels.map((l) => (l === victim ? target : l));
  }
  return labels;
}

/** Renumbers labels by first appearance (0, 1, ...). */
function byFirstAppearance(labels: readonly number[]): number[] {
  const ids = new Map<number, number>();
  return labels.map((l) => {
    if (!ids.has(l)) ids.set(l, ids.size);
    return ids.get(l)!;
  });
}

function hopFor(
  embedder: SpeakerEmbedder,
  opts: SegmentOptions,
): SegmentOptions & {
  windowSeconds: number;
  hopSeconds: number;
} {
  return {
    ...opts,
    windowSeconds: opts.windowSeconds ?? 1.5,
    // Without a once-per-recording analysis every window is a model run: fewer of them.
    hopSeconds: opts.hopSeconds ?? (embedder.analyze ? 0.1 : 0.5),
  };
}

/** Diarizes a whole recording given its speech regions (e.g. Silero VAD spans), times in seconds. */
export async function diarizeFile(
  embedder: SpeakerEmbedder,
  audio: Float32Array,
  speech: readonly TimeSpan[],
  opts: DiarizeFileOptions = {},
): Promise<FileDiarization> {
  const threshold = opts.threshold ?? embedder.sameSpeakerThreshold;
  const seg = hopFor(embedder, opts);
  const regions = speech.filter((s) => seconds(s) >= embedder.minSeconds);
  const units = regions.flatMap((r) => chunks(r, opts.chunkSeconds));
  if (units.length === 0) return { turns: [], speakers: [] };
  const spans = spansOf(embedder, audio);
  const unitEmb = await spans.embedSpans(units);
  const durations = units.map(seconds);
  let labels = agglomerative(unitEmb, {
    threshold,
    weights: durations,
    minSpeakers: opts.minSpeakers,
    maxSpeakers: opts.maxSpeakers,
  });
  // A few seconds of stray chunks (a cough, cross-talk, an odd sentence) are not a speaker of their own.
  const speechSeconds = durations.reduce((a, b) => a + b, 0);
  labels = absorbSmallClusters(
    unitEmb,
    labels,
    durations,
    Math.max(MIN_SPEAKER_SECONDS, MIN_SPEAKER_SHARE * speechSeconds),
    opts.minSpeakers ?? 1,
  );
  labels = byFirstAppearance(labels);
  const cents = centroids(unitEmb, labels, durations);
  const runs = (await Promise.all(regions.map((r) => resegment(spans, r, cents, seg)))).flat();
  const runEmb = await spans.embedSpans(runs);
  let names: (string | undefined)[] = [];
  if (opts.known && opts.known.length > 0) {
    const refs = await embedder.embed(opts.known.map((k) => k.audio));
    names = nameClusters(
      cents,
      opts.known.map((k, i) => ({ name: k.name, embedding: refs[i] })),
      threshold,
    );
  }
  // Speakers numbered by first appearance in the final turns (re-segmentation may leave one without any).
  const order = byFirstAppearance(runs.map((r) => r.k));
  const idOf = new Map(runs.map((r, i) => [r.k, order[i]]));
  const turns: SpeakerTurn[] = runs.map((r, i) => ({
    start: r.start,
    end: r.end,
    speaker: idOf.get(r.k)!,
    confidence: confidenceOf(cosine(runEmb[i], cents[r.k]), threshold),
    ...(names[r.k] === undefined ? {} : { name: names[r.k] }),
  }));
  const speakers = [...idOf].map(([k, id]) => ({
    id,
    ...(names[k] === undefined ? {} : { name: names[k] }),
    seconds: turns.filter((t) => t.speaker === id).reduce((s, t) => s + seconds(t), 0),
  }));
  speakers.sort((a, b) => a.id - b.id);
  return { turns, speakers };
}

export interface LiveDiarizerOptions extends SegmentOptions {
  threshold?: number;
  /** Default 8. */
  maxSpeakers?: number;
}

export interface LabeledFinal {
  /** The speaker of most of the final. */
  speaker: number;
  confidence: number;
  /** Stream-time turns inside the final (more than one when the speaker changed without a pause). */
  turns: SpeakerTurn[];
  /** One per word given, in order. */
  words: { speaker: number; confidence: number }[];
}

/** One per live session: call labelFinal for every final, in order. */
export class LiveDiarizer {
  private readonly clusters: OnlineClusterer;
  private readonly threshold: number;

  constructor(
    private readonly embedder: SpeakerEmbedder,
    private readonly opts: LiveDiarizerOptions = {},
    state?: OnlineClusterState,
  ) {
    this.threshold = opts.threshold ?? state?.threshold ?? embedder.sameSpeakerThreshold;
    this.clusters = new OnlineClusterer(
      { threshold: this.threshold, maxSpeakers: opts.maxSpeakers ?? state?.maxSpeakers },
      state,
    );
  }

  /** Plain JSON: store it with the session and pass it back to the constructor on resume. */
  get state(): OnlineClusterState {
    return this.clusters.toJSON();
  }

  /**
   * `audio` is the final's audio (16 kHz) starting at stream time `start` seconds; `words` carry stream times.
   */
  async labelFinal(
    audio: Float32Array,
    start: number,
    words: readonly TimeSpan[] = [],
  ): Promise<LabeledFinal> {
    const whole = { start: 0, end: audio.length / 16000 };
    const spans = spansOf(this.embedder, audio);
    // The final's chunks clustered among themselves (a final is mostly one voice; fast turns make two or three),
    // then each local voice joins the session's speakers with all its chunks' weight. A voice heard for less than
    // MIN_NEW_SPEAKER_SECONDS is not trusted with a new speaker.
    const units = chunks(whole, this.opts.chunkSeconds);
    const unitEmb = await spans.embedSpans(units);
    const durations = units.map(seconds);
    const local = agglomerative(unitEmb, { threshold: this.threshold, weights: durations });
    const voices = centroids(unitEmb, local, durations);
    const voiceSeconds = voices.map((_, v) => durations.reduce((s, d, i) => s + (local[i] === v ? d : 0), 0));
    const assigned = voices.map((e, v) =>
      this.clusters.assign(e, voiceSeconds[v], voiceSeconds[v] >= MIN_NEW_SPEAKER_SECONDS),
    );
    const ids = [...new Set(assigned.map((a) => a.speaker))];
    const cents = ids.map((id) => this.clusters.centroid(id) ?? new Float32Array(this.embedder.dim));
    const runs = await resegment(spans, whole, cents, hopFor(this.embedder, this.opts));
    const runEmb = await spans.embedSpans(runs);
    const turns: SpeakerTurn[] = runs.map((r, i) => {
      const a = assigned.find((x) => x.speaker === ids[r.k])!;
      return {
        start: start + r.start,
        end: start + r.end,
        speaker: ids[r.k],
        confidence: a.isNew
          ? 1 - Math.max(0, this.clusters.nearest(runEmb[i]).second)
          : confidenceOf(cosine(runEmb[i], cents[r.k]), this.threshold),
      };
    });
    const wordLabels = words.map((w) => {
      let best = turns[0];
      let bestOverlap = -Infinity;
      for (const t of turns) {
        const o = Math.min(w.end, t.end) - Math.max(w.start, t.start);
        if (o > bestOverlap) {
          bestOverlap = o;
          best = t;
        }
      }
      return { speaker: best.speaker, confidence: best.confidence };
    });
    const bySpeaker = new Map<number, number>();
    for (const t of turns) bySpeaker.set(t.speaker, (bySpeaker.get(t.speaker) ?? 0) + seconds(t));
    const main = [...bySpeaker.entries()].sort((a, b) => b[1] - a[1])[0][0];
    const mainTurns = turns.filter((t) => t.speaker === main);
    return {
      speaker: main,
      confidence: Math.min(...mainTurns.map((t) => t.confidence)),
      turns,
      words: wordLabels,
    };
  }
}
