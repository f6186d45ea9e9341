/**
 * Speaker clustering on cosine similarity of L2-normalised embeddings.
 * - OnlineClusterer: one per live session: every speaker's clips summed (weighted by seconds). A clip joins the
 *   speaker it resembles most when the similarity reaches the threshold, else becomes a new speaker, up to
 *   maxSpeakers (then it joins the nearest). Numbers are never reused or reordered, and the state is plain JSON
 *   so a resumed session keeps its labels.
 * - agglomerative(): over a whole file (or a live session's recent speech): Bayesian merging, the number of
 *   speakers following from how the pieces spread (the embedder's SpeakerSpread), unless min/max speakers force
 *   otherwise.
 */
import { type SpeakerSpread, cosine } from './embedding.js';

export interface SpeakerCentroid {
  id: number;
  /** Weighted sum of the member embeddings (its direction is the centroid). */
  sum: number[];
  /** Total weight (seconds of speech) behind it. */
  weight: number;
}

export interface OnlineClusterState {
  version: 1;
  threshold: number;
  maxSpeakers: number;
  speakers: SpeakerCentroid[];
  /** What the embedder learnt of the session's voices (EmbeddingContext.toJSON), when it keeps anything. */
  context?: unknown;
}

export interface OnlineClusterOptions {
  threshold: number;
  /** Default 8. */
  maxSpeakers?: number;
}

export class ClusterStateError extends Error {
  override name = 'ClusterStateError';
}

export class OnlineClusterer {
  private readonly threshold: number;
  private readonly maxSpeakers: number;
  private readonly speakers: { id: number; sum: Float64Array; weight: number }[] = [];

  constructor(opts: OnlineClusterOptions, state?: OnlineClusterState) {
    this.threshold = opts.threshold;
    this.maxSpeakers = opts.maxSpeakers ?? 8;
    if (!(this.maxSpeakers >= 1))
      throw new ClusterStateError(`maxSpeakers must be >= 1, got ${this.maxSpeakers}`);
    if (state) {
      if (state.version !== 1 || !Array.isArray(state.speakers)) {
        throw new ClusterStateError('speaker clustering state is not a version 1 state');
      }
      const dim = state.speakers[0]?.sum.length;
      for (const s of state.speakers) {
        if (!Number.isInteger(s.id) || s.sum.length !== dim || !(s.weight > 0)) {
          throw new ClusterStateError(`speaker ${s.id} in the clustering state is malformed`);
        }
        const sum = Float64Array.from(s.sum);
        this.speakers.push({ id: s.id, sum, weight: s.weight });
      }
    }
  }

  static fromJSON(state: OnlineClusterState): OnlineClusterer {
    return new OnlineClusterer(state, state);
  }

  get count(): number {
    return this.speakers.length;
  }

  /**
   * The best match without changing anything (speaker -1 when there is none yet). Similarity is average linkage,
   * as offline: the clip's mean cosine to the speaker's clips (weighted), which is its dot product with the
   * speaker's weighted sum over the weight. It is lower than the cosine to the centroid by how much the
   * speaker's own clips vary, so one threshold serves both paths. Speakers in `except` are not considered.
   */
  nearest(embedding: Float32Array, except?: ReadonlySet<number>): { speaker: number; similarity: number } {
    let speaker = -1;
    let similarity = -Infinity;
    for (const s of this.speakers) {
      if (except?.has(s.id)) continue;
      let dot = 0;
      for (let i = 0; i < s.sum.length; i++) dot += embedding[i] * s.sum[i];
      const sim = dot / s.weight;
      if (sim > similarity) {
        similarity = sim;
        speaker = s.id;
      }
    }
    return { speaker, similarity };
  }

  /**
   * The speaker a clip belongs to, without adding it: the most similar one when the similarity reaches the
   * threshold (the state's, or the one given: a session's as its voices have shown) or when no more speakers may
   * open, else the next free number. Speakers in `except` are not candidates (a live session's recent speakers,
   * which its clustering already told apart from this clip) unless no more speakers may open. The zero vector (a
   * clip with no voice: digital silence) takes the speaker heard most, so it can neither open a speaker nor pull
   * one away.
   */
  match(embedding: Float32Array, threshold = this.threshold, except?: ReadonlySet<number>): number {
    if (embedding.every((x) => x === 0)) {
      const main = this.speakers.reduce<(typeof this.speakers)[number] | undefined>(
        (m, s) => (m && m.weight >= s.weight ? m : s),
        undefined,
      );
      return main?.id ?? 0;
    }
    const best = this.nearest(embedding, except);
    if (best.speaker >= 0 && best.similarity >= threshold) return best.speaker;
    if (this.count >= this.maxSpeakers) return this.nearest(embedding).speaker;
    return this.speakers.length === 0 ? 0 : Math.max(...this.speakers.map((s) => s.id)) + 1;
  }

  /** Adds a clip to speaker `id`'s statistics (opening it when it is not known yet); the zero vector adds nothing. */
  add(id: number, embedding: Float32Array, weight: number): void {
    if (embedding.every((x) => x === 0)) return;
    let s = this.speakers.find((x) => x.id === id);
    if (!s) this.speakers.push((s = { id, sum: new Float64Array(embedding.length), weight: 0 }));
    for (let i = 0; i < s.sum.length; i++) s.sum[i] += weight * embedding[i];
    s.weight += weight;
  }

  /** Forgets speaker `id` (one opened by mistake before its label was given). */
  remove(id: number): void {
    const i = this.speakers.findIndex((x) => x.id === id);
    if (i >= 0) this.speakers.splice(i, 1);
  }

  /** Speaker `from` is numbered `to` from now on (`to` must be free). */
  rename(from: number, to: number): void {
    const s = this.speakers.find((x) => x.id === from);
    if (s) s.id = to;
  }

  /** Seconds of speech behind speaker `id` (0 when unknown). */
  seconds(id: number): number {
    return this.speakers.find((x) => x.id === id)?.weight ?? 0;
  }

  /** Unit centroid of speaker `id`, undefined when unknown. */
  centroid(id: number): Float32Array | undefined {
    const s = this.speakers.find((x) => x.id === id);
    return s && unit(s.sum);
  }

  toJSON(): OnlineClusterState {
    return {
      version: 1,
      threshold: this.threshold,
      maxSpeakers: this.maxSpeakers,
      speakers: this.speakers.map((s) => ({ id: s.id, sum: [...s.sum], weight: s.weight })),
    };
  }
}

function unit(sum: Float64Array): Float32Array {
  let n = 0;
  for (const x of sum) n += x * x;
  n = Math.sqrt(n) || 1;
  return Float32Array.from(sum, (x) => x / n);
}

export interface AgglomerativeOptions {
  /** How the embedder's pieces spread within one voice and between voices (SpeakerEmbedder.spread). */
  spread: SpeakerSpread;
  /** Seconds of speech behind each item: a long clip is surer evidence of its voice. Default 2.5 each. */
  weights?: readonly number[];
  /**
   * Per item, a group (>= 0) or -1: clusters holding items of two different groups never merge (labels a live
   * session has already given to settled speakers). Default none.
   */
  groups?: readonly number[];
  minSpeakers?: number;
  maxSpeakers?: number;
}

/** The length of piece SpeakerSpread describes, seconds. */
const SPREAD_SECONDS = 2.5;

/**
 * Two clusters merge while the evidence that they are one voice, against two, is above this (log odds per
 * dimension of the voice model; chosen on the dev conversations of ../shared/corpus/real and the synthetic
 * conversations). Below 0: a recording has few voices, and a voice split in two costs more than two voices merged
 * into one that is then re-segmented.
 */
const MERGE_EVIDENCE = -0.1;

/**
 * A voice drifts over a recording (tone, loudness, distance to the microphone): more than this much of it
 * (seconds) places it no better, so that two long stretches of one voice are not told apart by a small drift.
 */
const DRIFT_SECONDS = 10;

/**
 * Pieces at least this similar (cosine) are the same stretch of audio heard again: a replayed prompt, a synthetic
 * voice saying the same sentence (the 5-minute monologue says 30 sentences 110 times; 5 copies of one made a
 * second speaker). No two pieces of real speech come this close (at most 0.93 on the dev conversations). Repeats
 * say no more about a voice than one of them, so they share one piece's weight.
 */
const REPEAT_SIMILARITY = 0.99;

/**
 * Speakers of a recording (or a live session's recent speech) by Bayesian agglomerative clustering: each speaker
 * is a point in the embedding space around the recording's centre, two speakers `2 × spread.between` apart (squared
 * distance) on average, and each item lies around its speaker with variance `spread.within` per 2.5 s (shorter items
 * spread more); a cluster's mean places its speaker with the variance of its seconds, never below DRIFT_SECONDS'.
 * Clusters merge best first while the evidence that their means are one speaker's rather than two (log likelihood
 * ratio) is above MERGE_EVIDENCE, or while there are more than maxSpeakers; never below minSpeakers. The evidence
 * grows with the seconds behind both clusters, so the count follows from the recording instead of a similarity
 * threshold: two long clusters apart by a little are two voices, two short ones are not yet. Returns one label per
 * embedding, numbered by first appearance (the first item is speaker 0).
 */
export function agglomerative(embeddings: readonly Float32Array[], opts: AgglomerativeOptions): number[] {
  const n = embeddings.length;
  if (n === 0) return [];
  const minK = Math.max(1, opts.minSpeakers ?? 1);
  const maxK = Math.max(minK, opts.maxSpeakers ?? n);
  // A zero vector (no voice) is no evidence: it weighs nothing and joins whichever cluster takes it.
  const voiced = embeddings.map((e) => e.some((x) => x !== 0));
  const heard = embeddings.map((_, i) =>
    voiced[i] ? Math.max(1e-3, opts.weights?.[i] ?? SPREAD_SECONDS) : 0,
  );
  const seconds = heard.map((w, i) => w / repeats(embeddings, i));
  const { within, between } = opts.spread;
  // Per cluster: its seconds and g[i][j] = seconds-weighted sum of the inner products (about the recording's
  // centre) between the items of clusters i and j (Lance-Williams: sums merge), which give the distance of means.
  const weight = seconds.slice();
  const g = centredGram(embeddings, seconds).map((row, i) => row.map((v, j) => seconds[i] * seconds[j] * v));
  const variance = (w: number): number => (within * SPREAD_SECONDS) / Math.min(w, DRIFT_SECONDS);
  const evidence = (i: number, j: number): number => {
    if (weight[i] === 0 || weight[j] === 0) return 0;
    const d2 = g[i][i] / weight[i] ** 2 + g[j][j] / weight[j] ** 2 - (2 * g[i][j]) / (weight[i] * weight[j]);
    const same = variance(weight[i]) + variance(weight[j]);
    const apart = same + 2 * between;
    return 0.5 * (Math.log(apart / same) - d2 / same + d2 / apart);
  };
  const alive = new Array<boolean>(n).fill(true);
  const parent = Array.from({ length: n }, (_, i) => i);
  // A cluster holds at most one group: clusters of two different groups never merge.
  const group = embeddings.map((_, i) => Math.max(-1, opts.groups?.[i] ?? -1));
  const apart = (i: number, j: number): boolean => group[i] >= 0 && group[j] >= 0 && group[i] !== group[j];
  // Each cluster's best partner and its evidence, so that a merge costs O(n), not a scan of every pair: an hour
  // of speech is ~1,400 items.
  const near = new Int32Array(n).fill(-1);
  const nearEvidence = new Float64Array(n).fill(-Infinity);
  const refresh = (i: number): void => {
    near[i] = -1;
    nearEvidence[i] = -Infinity;
    for (let j = 0; j < n; j++) {
      if (j === i || !alive[j] || apart(i, j)) continue;
      const e = evidence(i, j);
      if (e > nearEvidence[i]) {
        near[i] = j;
        nearEvidence[i] = e;
      }
    }
  };
  for (let i = 0; i < n; i++) refresh(i);
  let count = n;
  while (count > minK) {
    let bi = -1;
    for (let i = 0; i < n; i++) {
      if (alive[i] && near[i] >= 0 && (bi < 0 || nearEvidence[i] > nearEvidence[bi])) bi = i;
    }
    if (bi < 0) break;
    if (nearEvidence[bi] < MERGE_EVIDENCE && count <= maxK) break;
    let bj = near[bi];
    if (bj < bi) [bi, bj] = [bj, bi];
    g[bi][bi] += 2 * g[bi][bj] + g[bj][bj];
    for (let m = 0; m < n; m++) {
      if (m === bi) continue;
      g[bi][m] += g[bj][m];
      g[m][bi] = g[bi][m];
    }
    weight[bi] += weight[bj];
    if (group[bi] < 0) group[bi] = group[bj];
    alive[bj] = false;
    parent[bj] = bi;
    count--;
    refresh(bi);
    for (let m = 0; m < n; m++) {
      if (!alive[m] || m === bi) continue;
      if (near[m] === bi || near[m] === bj) refresh(m);
      else if (!apart(m, bi)) {
        const e = evidence(m, bi);
        if (e > nearEvidence[m]) {
          near[m] = bi;
          nearEvidence[m] = e;
        }
      }
    }
  }
  const root = (i: number): number => (parent[i] === i ? i : root(parent[i]));
  const ids = new Map<number, number>();
  return embeddings.map((_, i) => {
    const r = root(i);
    if (!ids.has(r)) ids.set(r, ids.size);
    return ids.get(r)!;
  });
}

/** How many of the embeddings (itself included) are item i's audio heard again (REPEAT_SIMILARITY). */
function repeats(embeddings: readonly Float32Array[], i: number): number {
  let n = 0;
  for (const e of embeddings) if (cosine(embeddings[i], e) >= REPEAT_SIMILARITY) n++;
  return Math.max(1, n);
}

/** Inner products of the embeddings after subtracting their weighted mean (the recording's centre). */
function centredGram(embeddings: readonly Float32Array[], weights: readonly number[]): Float64Array[] {
  const n = embeddings.length;
  const g = embeddings.map((a) => {
    const row = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      const b = embeddings[j];
      let dot = 0;
      for (let d = 0; d < a.length; d++) dot += a[d] * b[d];
      row[j] = dot;
    }
    return row;
  });
  const total = weights.reduce((a, b) => a + b, 0) || 1;
  const m = g.map((row) => row.reduce((s, v, j) => s + (v * weights[j]) / total, 0));
  const mm = m.reduce((s, v, i) => s + (v * weights[i]) / total, 0);
  return g.map((row, i) => row.map((v, j) => v - m[i] - m[j] + mm));
}

/** Unit-length mean of the embeddings of each label (index = label). */
export function centroids(
  embeddings: readonly Float32Array[],
  labels: readonly number[],
  weights?: readonly number[],
): Float32Array[] {
  const k = Math.max(-1, ...labels) + 1;
  const dim = embeddings[0]?.length ?? 0;
  const sums = Array.from({ length: k }, () => new Float64Array(dim));
  labels.forEach((l, i) => {
    const w = weights?.[i] ?? 1;
    for (let d = 0; d < dim; d++) sums[l][d] += w * embeddings[i][d];
  });
  return sums.map(unit);
}

export interface KnownSpeaker {
  name: string;
  embedding: Float32Array;
}

/**
 * Names clusters after known speakers: each name goes to at most one cluster, best pairs first, and only when the
 * similarity reaches the threshold. Returns the name per cluster index (undefined when none matched).
 */
export function nameClusters(
  clusterCentroids: readonly Float32Array[],
  known: readonly KnownSpeaker[],
  threshold: number,
): (string | undefined)[] {
  const pairs: { c: number; k: number; sim: number }[] = [];
  clusterCentroids.forEach((c, ci) =>
    known.forEach((s, ki) => pairs.push({ c: ci, k: ki, sim: cosine(c, s.embedding) })),
  );
  pairs.sort((a, b) => b.sim - a.sim);
  const names: (string | undefined)[] = Array.from({ length: clusterCentroids.length }, () => undefined);
  const usedKnown = new Set<number>();
  for (const p of pairs) {
    if (p.sim < threshold) break;
    if (names[p.c] !== undefined || usedKnown.has(p.k)) continue;
    names[p.c] = known[p.k].name;
    usedKnown.add(p.k);
  }
  return names;
}
