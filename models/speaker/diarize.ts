/**
 * Who spoke when in a whole recording (file routes, CLI). Each VAD speech region is cut into chunks of about
 * 2.5 s (long enough for a steady voice estimate, short enough to be mostly one speaker); the chunks are clustered
 * (cluster.ts: as many speakers as the pieces' spread gives evidence for), speakers with little speech folded into
 * their nearest neighbour; then every region is re-segmented against the speakers found (segment.ts). Comparing a
 * 1.5 s window with a speaker's many seconds is steadier than comparing two windows, which is why changes are
 * found this way. Then the chunks are cut where those changes fall inside them and everything is done once more.
 */
import { seconds, type TimeSpan } from '../../audio/span.js';
import { SAMPLE_RATE } from '../../audio/rate.js';
import { SpeechRegions } from '../vad/speech-regions.js';
import type { VadModel } from '../vad/silero.js';
import { type KnownSpeaker, agglomerative, centroids, nameClusters } from './cluster.js';
import {
  EMBEDDING_SAMPLE_RATE as SR,
  type SpanEmbedder,
  type SpeakerEmbedder,
  judgedBy,
  spansOf,
} from './embedding.js';
import {
  type SegmentOptions,
  type SpeakerTurn,
  absorbSmallClusters,
  byFirstAppearance,
  chunks,
  distinctBelow,
  isTooLittleSpeech,
  resegment,
  segmentOptions,
  turnConfidence,
} from './segment.js';

export interface DiarizeFileOptions extends SegmentOptions {
  /** Same-speaker similarity for naming known speakers and confidences; default the embedder's own. */
  threshold?: number;
  minSpeakers?: number;
  maxSpeakers?: number;
  /** Speakers to name: a reference clip (16 kHz) each, or a stored embedding of this embedder (a voiceprint). */
  known?: readonly ({ name: string; audio: Float32Array } | KnownSpeaker)[];
}

export interface FileDiarization {
  turns: SpeakerTurn[];
  speakers: { id: number; name?: string; seconds: number }[];
}

/** Lets timers and sockets run (setImmediate: after pending I/O) between pieces of a long computation. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Samples measured at a time for the room (30 s), between turns of the event loop. */
const ROOM_BLOCK = 30 * SR;

/** Spans given in recording time, embedded by a SpanEmbedder of a clip that starts `offset` seconds in. */
function shifted(spans: SpanEmbedder, offset: number): SpanEmbedder {
  return {
    embedSpans: (list) =>
      spans.embedSpans(list.map((s) => ({ start: s.start - offset, end: s.end - offset }))),
  };
}

/** Diarizes a whole recording given its speech regions (e.g. Silero VAD spans), times in seconds. */
export async function diarizeFile(
  embedder: SpeakerEmbedder,
  audio: Float32Array,
  speech: readonly TimeSpan[],
  opts: DiarizeFileOptions = {},
): Promise<FileDiarization> {
  // One context for the whole recording: every region is analysed (its voices pooled) before any is embedded.
  const context = embedder.context?.();
  const seg = segmentOptions(embedder, opts);
  const regions = speech.filter((s) => seconds(s) >= embedder.minSeconds);
  // The room first (steady noise, speech level), over the whole recording: a speech region's quietest frames are
  // still speech. So every piece is analysed as the embedder's readers were, whole recordings at a time.
  if (context?.measure) {
    for (let at = 0; at < audio.length; at += ROOM_BLOCK) {
      context.measure(audio.subarray(at, at + ROOM_BLOCK));
      await nextTurn();
    }
  }
  // Region by region, yielding to the event loop between them: a long upload must not stall live streams.
  const perRegion: { region: TimeSpan; spans: SpanEmbedder; units: TimeSpan[] }[] = [];
  for (const r of regions) {
    const a = Math.max(0, Math.round(r.start * SR));
    const spans = shifted(
      spansOf(embedder, audio.subarray(a, Math.min(audio.length, Math.round(r.end * SR))), context),
      a / SR,
    );
    perRegion.push({ region: r, spans, units: chunks(r, opts.chunkSeconds) });
    await nextTurn();
  }
  const judged = judgedBy(embedder, context);
  const threshold = opts.threshold ?? judged.sameSpeakerThreshold;
  const speechSeconds = regions.reduce((a, r) => a + seconds(r), 0);
  const recording: Recording = { regions: perRegion, judged, seg, speechSeconds, opts };
  const speakersFrom = (units: readonly TimeSpan[][]) => speakersOf(units, recording);
  const first = await speakersFrom(perRegion.map((p) => p.units));
  if (!first) return { turns: [], speakers: [] };
  // Again, with every chunk cut where the runs found change speaker inside it: a chunk across a change of speaker
  // resembles neither voice, and such chunks made voices of their own or joined two (the live path re-cuts a
  // final's chunks for the same reason).
  const second = await speakersFrom(perRegion.map((p, i) => cutAtChanges(p.units, first.perRegionRuns[i])));
  const { cents, perRegionRuns } = second ?? first;
  const runs = perRegionRuns.flat();
  const runEmb: Float32Array[] = [];
  for (const [i, mine] of perRegionRuns.entries())
    runEmb.push(...(await perRegion[i].spans.embedSpans(mine)));
  let names: (string | undefined)[] = [];
  if (opts.known && opts.known.length > 0) {
    const clips = opts.known.flatMap((k) => ('audio' in k ? [k.audio] : []));
    const refs = clips.length ? await embedder.embed(clips, context) : [];
    const known = opts.known.map((k) => ({
      name: k.name,
      embedding: 'audio' in k ? refs.shift()! : k.embedding,
    }));
    names = nameClusters(cents, known, threshold);
  }
  // Speakers numbered by first appearance in the final turns (re-segmentation may leave one without any).
  const order = byFirstAppearance(runs.map((r) => r.k));
  const idOf = new Map(runs.map((r, i) => [r.k, order[i]]));
  const turns: SpeakerTurn[] = runs.map((r, i) => ({
    start: r.start,
    end: r.end,
    speaker: idOf.get(r.k)!,
    confidence: turnConfidence(runEmb[i], cents, r.k, threshold, judged.spread),
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

/** A piece of a cut chunk shorter than this is left out of the second clustering (too short to embed steadily). */
const MIN_PIECE_SECONDS = 1;
/** `units` cut at every change of speaker inside them (where one run ends and the next begins); slivers dropped. */
function cutAtChanges(units: readonly TimeSpan[], runs: readonly TimeSpan[]): TimeSpan[] {
  const changes = runs.slice(1).map((r) => r.start);
  return units.flatMap((u) => {
    const cuts = [u.start, ...changes.filter((c) => c > u.start && c < u.end), u.end];
    return cuts
      .slice(1)
      .map((end, i) => ({ start: cuts[i], end }))
      .filter((p) => seconds(p) >= MIN_PIECE_SECONDS || cuts.length === 2);
  });
}

/** What both clustering passes work on: each speech region with its embedder, and how it is judged. */
interface Recording {
  regions: readonly { region: TimeSpan; spans: SpanEmbedder }[];
  judged: ReturnType<typeof judgedBy>;
  seg: ReturnType<typeof segmentOptions>;
  speechSeconds: number;
  opts: DiarizeFileOptions;
}

/**
 * Speakers from `units` (per region): clustered by evidence, speakers with little speech folded into their nearest
 * neighbour, every region re-segmented against the speakers' centroids, then any speaker left with too little
 * speech after re-segmentation dropped and its regions re-segmented without it. Undefined when there is no unit.
 */
async function speakersOf(
  unitsPerRegion: readonly TimeSpan[][],
  { regions, judged, seg, speechSeconds, opts }: Recording,
): Promise<{ cents: Float32Array[]; perRegionRuns: (TimeSpan & { k: number })[][] } | undefined> {
  const embeddings: Float32Array[][] = [];
  for (const [i, units] of unitsPerRegion.entries()) {
    embeddings.push(units.length ? await regions[i].spans.embedSpans(units) : []);
    await nextTurn();
  }
  const units = unitsPerRegion.flat();
  if (units.length === 0) return undefined;
  const unitEmb = embeddings.flat();
  const durations = units.map(seconds);
  let labels = agglomerative(unitEmb, {
    spread: judged.spread,
    weights: durations,
    minSpeakers: opts.minSpeakers,
    maxSpeakers: opts.maxSpeakers,
  });
  const absorbed = absorbSmallClusters(
    unitEmb,
    labels,
    durations,
    opts.minSpeakers ?? 1,
    distinctBelow(judged.spread),
  );
  // Numbered by first appearance; which of them are small but distinct voices, exempt from the rule below.
  labels = byFirstAppearance(absorbed.labels);
  const distinct = new Set(labels.filter((l, i) => absorbed.distinct.has(absorbed.labels[i])));
  const cents = centroids(unitEmb, labels, durations);
  const perRegionRuns: (TimeSpan & { k: number })[][] = [];
  for (const { region, spans } of regions) {
    perRegionRuns.push(await resegment(spans, region, cents, seg));
    await nextTurn();
  }
  // The same rule after re-segmentation: a speaker left with too little speech (a piece that straddled a change
  // of speaker makes a voice of its own, which then wins only the change) is dropped, its regions re-segmented.
  const kept = cents.map((_, k) => k);
  for (;;) {
    const total = new Map<number, number>();
    for (const r of perRegionRuns.flat()) total.set(r.k, (total.get(r.k) ?? 0) + seconds(r));
    const smallest = [...total].filter(([k]) => !distinct.has(k)).sort((a, b) => a[1] - b[1])[0];
    if (
      !smallest ||
      total.size <= (opts.minSpeakers ?? 1) ||
      !isTooLittleSpeech(smallest[1], speechSeconds)
    ) {
      break;
    }
    kept.splice(kept.indexOf(smallest[0]), 1);
    for (const [i, { region, spans }] of regions.entries()) {
      if (!perRegionRuns[i].some((x) => x.k === smallest[0])) continue;
      const again = await resegment(
        spans,
        region,
        kept.map((k) => cents[k]),
        seg,
      );
      perRegionRuns[i] = again.map((x) => ({ ...x, k: kept[x.k] }));
      await nextTurn();
    }
  }
  return { cents, perRegionRuns };
}

/** Who spoke when in a whole recording; stops (rejects) once signal aborts. */
export type FileDiarizer = (
  audio16k: Float32Array,
  opts: Pick<DiarizeFileOptions, 'minSpeakers' | 'maxSpeakers' | 'known'>,
  signal?: AbortSignal,
) => Promise<FileDiarization>;

/** Speech regions as the live segmenter finds them (short pauses end a region, so turns split at pauses). */
async function speechRegions(vad: VadModel, audio: Float32Array): Promise<TimeSpan[]> {
  const regions = new SpeechRegions({ frameSeconds: vad.frameSamples / SAMPLE_RATE }, 0, Infinity);
  regions.push(await vad.createStream().push(audio));
  regions.flush();
  return regions.within(0, Infinity);
}

export function fileDiarizer(vad: VadModel, embedder: SpeakerEmbedder): FileDiarizer {
  return async (audio, opts, signal) => {
    signal?.throwIfAborted();
    const speech = await speechRegions(vad, audio);
    signal?.throwIfAborted();
    return diarizeFile(embedder, audio, speech, opts);
  };
}
