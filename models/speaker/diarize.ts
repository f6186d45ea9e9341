/**
 * Diarization API for the server: who spoke when.
 * - diarizeFile(): a whole recording (file routes): each VAD speech region is cut where its speaker changes
 *   (sliding windows clustered among themselves), the pieces are embedded whole and clustered offline
 *   (agglomerative), optionally named by reference clips. Whole pieces embed more steadily than 1.5 s windows, and
 *   a region is mostly one speaker.
 * - LiveDiarizer: one per live session: labels each final (and its words) as it comes, with stable speaker numbers
 *   and a JSON state that survives a resume. A final holding two speakers (no pause between turns) is split at the
 *   change.
 */
import {
  type OnlineClusterState,
  OnlineClusterer,
  agglomerative,
  centroids,
  nameClusters,
} from './cluster.js';
import { EMBEDDING_SAMPLE_RATE as SR, type SpeakerEmbedder, cosine } from './embedding.js';

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

export interface WindowOptions {
  /** Sub-window length for change detection, seconds; default 1.5. */
  windowSeconds?: number;
  /** Hop between sub-windows, seconds; default 0.5. */
  hopSeconds?: number;
}

export interface DiarizeFileOptions extends WindowOptions {
  /** Same-speaker cosine similarity; default the embedder's own. */
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

const STEP = 0.02;
/** Live: a voice heard for less than this inside a final joins the nearest known speaker, seconds. */
const MIN_NEW_SPEAKER_SECONDS = 1.5;
/** Linkage score at which clusters merge: they resemble each other this much relative to themselves. */
const RELATIVE_LINKAGE = 0.8;
/** File: a cluster with less speech than this joins its nearest neighbour, seconds. */
const MIN_SPEAKER_SECONDS = 3;

/** Windows covering [start, end): one when short, else windowSeconds every hopSeconds with the last flush at end. */
export function slidingWindows(span: TimeSpan, opts: WindowOptions = {}): TimeSpan[] {
  const win = opts.windowSeconds ?? 1.5;
  const hop = opts.hopSeconds ?? 0.5;
  const len = span.end - span.start;
  if (len <= win + hop) return [{ ...span }];
  const out: TimeSpan[] = [];
  let s = span.start;
  for (; s + win < span.end; s += hop) out.push({ start: s, end: s + win });
  out.push({ start: span.end - win, end: span.end });
  return out;
}

function clip(audio: Float32Array, span: TimeSpan, offset = 0): Float32Array {
  const a = Math.max(0, Math.round((span.start - offset) * SR));
  const b = Math.min(audio.length, Math.round((span.end - offset) * SR));
  return audio.subarray(a, Math.max(a, b));
}

/**
 * Turns per-window labels into contiguous turns over `span`: each instant takes the label of the covering window
 * whose centre is nearest.
 */
function windowsToTurns(
  span: TimeSpan,
  windows: readonly TimeSpan[],
  labels: readonly number[],
  conf: readonly number[],
): SpeakerTurn[] {
  const turns: SpeakerTurn[] = [];
  for (let t = span.start; t < span.end - 1e-9; t += STEP) {
    const m = Math.min(t + STEP / 2, span.end);
    let best = 0;
    for (let w = 1; w < windows.length; w++) {
      const d = Math.abs((windows[w].start + windows[w].end) / 2 - m);
      if (d < Math.abs((windows[best].start + windows[best].end) / 2 - m)) best = w;
    }
    const end = Math.min(t + STEP, span.end);
    const last = turns.at(-1);
    if (last && last.speaker === labels[best]) {
      last.end = end;
      last.confidence = Math.min(last.confidence, conf[best]);
    } else turns.push({ start: t, end, speaker: labels[best], confidence: conf[best] });
  }
  return turns;
}

/** Labels of clusters with less than minSeconds of windows go to the most similar larger cluster. */
function absorbSmallClusters(
  embeddings: readonly Float32Array[],
  labels: number[],
  durations: readonly number[],
  minSeconds: number,
  keepAtLeast: number,
): number[] {
  for (;;) {
    const cents = centroids(embeddings, labels, durations);
    const seconds = new Array<number>(cents.length).fill(0);
    labels.forEach((l, i) => (seconds[l] += durations[i]));
    const live = seconds.map((s, l) => l).filter((l) => seconds[l] > 0);
    const small = live.filter((l) => seconds[l] < minSeconds).sort((a, b) => seconds[a] - seconds[b]);
    if (small.length === 0 || live.length <= keepAtLeast) break;
    const victim = small[0];
    let target = -1;
    let best = -Infinity;
    for (const l of live) {
      if (l !== victim && cosine(cents[l], cents[victim]) > best) {
        best = cosine(cents[l], cents[victim]);
        target = l;
      }
    }
    if (target < 0) break;
    for (let i = 0; i < labels.length; i++) if (labels[i] === victim) labels[i] = target;
  }
  // Renumber by first appearance.
  const ids = new Map<number, number>();
  return labels.map((l) => {
    if (!ids.has(l)) ids.set(l, ids.size);
    return ids.get(l)!;
  });
}

/** Similarity mapped to 0..1 around the threshold: 0.5 at the threshold, 1 at identity. */
function confidenceOf(similarity: number, threshold: number): number {
  const c =
    similarity >= threshold
      ? 0.5 + (0.5 * (similarity - threshold)) / Math.max(1e-6, 1 - threshold)
      : (0.5 * (similarity + 1)) / Math.max(1e-6, threshold + 1);
  return Math.max(0, Math.min(1, c));
}

/** Pieces of one speech span, each (as far as its windows tell) one speaker; `local` numbers them by voice. */
interface Piece {
  local: number;
  spans: TimeSpan[];
  seconds: number;
}

/**
 * Where the speaker changes inside `span`: its sliding windows clustered among themselves, local voices with less
 * than a window's worth of audio folded into their nearest neighbour. One piece when the span is one window.
 */
function pieces(
  span: TimeSpan,
  windows: readonly TimeSpan[],
  embeddings: readonly Float32Array[],
  threshold: number,
  windowSeconds: number,
): Piece[] {
  if (windows.length === 1) return [{ local: 0, spans: [{ ...span }], seconds: span.end - span.start }];
  let local = agglomerative(embeddings, { threshold });
  local = absorbSmallClusters(
    embeddings,
    local,
    windows.map((w) => w.end - w.start),
    windowSeconds + 1e-6,
    1,
  );
  const turns = windowsToTurns(
    span,
    windows,
    local,
    local.map(() => 1),
  );
  const out: Piece[] = [];
  for (const t of turns) {
    let p = out.find((x) => x.local === t.speaker);
    if (!p) out.push((p = { local: t.speaker, spans: [], seconds: 0 }));
    p.spans.push({ start: t.start, end: t.end });
    p.seconds += t.end - t.start;
  }
  return out;
}

/** The audio of a piece's spans, joined. */
function pieceAudio(audio: Float32Array, spans: readonly TimeSpan[], offset = 0): Float32Array {
  const parts = spans.map((s) => clip(audio, s, offset));
  if (parts.length === 1) return parts[0];
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Diarizes a whole recording given its speech regions (e.g. Silero VAD spans), times in seconds. */
export async function diarizeFile(
  embedder: SpeakerEmbedder,
  audio: Float32Array,
  speech: readonly TimeSpan[],
  opts: DiarizeFileOptions = {},
): Promise<FileDiarization> {
  const threshold = opts.threshold ?? embedder.sameSpeakerThreshold;
  const regions = speech.filter((s) => s.end - s.start >= embedder.minSeconds);
  const perRegion = regions.map((r) => slidingWindows(r, opts));
  const windows = perRegion.flat();
  if (windows.length === 0) return { turns: [], speakers: [] };
  const winEmb = await embedder.embed(windows.map((w) => clip(audio, w)));
  let w0 = 0;
  const all = regions.flatMap((region, r) => {
    const n = perRegion[r].length;
    const ps = pieces(region, perRegion[r], winEmb.slice(w0, w0 + n), threshold, opts.windowSeconds ?? 1.5);
    w0 += n;
    return ps;
  });
  const embeddings = await embedder.embed(all.map((p) => pieceAudio(audio, p.spans)));
  const durations = all.map((p) => p.seconds);
  // Normalised linkage: two single pieces merge at the same-speaker threshold, clusters when they resemble each
  // other RELATIVE_LINKAGE as much as they resemble themselves.
  let labels = agglomerative(embeddings, {
    threshold: RELATIVE_LINKAGE,
    linkage: 'normalized',
    within: threshold / RELATIVE_LINKAGE,
    minSpeakers: opts.minSpeakers,
    maxSpeakers: opts.maxSpeakers,
  });
  // A few seconds of stray pieces (a cough, cross-talk, an odd sentence) are not a speaker of their own.
  labels = absorbSmallClusters(embeddings, labels, durations, MIN_SPEAKER_SECONDS, opts.minSpeakers ?? 1);
  const cents = centroids(embeddings, labels, durations);
  const conf = embeddings.map((e, i) => confidenceOf(cosine(e, cents[labels[i]]), threshold));
  let names: (string | undefined)[] = [];
  if (opts.known && opts.known.length > 0) {
    const refs = await embedder.embed(opts.known.map((k) => k.audio));
    names = nameClusters(
      cents,
      opts.known.map((k, i) => ({ name: k.name, embedding: refs[i] })),
      threshold,
    );
  }
  const turns: SpeakerTurn[] = all
    .flatMap((p, i) =>
      p.spans.map((s) => ({
        ...s,
        speaker: labels[i],
        confidence: conf[i],
        ...(names[labels[i]] === undefined ? {} : { name: names[labels[i]] }),
      })),
    )
    .sort((a, b) => a.start - b.start);
  const speakers = cents.map((_, id) => ({
    id,
    ...(names[id] === undefined ? {} : { name: names[id] }),
    seconds: turns.filter((t) => t.speaker === id).reduce((s, t) => s + t.end - t.start, 0),
  }));
  return { turns, speakers };
}

export interface LiveDiarizerOptions extends WindowOptions {
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
    const span = { start, end: start + audio.length / SR };
    const windows = slidingWindows(span, this.opts);
    const winEmb = await this.embedder.embed(windows.map((w) => clip(audio, w, start)));
    // Change points from the windows; each local voice then joins the session's speakers as one clip (all its
    // audio), which is steadier than window by window. A voice heard for less than MIN_NEW_SPEAKER_SECONDS is
    // not trusted with a new speaker.
    const ps = pieces(span, windows, winEmb, this.threshold, this.opts.windowSeconds ?? 1.5);
    const embeddings = await this.embedder.embed(ps.map((p) => pieceAudio(audio, p.spans, start)));
    const global = ps.map((p, i) =>
      this.clusters.assign(embeddings[i], p.seconds, p.seconds >= MIN_NEW_SPEAKER_SECONDS),
    );
    const conf = ps.map((_, i) =>
      global[i].isNew
        ? 1 - Math.max(0, this.clusters.nearest(embeddings[i]).second)
        : confidenceOf(global[i].similarity, this.threshold),
    );
    const turns: SpeakerTurn[] = [];
    for (const [i, p] of ps.entries()) {
      for (const s of p.spans) turns.push({ ...s, speaker: global[i].speaker, confidence: conf[i] });
    }
    turns.sort((a, b) => a.start - b.start);
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
    for (const t of turns) bySpeaker.set(t.speaker, (bySpeaker.get(t.speaker) ?? 0) + t.end - t.start);
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
