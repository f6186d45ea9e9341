/**
 * Speakers on a file's transcript (file routes and the CLI): the file's diarization (models/speaker/diarize.ts)
 * gives turns; every word takes the turn it overlaps most, a segment the speaker of most of its words. A segment
 * that spans a change of speaker (no pause between turns) is split at the change for captions.
 */
import type { Word } from '../../models/whisper/alignment.js';
import type { Transcript, Segment } from '../../models/whisper/transcribe.js';
import type { FileDiarization } from '../../models/speaker/diarize.js';
import type { SpeakerTurn } from '../../models/speaker/segment.js';
import { mostSpoken, turnAt } from '../../models/speaker/turns.js';
import type { CaptionSegment } from './formats.js';

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
  const speaker = mostSpoken(words)!;
  const mine = words.filter((w) => w.speaker === speaker);
  const out: SpeakerLabel = {
    speaker,
    speaker_confidence:
      Math.round((mine.reduce((s, w) => s + w.speaker_confidence, 0) / mine.length) * 1000) / 1000,
  };
  if (mine[0].speaker_name !== undefined) out.speaker_name = mine[0].speaker_name;
  return out;
}
