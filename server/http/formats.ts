import type { Word } from '../../models/whisper/alignment.js';

/** The fields every export needs; live finals and file segments both fit. */
export interface CaptionSegment {
  start: number;
  end: number;
  text: string;
  speaker?: number;
  words?: Word[];
}

export type TextFormat = 'json' | 'verbose_json' | 'text' | 'srt' | 'vtt';
export const TEXT_FORMATS: readonly TextFormat[] = ['json', 'verbose_json', 'text', 'srt', 'vtt'];

function clock(seconds: number, sep: ',' | '.'): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${sep}${pad(ms % 1000, 3)}`;
}

function cue(s: CaptionSegment): string {
  const text = s.text.trim();
  return s.speaker !== undefined ? `[Speaker ${s.speaker}] ${text}` : text;
}

export function toSrt(segments: readonly CaptionSegment[]): string {
  return segments
    .filter((s) => s.text.trim())
    .map((s, i) => `${i + 1}\n${clock(s.start, ',')} --> ${clock(s.end, ',')}\n${cue(s)}\n`)
    .join('\n');
}

export function toVtt(segments: readonly CaptionSegment[]): string {
  const cues = segments
    .filter((s) => s.text.trim())
    .map((s) => {
      // WebVTT voice spans carry the speaker so players can style them.
      const text = s.speaker !== undefined ? `<v Speaker ${s.speaker}>${s.text.trim()}` : s.text.trim();
      return `${clock(s.start, '.')} --> ${clock(s.end, '.')}\n${text}\n`;
    });
  return ['WEBVTT\n', ...cues].join('\n');
}

export function toText(segments: readonly CaptionSegment[]): string {
  return (
    segments
      .map((s) => s.text.trim())
      .filter(Boolean)
      .join(' ') + '\n'
  );
}

export interface TranscriptLike {
  text: string;
  language: string;
  duration: number;
  segments: readonly CaptionSegment[];
  words?: readonly Word[];
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
        task: 'transcribe',
        language: t.language,
        duration: t.duration,
        text: t.text.trim(),
      };
      if (granularities.includes('segment')) out.segments = t.segments;
      if (granularities.includes('word')) out.words = t.words ?? t.segments.flatMap((s) => s.words ?? []);
      return { body: JSON.stringify(out), contentType: 'application/json' };
    }
    case 'text':
      return { body: toText(t.segments), contentType: 'text/plain; charset=utf-8' };
    case 'srt':
      return { body: toSrt(t.segments), contentType: 'application/x-subrip; charset=utf-8' };
    case 'vtt':
      return { body: toVtt(t.segments), contentType: 'text/vtt; charset=utf-8' };
  }
}
