import type { Word } from '../../models/whisper/alignment.js';

/** The fields every export needs; live finals and file segments both fit. */
export interface CaptionSegment {
  start: number;
  end: number;
  text: string;
  speaker?: number;
  /** A known speaker's name (reference clips); shown instead of "Speaker N". */
  speaker_name?: string;
  /** A multichannel session's channel: labelled "Channel N" (before the speaker's label when there is one). */
  channel?: number;
  words?: Word[];
}

export type TextFormat = 'json' | 'verbose_json' | 'diarized_json' | 'text' | 'srt' | 'vtt';
export const TEXT_FORMATS: readonly TextFormat[] = [
  'json',
  'verbose_json',
  'diarized_json',
  'text',
  'srt',
  'vtt',
];

function clock(seconds: number, sep: ',' | '.'): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${sep}${pad(ms % 1000, 3)}`;
}

/**
 * "Speaker N" (Deepgram's number) or the known name, after "Channel N" in a multichannel session; undefined
 * without either.
 */
export function speakerLabel(
  s: Pick<CaptionSegment, 'speaker' | 'speaker_name' | 'channel'>,
): string | undefined {
  // A name is client text: no markup or line breaks may reach a cue.
  const name = s.speaker_name?.replace(/[<>&\r\n]/g, ' ').trim();
  const who = name || (s.speaker === undefined ? undefined : `Speaker ${s.speaker}`);
  if (s.channel === undefined) return who;
  return who ? `Channel ${s.channel} ${who}` : `Channel ${s.channel}`;
}

/**
 * Cue text on one line: a blank line ends a cue (SRT and VTT), and a line with `-->` reads as a timing line, so
 * a transcript (model output, or a known speaker's text) cannot forge cues of its own.
 */
function oneLine(text: string): string {
  return text
    .replace(/\s*[\r\n\u2028\u2029]+\s*/g, ' ')
    .replace(/-->/g, '->')
    .trim();
}

/** WebVTT cue text is markup: `<` opens a tag and `&` an entity; escaped first, `-->` stays as `--&gt;`. */
function vttEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function cue(s: CaptionSegment): string {
  const text = oneLine(s.text);
  const who = speakerLabel(s);
  return who === undefined ? text : `[${who}] ${text}`;
}

export function toSrt(segments: readonly CaptionSegment[]): string {
  return segments
    .filter((s) => oneLine(s.text))
    .map((s, i) => `${i + 1}\n${clock(s.start, ',')} --> ${clock(s.end, ',')}\n${cue(s)}\n`)
    .join('\n');
}

export function toVtt(segments: readonly CaptionSegment[]): string {
  const cues = segments
    .filter((s) => oneLine(s.text))
    .map((s) => {
      // WebVTT voice spans carry the speaker so players can style them.
      const who = speakerLabel(s);
      const body = oneLine(vttEscape(s.text));
      const text = who === undefined ? body : `<v ${who}>${body}`;
      return `${clock(s.start, '.')} --> ${clock(s.end, '.')}\n${text}\n`;
    });
  return ['WEBVTT\n', ...cues].join('\n');
}

/** Plain text; with speakers, one "Speaker N: ..." line per turn. */
export function toText(segments: readonly CaptionSegment[]): string {
  const spoken = segments.filter((s) => s.text.trim());
  if (!spoken.some((s) => speakerLabel(s) !== undefined)) {
    return spoken.map((s) => s.text.trim()).join(' ') + '\n';
  }
  const lines: { who: string; text: string[] }[] = [];
  for (const s of spoken) {
    const who = speakerLabel(s) ?? '';
    const last = lines.at(-1);
    if (last && last.who === who) last.text.push(s.text.trim());
    else lines.push({ who, text: [s.text.trim()] });
  }
  return lines.map((l) => (l.who ? `${l.who}: ` : '') + l.text.join(' ') + '\n').join('');
}

/** OpenAI's diarized labels: the known name, else A, B, ... by speaker number. */
export function openaiSpeaker(s: Pick<CaptionSegment, 'speaker' | 'speaker_name'>): string {
  if (s.speaker_name) return s.speaker_name;
  let n = s.speaker ?? 0;
  let out = '';
  do {
    out = String.fromCharCode(65 + (n % 26)) + out;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return out;
}

/**
 * A multichannel session's finals, channels interleaved by start time (stored in the order they were decided);
 * one channel's as they are.
 */
export function inTimeOrder<T extends { start: number; channel?: number }>(finals: readonly T[]): T[] {
  if (!finals.some((f) => f.channel !== undefined)) return [...finals];
  return [...finals].sort((a, b) => a.start - b.start || (a.channel ?? 0) - (b.channel ?? 0));
}

/**
 * Deepgram words (live finals) to caption segments: one per run of a speaker, so a final with a change splits; a
 * multichannel session's finals keep their channel.
 */
export function captionsFromFinals(
  finals: readonly {
    start: number;
    end: number;
    transcript: string;
    channel?: number;
    words: readonly {
      start: number;
      end: number;
      punctuated_word: string;
      speaker?: number;
      speaker_name?: string;
    }[];
  }[],
): CaptionSegment[] {
  const out: CaptionSegment[] = [];
  for (const f of finals) {
    const channel = f.channel === undefined ? {} : { channel: f.channel };
    if (!f.words.some((w) => w.speaker !== undefined)) {
      out.push({ start: f.start, end: f.end, text: f.transcript, ...channel });
      continue;
    }
    const first = out.length;
    for (const w of f.words) {
      const last = out.length > first ? out[out.length - 1] : undefined;
      if (last && last.speaker === w.speaker) {
        last.text += ` ${w.punctuated_word}`;
        last.end = w.end;
      } else {
        const name = w.speaker_name === undefined ? {} : { speaker_name: w.speaker_name };
        out.push({
          start: w.start,
          end: w.end,
          text: w.punctuated_word,
          speaker: w.speaker,
          ...name,
          ...channel,
        });
      }
    }
    // The cues span the whole final: its start to the first change, the last change to its end.
    out[first].start = Math.min(out[first].start, f.start);
    out[out.length - 1].end = Math.max(out[out.length - 1].end, f.end);
  }
  return out;
}

export interface TranscriptLike {
  /** verbose_json and diarized_json say it; default transcribe. */
  task?: 'transcribe' | 'translate';
  text: string;
  language: string;
  duration: number;
  segments: readonly CaptionSegment[];
  words?: readonly Word[];
  /** With diarization: caption units split where the speaker changes (srt, vtt, text, diarized_json use them). */
  turns?: readonly CaptionSegment[];
}

/** OpenAI's /v1/audio/transcriptions response shapes. */
export function formatTranscript(
  t: TranscriptLike,
  format: TextFormat,
  granularities: readonly ('segment' | 'word')[] = ['segment'],
): { body: string; contentType: string } {
  switch (format) {
    case 'json':
      return { body: JSON.stringify({ text: t.text.trim() }), contentType: 'application/json' };
    case 'verbose_json': {
      const out: Record<string, unknown> = {
        task: t.task ?? 'transcribe',
        language: t.language,
        duration: t.duration,
        text: t.text.trim(),
      };
      if (granularities.includes('segment')) out.segments = t.segments;
      if (granularities.includes('word')) out.words = t.words ?? t.segments.flatMap((s) => s.words ?? []);
      return { body: JSON.stringify(out), contentType: 'application/json' };
    }
    case 'diarized_json':
      return { body: JSON.stringify(diarizedJson(t)), contentType: 'application/json' };
    case 'text':
      return { body: toText(t.turns ?? t.segments), contentType: 'text/plain; charset=utf-8' };
    case 'srt':
      return { body: toSrt(t.turns ?? t.segments), contentType: 'application/x-subrip; charset=utf-8' };
    case 'vtt':
      return { body: toVtt(t.turns ?? t.segments), contentType: 'text/vtt; charset=utf-8' };
  }
}

/** OpenAI's TranscriptionDiarizedSegment. */
export interface DiarizedSegment {
  type: 'transcript.text.segment';
  id: string;
  start: number;
  end: number;
  text: string;
  speaker: string;
}

export function diarizedSegments(segments: readonly CaptionSegment[], firstId = 0): DiarizedSegment[] {
  return segments
    .filter((s) => s.text.trim())
    .map((s, i) => ({
      type: 'transcript.text.segment',
      id: `seg_${firstId + i}`,
      start: s.start,
      end: s.end,
      text: s.text.trim(),
      speaker: openaiSpeaker(s),
    }));
}

/** OpenAI's TranscriptionDiarized (gpt-4o-transcribe-diarize, response_format=diarized_json). */
function diarizedJson(t: TranscriptLike) {
  return {
    task: t.task ?? 'transcribe',
    duration: t.duration,
    text: t.text.trim(),
    segments: diarizedSegments(t.turns ?? t.segments),
    usage: { type: 'duration', seconds: Math.ceil(t.duration) },
  };
}
