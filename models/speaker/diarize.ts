/**
 * Diarization API for the server: who spoke when.
 * - diarizeFile(): a whole recording (file routes): sliding windows over the VAD speech regions, offline
 *   agglomerative clustering, optional naming by reference clips.
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
  const embeddings = await embedder.embed(windows.map((w) => clip(audio, w)));
  const durations = windows.map((w) => w.end - w.start);
  let labels = agglomerative(embeddings, {
    threshold,
    minSpeakers: opts.minSpeakers,
    maxSpeakers: opts.maxSpeakers,
  });
  // A handful of stray windows (a cough, a cross-talk window) is not a speaker of its own.
  labels = absorbSmallClusters(embeddings, labels, durations, 1.0, opts.minSpeakers ?? 1);
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
  const turns: SpeakerTurn[] = [];
  let w0 = 0;
  regions.forEach((region, r) => {
    const ws = perRegion[r];
    const idx = ws.map((_, i) => w0 + i);
    w0 += ws.length;
    for (const t of windowsToTurns(
      region,
      ws,
      idx.map((i) => labels[i]),
      idx.map((i) => conf[i]),
    )) {
      const name = names[t.speaker];
      turns.push(name === undefined ? t : { ...t, name });
    }
  });
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
    const embeddings = await this.embedder.embed(windows.map((w) => clip(audio, w, start)));
    // Change points: the windows of this final clustered among themselves; each local speaker then joins the
    // session's speakers as one clip (its windows' mean), which is steadier than window by window.
    let local = windows.length === 1 ? [0] : agglomerative(embeddings, { threshold: this.threshold });
    local = absorbSmallClusters(
      embeddings,
      local,
      windows.map((w) => w.end - w.start),
      (this.opts.windowSeconds ?? 1.5) + 1e-6,
      1,
    );
    const localCents = centroids(embeddings, local);
    const seconds = localCents.map((_, l) =>
      windows.filter((_, i) => local[i] === l).reduce((s, w) => s + w.end - w.start, 0),
    );
    const global = localCents.map((c, l) => this.clusters.assign(c, seconds[l]));
    const labels = local.map((l) => global[l].speaker);
    const conf = local.map((l) =>
      global[l].isNew
        ? 1 - Math.max(0, this.clusters.nearest(localCents[l]).second)
        : confidenceOf(global[l].similarity, this.threshold),
    );
    const turns = windowsToTurns(span, windows, labels, conf);
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
