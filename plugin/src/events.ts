import { createTimedString, normalizeLanguage, stt } from '@livekit/agents';

/** The parts of earshot's Deepgram-shaped messages the plugin reads. */
export interface DgWord {
  word: string;
  punctuated_word?: string;
  start: number;
  end: number;
  confidence: number;
  speaker?: number;
  /** The speaker's voiceprint name (knownSpeakers), when the voice matched one. */
  speaker_name?: string;
  language?: string;
}

export interface DgAlternative {
  transcript: string;
  confidence: number;
  words?: DgWord[];
  languages?: string[];
}

export interface ResultsMessage {
  type: 'Results';
  start: number;
  duration: number;
  is_final: boolean;
  speech_final: boolean;
  from_finalize?: boolean;
  channel: { alternatives: DgAlternative[] };
  seq?: number;
}

/** The opening Metadata of a connection, with earshot's resume extensions. */
export interface MetadataMessage {
  type: 'Metadata';
  request_id: string;
  session?: string;
  resumed?: boolean;
  last_seq?: number;
  committed_until?: number;
}

/**
 * A Deepgram alternative as LiveKit SpeechData: every server time shifted by `offset` (the stream's
 * startTimeOffset plus the session clock's shift), words as TimedStrings, the speaker when the server labels one.
 * The language is the text's: English for a translation (the server's languages[] name what was spoken).
 */
export function toSpeechData(
  alt: DgAlternative,
  span: { start: number; duration: number },
  offset: number,
  fallbackLanguage: string | undefined,
  translated = false,
): stt.SpeechData {
  const words = alt.words ?? [];
  const labelled = words.find((w) => w.speaker !== undefined);
  const speakerId = labelled ? speakerLabel(labelled) : null;
  const spoken = alt.languages?.[0] ?? words[0]?.language ?? fallbackLanguage ?? '';
  const language = translated ? 'en' : spoken;
  return {
    language: normalizeLanguage(language),
    text: alt.transcript,
    startTime: span.start + offset,
    endTime: span.start + span.duration + offset,
    confidence: alt.confidence,
    speakerId,
    words: words.map((w) =>
      createTimedString({
        text: w.punctuated_word ?? w.word,
        startTime: w.start + offset,
        endTime: w.end + offset,
        confidence: w.confidence,
        startTimeOffset: offset,
        speakerId: w.speaker === undefined ? null : speakerLabel(w),
      }),
    ),
  };
}

/** The voiceprint's name when the server matched one (knownSpeakers), else `S<number>`. */
function speakerLabel(w: DgWord): string {
  return w.speaker_name ?? `S${w.speaker}`;
}
