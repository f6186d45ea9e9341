/**
 * Speakers for the file routes and the CLI: VAD speech regions, offline clustering over the whole file
 * (models/speaker/diarize.ts), then every transcript segment and word takes the speaker whose turn it overlaps most.
 * A segment that spans a change of speaker (no pause between turns) is split at the change for captions.
 */
import type { Word } from '../../models/whisper/alignment.js';
import type { Transcript, Segment } from '../../models/whisper/transcribe.js';
import type { VadModel } from '../../models/vad/silero.js';
import { UtteranceSegmenter } from '../../models/vad/segmenter.js';
import type { SpeakerEmbedder } from '../../models/speaker/embedding.js';
import { diarizeFile, type DiarizeFileOptions, type FileDiarization } from '../../models/speaker/diarize.js';
import type { SpeakerTurn, TimeSpan } from '../../models/speaker/segment.js';
import { SAMPLE_RATE } from '../../audio/rate.js';
import type { CaptionSegment } from './formats.js';

/** Who spoke when in a whole recording; stops (rejects) once signal aborts. */
export type FileDiarizer = (
  audio16k: Float32Array,
  opts: Pick<DiarizeFileOptions, 'minSpeakers' | 'maxSpeakers' | 'known'>,
  signal?: AbortSignal,
) => Promise<FileDiarization>;

/** Speech regions as the live segmenter finds them (short pauses end a region, so turns split at pauses). */
async function speechRegions(vad: VadModel, audio: Float32Array): Promise<TimeSpan[]> {
  const probs = await vad.createStream().push(audio);
  const seg = new UtteranceSegmenter({
    frameSeconds: vad.frameSamples / SAMPLE_RATE,
    endpointingMs: 300,
    speechPadMs: 100,
    maxUtteranceSeconds: 29,
  });
  const regions: TimeSpan[] = [];
  for (const e of [...seg.push(probs), ...seg.flush()]) {
    if (e.type !== 'speech_start') regions.push({ start: e.start, end: e.time });
  }
  return regions;
}

export function fileDiarizer(vad: VadModel, embedder: SpeakerEmbedder): FileDiarizer {
  return async (audio, opts, signal) => {
    signal?.throwIfAborted();
    const speech = await speechRegions(vad, audio);
    signal?.throwIfAborted();
    return diarizeFile(embedder, audio, speech, opts);
  };
}

/** The turn overlapping [start, end) most; with no overlap, the nearest one. */
export function turnAt(turns: readonly SpeakerTurn[], start: number, end: number): SpeakerTurn | undefined {
  let best: SpeakerTurn | undefined;
  let bestScore = -Infinity;
  for (const t of turns) {
    const overlap = Math.min(end, t.end) - Math.max(start, t.start);
    // A negative overlap is minus the gap: the nearest turn wins when none overlaps.
    if (overlap > bestScore) {
      bestScore = overlap;
      best = t;
    }
  }
  return best;
}

export interface SpeakerLabel {
  speaker: number;
  speaker_name?: string;
  speaker_confidence: number;
}

export type LabeledWord = Word & SpeakerLabel;
export type LabeledSegment = Segment & SpeakerLabel;

export interface DiarizedTranscript extends Transcript {
  segments: LabeledSegment[];
  words?: LabeledWord[];
  /** Caption units: segments split where the speaker changes. */
  turns: (CaptionSegment & SpeakerLabel)[];
  speakers: FileDiarization['speakers'];
}

function label(turns: readonly SpeakerTurn[], start: number, end: number): SpeakerLabel {
  const t = turnAt(turns, start, end);
  if (!t) return { speaker: 0, speaker_confidence: 0 };
  const out: SpeakerLabel = {
    speaker: t.speaker,
    speaker_confidence: Math.round(t.confidence * 1000) / 1000,
  };
  if (t.name !== undefined) out.speaker_name = t.name;
  return out;
}

/** Puts the diarization's speakers on a transcript's segments and words, and cuts caption turns at changes. */
export function labelTranscript(t: Transcript, d: FileDiarization): DiarizedTranscript {
  const turns: DiarizedTranscript['turns'] = [];
  const segments = t.segments.map((s): LabeledSegment => {
    const words = s.words?.map((w): LabeledWord => ({ ...w, ...label(d.turns, w.start, w.end) }));
    // The segment's speaker is the one who says most of its words (its time span when it has none).
    const own = words?.length ? dominant(words) : label(d.turns, s.start, s.end);
    if (!words?.length) turns.push({ start: s.start, end: s.end, text: s.text, ...own });
    else {
      for (const run of runs(words)) {
        turns.push({
          start: run[0].start,
          end: run.at(-1)!.end,
          // Whisper's text style: a leading space, words apart.
          text: ' ' + run.map((w) => w.word.trim()).join(' '),
          ...speakerOf(run[0]),
          words: run,
        });
      }
    }
    return { ...s, ...(words ? { words } : {}), ...own };
  });
  return {
    ...t,
    segments,
    words: t.words ? segments.flatMap((s) => (s.words ?? []) as LabeledWord[]) : undefined,
    turns,
    speakers: d.speakers,
  };
}

/** Consecutive words of one speaker. */
function runs(words: readonly LabeledWord[]): LabeledWord[][] {
  const out: LabeledWord[][] = [];
  for (const w of words) {
    const last = out.at(-1);
    if (last && last[0].speaker === w.speaker) last.push(w);
    else out.push([w]);
  }
  return out;
}

function speakerOf(w: SpeakerLabel): SpeakerLabel {
  const out: SpeakerLabel = { speaker: w.speaker, speaker_confidence: w.speaker_confidence };
  if (w.speaker_name !== undefined) out.speaker_name = w.speaker_name;
  return out;
}

function dominant(words: readonly LabeledWord[]): SpeakerLabel {
  const seconds = new Map<number, number>();
  for (const w of words)
    seconds.set(w.speaker, (seconds.get(w.speaker) ?? 0) + Math.max(0.01, w.end - w.start));
  const speaker = [...seconds.entries()].sort((a, b) => b[1] - a[1])[0][0];
  const mine = words.filter((w) => w.speaker === speaker);
  const out: SpeakerLabel = {
    speaker,
    speaker_confidence:
      Math.round((mine.reduce((s, w) => s + w.speaker_confidence, 0) / mine.length) * 1000) / 1000,
  };
  if (mine[0].speaker_name !== undefined) out.speaker_name = mine[0].speaker_name;
  return out;
}
