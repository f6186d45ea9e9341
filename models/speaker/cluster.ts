/**
 * Speaker clustering on cosine similarity of L2-normalised embeddings.
 * - OnlineClusterer: one per live session: every speaker's clips summed (weighted by seconds). A clip joins the
 *   speaker it resembles most when the similarity reaches the threshold, else becomes a new speaker, up to
 *   maxSpeakers (then it joins the nearest). Numbers are never reused or reordered, and the state is plain JSON
 *   so a resumed session keeps its labels.
 * - agglomerative(): offline, over a whole file: weighted average linkage, stopping at the threshold unless min/max
 *   speakers force otherwise.
 */
import { cosine } from './embedding.js';

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
   * speaker's own clips vary, so one threshold serves both paths.
   */
  nearest(embedding: Float32Array): { speaker: number; similarity: number } {
    let speaker = -1;
    let similarity = -Infinity;
    for (const s of this.speakers) {
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
   * threshold (or when no more speakers may open), else the next free number. The zero vector (a clip with no
   * voice: digital silence) takes the speaker heard most, so it can neither open a speaker nor pull one away.
   */
  match(embedding: Float32Array): number {
    if (embedding.every((x) => x === 0)) {
      const main = this.speakers.reduce<(typeof this.speakers)[number] | undefined>(
        (m, s) => (m && m.weight >= s.weight ? m : s),
        undefined,
      );
      return main?.id ?? 0;
    }
    const best = this.nearest(embedding);
    if (best.speaker >= 0 && (best.similarity >= this.threshold || this.count >= this.maxSpeakers)) {
      return best.speaker;
    }
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
  /** Merging stops when the best average similarity between two clusters falls below this. */
  threshold: number;
  /** Weight of each item (seconds of speech): a long clip counts more in its cluster's averages. Default 1. */
  weights?: readonly number[];
  /**
   * Per item, a group (>= 0) or -1: clusters holding items of two different groups never merge (labels a live
   * session has already given to settled speakers). Default none.
   */
  groups?: readonly number[];
  minSpeakers?: number;
  maxSpeakers?: number;
}

/**
 * Weighted average-linkage agglomerative clustering: clusters merge while their members resemble each other by
 * `threshold` on average. Returns one label per embedding, numbered by first appearance (the first item is
 * speaker 0).
 */
export function agglomerative(embeddings: readonly Float32Array[], opts: AgglomerativeOptions): number[] {
  const n = embeddings.length;
  if (n === 0) return [];
  const minK = Math.max(1, opts.minSpeakers ?? 1);
  const maxK = Math.max(minK, opts.maxSpeakers ?? n);
  // sim[i][j]: weighted average pairwise similarity between clusters i and j (Lance-Williams update).
  const sim = embeddings.map((a) => embeddings.map((b) => cosine(a, b)));
  const size = embeddings.map((_, i) => Math.max(1e-6, opts.weights?.[i] ?? 1));
  const alive = new Array<boolean>(n).fill(true);
  const parent = Array.from({ length: n }, (_, i) => i);
  // A cluster holds at most one group: clusters of two different groups never merge.
  const group = embeddings.map((_, i) => Math.max(-1, opts.groups?.[i] ?? -1));
  const apart = (i: number, j: number): boolean => group[i] >= 0 && group[j] >= 0 && group[i] !== group[j];
  // Each cluster's most similar partner (-1: none), so that a merge costs O(n), not a scan of every pair: an
  // hour of speech is ~1,400 chunks.
  const near = new Int32Array(n).fill(-1);
  const refresh = (i: number): void => {
    near[i] = -1;
    for (let j = 0; j < n; j++) {
      if (j !== i && alive[j] && !apart(i, j) && (near[i] < 0 || sim[i][j] > sim[i][near[i]])) near[i] = j;
    }
  };
  for (let i = 0; i < n; i++) refresh(i);
  let k = n;
  while (k > minK) {
    let bi = -1;
    for (let i = 0; i < n; i++) {
      if (alive[i] && near[i] >= 0 && (bi < 0 || sim[i][near[i]] > sim[bi][near[bi]])) bi = i;
    }
    if (bi < 0) break;
    let bj = near[bi];
    if (bj < bi) [bi, bj] = [bj, bi];
    if (sim[bi][bj] < opts.threshold && k <= maxK) break;
    for (let m = 0; m < n; m++) {
      if (!alive[m] || m === bi || m === bj) continue;
      const s = (size[bi] * sim[bi][m] + size[bj] * sim[bj][m]) / (size[bi] + size[bj]);
      sim[bi][m] = s;
      sim[m][bi] = s;
    }
    size[bi] += size[bj];
    if (group[bi] < 0) group[bi] = group[bj];
    alive[bj] = false;
    parent[bj] = bi;
    k--;
    // The merged cluster's averages are no higher than its parts', so only rows that pointed at a part can change.
    refresh(bi);
    for (let m = 0; m < n; m++) if (alive[m] && m !== bi && (near[m] === bi || near[m] === bj)) refresh(m);
  }
  const root = (i: number): number => (parent[i] === i ? i : root(parent[i]));
  const ids = new Map<number, number>();
  return embeddings.map((_, i) => {
    const r = root(i);
    if (!ids.has(r)) ids.set(r, ids.size);
    return ids.get(r)!;
  });
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
