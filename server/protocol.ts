import type { Word } from '../models/whisper/alignment.js';

/** Deepgram-shaped messages of /v1/listen. Extensions (seq, lag, estimated) are additive. */

export interface ModelInfo {
  uuid: string;
  name: string;
  version: string;
  arch: string;
}

export interface DgWord {
  word: string;
  start: number;
  end: number;
  confidence: number;
  punctuated_word: string;
  speaker?: number;
  /** 0..1, with `speaker` (diarize=true). */
  speaker_confidence?: number;
  /** Extension (known_speakers): the voiceprint name of `speaker` when the voice matched one. */
  speaker_name?: string;
  language?: string;
  estimated?: boolean;
}

export interface ResultsMessage {
  type: 'Results';
  channel_index: [number, number];
  start: number;
  duration: number;
  is_final: boolean;
  speech_final: boolean;
  from_finalize: boolean;
  channel: {
    alternatives: { transcript: string; confidence: number; words: DgWord[]; languages?: string[] }[];
  };
  metadata: { request_id: string; model_uuid: string; model_info: Omit<ModelInfo, 'uuid'> };
  seq?: number;
  lag: number;
  /** Extension: why a final that is not speech_final ended, when it was not a pause (absent otherwise). */
  end_reason?: EndReason;
}

/** 'max_utterance': the utterance reached the longest allowed (--max-utterance) and was cut there. */
export type EndReason = 'max_utterance';

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** Deepgram's `word` is the bare lower-case token; `punctuated_word` keeps Whisper's casing and punctuation. */
export function bareWord(w: string): string {
  return w
    .toLowerCase()
    .replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '')
    .trim();
}

export function toDgWords(words: readonly Word[], language?: string, speakers?: readonly number[]): DgWord[] {
  return words.map((w, i) => {
    const out: DgWord = {
      word: bareWord(w.word) || w.word.trim(),
      start: r3(w.start),
      end: r3(w.end),
      confidence: r3(w.probability),
      punctuated_word: w.word.trim(),
    };
    if (speakers) out.speaker = speakers[i];
    if (language) out.language = language;
    if (w.estimated) out.estimated = true;
    return out;
  });
}

/** Deepgram's alternative confidence: the mean of its words' (0 without words). The one place it is computed. */
export function meanConfidence(words: readonly { confidence: number }[]): number {
  return words.length ? words.reduce((s, w) => s + w.confidence, 0) / words.length : 0;
}

/** The transcript as Deepgram renders it: punctuated only when punctuate or smart_format asked for it. */
export function transcriptOf(words: readonly DgWord[], punctuated: boolean): string {
  return words
    .map((w) => (punctuated ? w.punctuated_word : w.word))
    .filter(Boolean)
    .join(' ');
}

/**
 * Deepgram's `languages` of an alternative (language=multi): the languages its words carry (they do when the
 * language is detected), the most used first.
 */
function languagesOf(words: readonly DgWord[]): string[] {
  const count = new Map<string, number>();
  for (const w of words) if (w.language) count.set(w.language, (count.get(w.language) ?? 0) + 1);
  return [...count].sort((x, y) => y[1] - x[1]).map(([code]) => code);
}

export function resultsMessage(a: {
  requestId: string;
  model: ModelInfo;
  start: number;
  end: number;
  isFinal: boolean;
  speechFinal: boolean;
  fromFinalize: boolean;
  words: DgWord[];
  punctuated: boolean;
  seq?: number;
  lag: number;
  endReason?: EndReason;
  /** [index, count] of a multichannel stream's channel; [0, 1] otherwise. */
  channel?: [number, number];
}): ResultsMessage {
  const confidence = meanConfidence(a.words);
  const languages = languagesOf(a.words);
  const { uuid, ...info } = a.model;
  const msg: ResultsMessage = {
    type: 'Results',
    channel_index: a.channel ?? [0, 1],
    start: r3(a.start),
    duration: r3(Math.max(0, a.end - a.start)),
    is_final: a.isFinal,
    speech_final: a.speechFinal,
    from_finalize: a.fromFinalize,
    channel: {
      alternatives: [
        {
          transcript: transcriptOf(a.words, a.punctuated),
          confidence: r3(confidence),
          words: a.words,
          ...(languages.length ? { languages } : {}),
        },
      ],
    },
    metadata: { request_id: a.requestId, model_uuid: uuid, model_info: info },
    lag: r3(Math.max(0, a.lag)),
  };
  if (a.seq !== undefined) msg.seq = a.seq;
  if (a.endReason) msg.end_reason = a.endReason;
  return msg;
}

/** Extension fields of Metadata: where the session stands, so a client can resume it (additive to Deepgram's). */
interface ResumePoint {
  session: string;
  /** This connection continues an earlier one of the session. */
  resumed: boolean;
  /** Seq of the last final stored: resume with resume_from=last_seq to replay nothing, lower to replay more. */
  lastSeq: number;
  /** Seconds up to which all audio is final or judged non-speech: a resuming client re-sends audio from here. */
  committedUntil: number;
}

export function metadataMessage(a: {
  requestId: string;
  model: ModelInfo;
  created: Date;
  duration: number;
  channels: number;
  resume?: ResumePoint;
}) {
  const { uuid, ...info } = a.model;
  const r = a.resume;
  return {
    type: 'Metadata' as const,
    transaction_key: 'deprecated',
    request_id: a.requestId,
    sha256: '',
    created: a.created.toISOString(),
    duration: r3(a.duration),
    channels: a.channels,
    models: [uuid],
    model_info: { [uuid]: info },
    ...(r
      ? {
          session: r.session,
          resumed: r.resumed,
          last_seq: r.lastSeq,
          committed_until: r3(r.committedUntil),
        }
      : {}),
  };
}

export function speechStartedMessage(timestamp: number, channel: [number, number] = [0, 1]) {
  return { type: 'SpeechStarted' as const, channel, timestamp: r3(timestamp) };
}

export function utteranceEndMessage(lastWordEnd: number, channel: [number, number] = [0, 1]) {
  return { type: 'UtteranceEnd' as const, channel, last_word_end: r3(lastWordEnd) };
}

/** Client input quoted in an error message: JSON, cut to `max` characters so a huge frame is not echoed back. */
export function quoteInput(value: unknown, max = 64): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.length > max ? `${s.slice(0, max)}...` : s;
}

export function errorMessage(code: string, description: string) {
  return { type: 'Error' as const, err_code: code, err_msg: description, description };
}
