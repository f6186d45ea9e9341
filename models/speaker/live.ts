/**
 * Live diarization: one LiveDiarizer per session labels each final as it comes, with speaker numbers that stay
 * the same for the whole session (and across a resume, through the JSON state).
 *
 * A final's chunks join the session's recent chunks and all of them are clustered again as a file would be
 * (cluster.ts, small clusters folded), so a decision about a new final uses everything heard recently rather
 * than only a running centroid: a voice that opened a speaker by mistake early on folds back once there is
 * enough audio to tell, and three voices in one long final are told apart as they would be in a
 * file. Clusters take the numbers their earlier chunks were given; a cluster of new chunks only is matched
 * against every speaker of the session (its running sums, which are the resume state) and takes that number or
 * the next free one. Labels already sent are never changed, and two settled speakers are never merged. The final
 * is then re-segmented against the recent speakers' centroids, which places a change of speaker without a pause.
 * Where that shows changes inside the final, its chunks are first cut again at them and clustered once more (a
 * trial that leaves the session's speakers as they were), so that no chunk straddles two voices.
 */
import { seconds, type TimeSpan } from '../../audio/span.js';
import { mostSpoken, turnAt } from './turns.js';
import { type OnlineClusterState, OnlineClusterer, agglomerative, centroids } from './cluster.js';
import {
  EMBEDDING_SAMPLE_RATE as SR,
  type EmbeddingContext,
  type SpanEmbedder,
  type SpeakerEmbedder,
  judgedBy,
  spansOf,
} from './embedding.js';
import {
  type SegmentOptions,
  type SpeakerTurn,
  absorbSmallClusters,
  chunks,
  chunksWithin,
  distinctBelow,
  isTooLittleSpeech,
  resegment,
  segmentOptions,
  turnConfidence,
} from './segment.js';

/** Recent chunks clustered with each final (~5 minutes of speech): bounds the work per final. */
const HISTORY_CHUNKS = 120;
/**
 * A speaker heard this long (seconds) is settled: re-clustering never merges it with another settled one. A
 * younger speaker may still fold into another (one voice that opened two numbers early in the session).
 */
const SETTLED_SECONDS = 5;

/**
 * Times a final's chunks are cut again at the changes of speaker they show (each a trial clustering and
 * re-segmentation), fewer when the cuts stay where they were. A second round moved the cuts of a long final with
 * three voices or more where the first had cut it by chunks that straddled changes (dev noisy live DER 4.85 ->
 * 3.35 %); a third undid some of the second's moves (the cuts of a few finals alternate), and gained nothing.
 */
const RECUT_ROUNDS = 2;

/**
 * Runs of a final shorter than this (seconds) are not kept for later finals, and speech regions shorter than this
 * are not chunked alone: too short for a steady voice.
 */
const MIN_PIECE_SECONDS = 1;

/**
 * Whether speaker `id` of a final's runs only fills changes of speaker: too little speech (isTooLittleSpeech, out
 * of the `clustered` seconds) and every run of it between two runs of others. A chunk that straddles a change
 * resembles neither voice and opens a speaker of its own, which then wins only the change; a new voice that
 * starts or ends the final, or fills it, is kept.
 */
function isChangeOnly(
  runs: readonly (TimeSpan & { k: number })[],
  ids: readonly number[],
  id: number,
  clustered: number,
): boolean {
  let spoken = 0;
  for (const [i, r] of runs.entries()) {
    if (ids[r.k] !== id) continue;
    if (i === 0 || i === runs.length - 1) return false;
    spoken += seconds(r);
  }
  return spoken > 0 && isTooLittleSpeech(spoken, clustered);
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

interface Chunk {
  embedding: Float32Array;
  seconds: number;
  speaker: number;
  /** Its embedding as the session's context judges now (SpanEmbedder.keepSpans), when the embedder can tell. */
  again?: () => Float32Array;
}

/** A final's clustering units, embedded (no speaker yet). */
async function unitsOf(spans: SpanEmbedder, units: readonly TimeSpan[]): Promise<Chunk[]> {
  return (await spans.embedSpans(units)).map((embedding, i) => ({
    embedding,
    seconds: seconds(units[i]),
    speaker: -1,
  }));
}

/** Whether two lists of spans are the same (to the millisecond). */
function sameSpans(a: readonly TimeSpan[], b: readonly TimeSpan[]): boolean {
  const at = (s: readonly TimeSpan[]) => s.map((x) => `${x.start.toFixed(3)}-${x.end.toFixed(3)}`).join();
  return at(a) === at(b);
}

/** Unit mean of some chunks, weighted by their seconds. */
function centroidOf(members: readonly Chunk[]): Float32Array {
  return centroids(
    members.map((c) => c.embedding),
    members.map(() => 0),
    members.map((c) => c.seconds),
  )[0];
}

/** One per live session: call labelFinal for every final, in order. */
export class LiveDiarizer {
  /** The session's speakers (running sums): the resume state. */
  private clusters: OnlineClusterer;
  private readonly maxSpeakers: number;
  private history: Chunk[] = [];
  /** What the embedder learns of this session's voices (all its finals pooled), kept in the state. */
  private readonly context?: EmbeddingContext;

  constructor(
    private readonly embedder: SpeakerEmbedder,
    private readonly opts: LiveDiarizerOptions = {},
    state?: OnlineClusterState,
  ) {
    this.maxSpeakers = opts.maxSpeakers ?? state?.maxSpeakers ?? 8;
    this.context = embedder.context?.(state?.context);
    this.clusters = new OnlineClusterer(
      {
        threshold: opts.threshold ?? state?.threshold ?? embedder.sameSpeakerThreshold,
        maxSpeakers: this.maxSpeakers,
      },
      state,
    );
  }

  /** The same-speaker cosine: the one given, else the session's as its voices have shown so far. */
  private get threshold(): number {
    return this.opts.threshold ?? judgedBy(this.embedder, this.context).sameSpeakerThreshold;
  }

  /** Plain JSON: store it with the session and pass it back to the constructor on resume. */
  get state(): OnlineClusterState {
    const context = this.context?.toJSON?.();
    return { ...this.clusters.toJSON(), ...(context === undefined ? {} : { context }) };
  }

  /**
   * The session's audio from stream sample `at` on, as it arrives (optional): the embedder may analyse it ahead
   * of the finals (EmbeddingContext.hear). Labels are the same with or without it.
   */
  hear(samples: Float32Array, at: number): void {
    this.context?.hear?.(samples, at);
  }

  /**
   * `audio` is the final's audio (16 kHz) starting at stream time `start` seconds; `words` carry stream times.
   * `at`: the stream sample audio[0] is, in hear()'s numbering (when the session's audio is heard). `speech`: the
   * final's speech regions in stream time (SpeechRegions: split at pauses shorter than a final's endpointing).
   */
  async labelFinal(
    audio: Float32Array,
    start: number,
    words: readonly TimeSpan[] = [],
    at?: number,
    speech?: readonly TimeSpan[],
  ): Promise<LabeledFinal> {
    const whole = { start: 0, end: audio.length / SR };
    const spans = spansOf(this.embedder, audio, this.context, at);
    // Earlier finals' pieces are embedded again as this final's are: the session's context has grown since (its
    // first seconds under noise may not yet have shown voices like the readers'), and pieces embedded by two
    // contexts do not compare (a file's pieces all embed by the whole recording's).
    for (const c of this.history) if (c.again) c.embedding = c.again();
    // Chunks within the final's speech regions: a change of speaker at a pause is not inside any chunk. Where the
    // final's speaker changes without a pause, its chunks are cut again at the changes and clustered once more: a
    // chunk across a change resembles neither voice and pulls one apart (opens a speaker of its own, or holds a new
    // voice to the one before it), as the pieces kept for later finals are cut along the runs for the same reason.
    // Each round works on a copy of the session's speakers; the last one's is kept.
    const first = speech
      ? chunksWithin(
          whole,
          speech.map((r) => ({ start: r.start - start, end: r.end - start })),
          this.opts.chunkSeconds,
          MIN_PIECE_SECONDS,
        )
      : chunks(whole, this.opts.chunkSeconds);
    let round = await this.attempt(spans, whole, first);
    for (let i = 0; i < RECUT_ROUNDS && round.runs.length > 1; i++) {
      const units = round.runs.flatMap((r) => chunks(r, this.opts.chunkSeconds));
      if (sameSpans(units, round.units)) break;
      round = await this.attempt(spans, whole, units);
    }
    const { units, fresh, all, opened, distinct, centroid } = round;
    this.clusters = round.clusters;
    let { ids, runs } = round;
    const seg = segmentOptions(this.embedder, this.opts);
    const resegmentAgainstIds = () =>
      resegment(
        spans,
        whole,
        ids.map((id) => centroid.get(id)!),
        seg,
      );
    const clustered = all.reduce((sum, c) => sum + c.seconds, 0);
    const dropped = new Set<number>();
    for (;;) {
      const drop = ids.find(
        (id) => opened.has(id) && !distinct.has(id) && isChangeOnly(runs, ids, id, clustered),
      );
      if (drop === undefined) break;
      dropped.add(drop);
      ids = ids.filter((id) => id !== drop);
      runs = await resegmentAgainstIds();
      // Its chunks go to the speaker of most of their time in the final's runs.
      this.clusters.remove(drop);
      for (const [i, c] of fresh.entries()) {
        if (c.speaker !== drop) continue;
        c.speaker = ids[turnAt(runs, units[i].start, units[i].end)!.k];
        this.clusters.add(c.speaker, c.embedding, c.seconds);
      }
    }
    // Numbers opened by this final close up over the dropped ones (none of them has been given out yet).
    const renumbered = new Map(
      ids.map((id) => [id, id - [...dropped].filter((d) => opened.has(id) && d < id).length]),
    );
    for (const [id, to] of [...renumbered].sort((a, b) => a[0] - b[0])) this.clusters.rename(id, to);
    for (const c of fresh) c.speaker = renumbered.get(c.speaker) ?? c.speaker;
    const cents = ids.map((id) => centroid.get(id)!);
    ids = ids.map((id) => renumbered.get(id)!);
    // What later finals cluster with: the final cut along its runs (one voice each as far as they tell), not its
    // chunks: a chunk across a change of speaker resembles neither and would keep pulling a voice apart.
    const pieces = runs
      .filter((r) => seconds(r) >= MIN_PIECE_SECONDS)
      .flatMap((r) => chunks(r, this.opts.chunkSeconds).map((c) => ({ ...c, speaker: ids[r.k] })));
    const pieceEmb = await spans.embedSpans(pieces);
    const again = spans.keepSpans?.(pieces);
    this.history = [
      ...this.history,
      ...pieces.map((p, i) => ({
        embedding: pieceEmb[i],
        seconds: seconds(p),
        speaker: p.speaker,
        ...(again ? { again: again[i] } : {}),
      })),
    ].slice(-HISTORY_CHUNKS);
    const runEmb = await spans.embedSpans(runs);
    const { threshold } = this;
    const { spread } = judgedBy(this.embedder, this.context);
    const turns: SpeakerTurn[] = runs.map((r, i) => ({
      start: start + r.start,
      end: start + r.end,
      speaker: ids[r.k],
      confidence: turnConfidence(runEmb[i], cents, r.k, threshold, spread),
    }));
    const wordLabels = words.map((w) => {
      const t = turnAt(turns, w.start, w.end)!;
      return { speaker: t.speaker, confidence: t.confidence };
    });
    const main = mostSpoken(turns)!;
    const mainTurns = turns.filter((t) => t.speaker === main);
    return {
      speaker: main,
      confidence: Math.min(...mainTurns.map((t) => t.confidence)),
      turns,
      words: wordLabels,
    };
  }

  /**
   * The final labelled with `units` as its chunks, on a copy of the session's speakers: clustered with the history
   * (fresh chunks take their speakers), and re-segmented against the recent speakers (runs, in `ids` order).
   */
  private async attempt(spans: SpanEmbedder, whole: TimeSpan, units: TimeSpan[]) {
    const fresh = await unitsOf(spans, units);
    const all = [...this.history, ...fresh];
    const clusters = OnlineClusterer.fromJSON(this.clusters.toJSON());
    const { speakers: speakerOf, opened, distinct } = this.cluster(all, clusters);
    fresh.forEach((c, i) => (c.speaker = speakerOf[this.history.length + i]));
    // The final is re-segmented against every recent speaker, not only those its chunks went to: a turn shorter
    // than a chunk still finds its speaker. Centroids of this round's clusters (recent audio), not the session
    // sums, which keep early mistakes. (-1: old chunks whose cluster another took over; they vote no more.)
    const ids = [...new Set(speakerOf)].filter((id) => id >= 0);
    const recent = all.map((c, i) => ({ ...c, speaker: speakerOf[i] }));
    const centroid = new Map(ids.map((id) => [id, centroidOf(recent.filter((c) => c.speaker === id))]));
    const runs = await resegment(
      spans,
      whole,
      ids.map((id) => centroid.get(id)!),
      segmentOptions(this.embedder, this.opts),
    );
    return { units, fresh, all, clusters, opened, distinct, ids, centroid, runs };
  }

  /**
   * Speaker numbers for `all` (history first, then the new final's chunks): clustered together, each cluster
   * named after the number most of its earlier chunks had (one cluster per number, biggest first), the new
   * chunks of the rest by the session's speakers; -1 for old chunks left in an unnamed cluster. New chunks are
   * added to their speaker's running sums.
   */
  private cluster(
    all: readonly Chunk[],
    clusters: OnlineClusterer,
  ): { speakers: number[]; opened: Set<number>; distinct: Set<number> } {
    const embeddings = all.map((c) => c.embedding);
    const weights = all.map((c) => c.seconds);
    const spread = judgedBy(this.embedder, this.context).spread;
    let labels = agglomerative(embeddings, {
      spread,
      weights,
      maxSpeakers: this.maxSpeakers,
      // Two settled speakers stay two: their labels are out, and re-clustering only refines who is who.
      groups: all.map((c) =>
        c.speaker >= 0 && clusters.seconds(c.speaker) >= SETTLED_SECONDS ? c.speaker : -1,
      ),
    });
    const absorbed = absorbSmallClusters(embeddings, labels, weights, 1, distinctBelow(spread));
    labels = absorbed.labels;
    // How many seconds of each cluster earlier finals gave to each speaker.
    const votes: { cluster: number; speaker: number; seconds: number }[] = [];
    all.forEach((c, i) => {
      if (c.speaker < 0) return;
      const v = votes.find((x) => x.cluster === labels[i] && x.speaker === c.speaker);
      if (v) v.seconds += c.seconds;
      else votes.push({ cluster: labels[i], speaker: c.speaker, seconds: c.seconds });
    });
    votes.sort((a, b) => b.seconds - a.seconds);
    const named = new Map<number, number>();
    const taken = new Set<number>();
    for (const v of votes) {
      if (named.has(v.cluster) || taken.has(v.speaker)) continue;
      named.set(v.cluster, v.speaker);
      taken.add(v.speaker);
    }
    const out = labels.map((l) => named.get(l) ?? -1);
    all.forEach((c, i) => {
      if (c.speaker < 0 && out[i] >= 0) clusters.add(out[i], c.embedding, c.seconds);
    });
    // Clusters of new audio only: a returning speaker (heard before the history) or a new one, never one that
    // this clustering told apart from them (a speaker of another cluster this round).
    const opened = new Set<number>();
    const distinct = new Set<number>();
    for (const l of new Set(labels.filter((l) => !named.has(l)))) {
      const members = all.flatMap((c, i) => (labels[i] === l && c.speaker < 0 ? [i] : []));
      if (members.length === 0) continue;
      const id = clusters.match(centroidOf(members.map((i) => all[i])), this.threshold, taken);
      taken.add(id);
      if (clusters.seconds(id) === 0) opened.add(id);
      if (absorbed.distinct.has(l)) distinct.add(id);
      for (const i of members) {
        out[i] = id;
        clusters.add(id, all[i].embedding, all[i].seconds);
      }
    }
    return { speakers: out, opened, distinct };
  }
}
