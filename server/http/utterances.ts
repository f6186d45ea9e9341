/**
 * Deepgram's pre-recorded `utterances` and `paragraphs` from a file transcript. Without diarization an utterance
 * is a Whisper segment; with it, a run of one speaker (a segment that holds a change of speaker is split there).
 */
import type { Word } from '../../models/whisper/alignment.js';
import type { Transcript } from '../../models/whisper/transcribe.js';
import { toDgWords, transcriptOf, type DgWord } from '../protocol.js';
import type { DiarizedTranscript, SpeakerLabel } from './diarized.js';
import { speakerLabel } from './formats.js';

export type SpeakerWord = DgWord & { speaker_confidence?: number };

export interface Utterance {
  start: number;
  end: number;
  confidence: number;
  /** The channel of a multichannel file (0 otherwise). */
  channel: number;
  transcript: string;
  words: SpeakerWord[];
  speaker?: number;
  /** Extension (known_speakers): the speaker's voiceprint name. */
  speaker_name?: string;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

function dgWords(words: readonly (Word & Partial<SpeakerLabel>)[]): SpeakerWord[] {
  const out: SpeakerWord[] = toDgWords(words);
  words.forEach((w, i) => {
    if (w.speaker === undefined) return;
    out[i].speaker = w.speaker;
    out[i].speaker_confidence = w.speaker_confidence;
    if (w.speaker_name !== undefined) out[i].speaker_name = w.speaker_name;
  });
  return out;
}

export function utterancesOf(t: Transcript | DiarizedTranscript, punctuated: boolean): Utterance[] {
  const units = 'turns' in t ? t.turns : t.segments;
  return units.map((u) => {
    const words = dgWords(u.words ?? []);
    const out: Utterance = {
      start: r3(u.start),
      end: r3(u.end),
      confidence: words.length ? r3(words.reduce((a, x) => a + x.confidence, 0) / words.length) : 0,
      channel: 0,
      transcript: transcriptOf(words, punctuated),
      words,
    };
    if ('speaker' in u && u.speaker !== undefined) out.speaker = u.speaker;
    if ('speaker_name' in u && u.speaker_name !== undefined) out.speaker_name = u.speaker_name;
    return out;
  });
}

interface Paragraph {
  sentences: { text: string; start: number; end: number }[];
  speaker?: number;
  speaker_name?: string;
  num_words: number;
  start: number;
  end: number;
}

/** Deepgram's paragraphs: consecutive utterances of one speaker, cut into sentences at . ? ! */
export function paragraphsOf(utterances: readonly Utterance[]): {
  transcript: string;
  paragraphs: Paragraph[];
} {
  const paragraphs: Paragraph[] = [];
  for (const u of utterances) {
    if (u.words.length === 0) continue;
    let p = paragraphs.at(-1);
    if (!p || p.speaker !== u.speaker) {
      p = { sentences: [], num_words: 0, start: u.start, end: u.end };
      if (u.speaker !== undefined) p.speaker = u.speaker;
      if (u.speaker_name !== undefined) p.speaker_name = u.speaker_name;
      paragraphs.push(p);
    }
    let sentence: SpeakerWord[] = [];
    const close = () => {
      if (!sentence.length) return;
      p.sentences.push({
        text: sentence.map((w) => w.punctuated_word).join(' '),
        start: sentence[0].start,
        end: sentence.at(-1)!.end,
      });
      sentence = [];
    };
    for (const w of u.words) {
      sentence.push(w);
      if (/[.?!]["')\]]*$/.test(w.punctuated_word)) close();
    }
    close();
    p.num_words += u.words.length;
    p.end = u.end;
  }
  const transcript = paragraphs
    .map((p) => {
      const who = p.speaker === undefined ? '' : `${speakerLabel(p) ?? ''}: `;
      return `\n${who}${p.sentences.map((s) => s.text).join(' ')}\n`;
    })
    .join('');
  return { transcript, paragraphs };
}
