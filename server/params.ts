import { MAX_CHANNELS, type Encoding } from '../audio/pcm.js';
import { checkLanguage, UnsupportedLanguageError } from '../models/whisper/languages.js';
import { checkTask, UnsupportedTaskError, type Task } from '../models/whisper/tasks.js';
import { parseKnownSpeakers, type KnownSpeakersRequest } from './voiceprints/names.js';

/** A /v1/listen parameter earshot implements, given a value it cannot honour: refused before the upgrade. */
export class ParamError extends Error {
  override name = 'ParamError';
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ListenParams {
  encoding: Encoding;
  sampleRate: number;
  /** Interleaved channels: 1-2 mixed to mono, or 2-8 transcribed each on its own with multichannel. */
  channels: number;
  multichannel: boolean;
  /** A language code, or undefined to detect it (language=multi|auto or absent on a multilingual model). */
  language?: string;
  /** detect_language=true: the language is detected (whatever `language` says) and reported with its confidence. */
  detectLanguage: boolean;
  /** Extension: translate (into English) instead of transcribing. */
  task: Task;
  interimResults: boolean;
  /** Silence that ends an utterance, in ms; false: only Finalize, max length and close end one. */
  endpointing: number | false;
  utteranceEndMs?: number;
  vadEvents: boolean;
  diarize: boolean;
  /** Extension (with diarize): at most this many speakers. */
  maxSpeakers?: number;
  /** Extension (with diarize): stored voiceprints to name speakers after (`all`, or names). */
  knownSpeakers?: KnownSpeakersRequest;
  punctuate: boolean;
  smartFormat: boolean;
  /** keyterm/keywords/prompt joined: conditions Whisper's decoder. */
  prompt?: string;
  model?: string;
  /** Extensions: resume an earlier session's transcript after SEQ. */
  session?: string;
  resumeFrom?: number;
  /** Deepgram parameters accepted but not implemented, for the opening log line. */
  ignored: string[];
}

const KNOWN_DEEPGRAM = new Set([
  'callback',
  'callback_method',
  'detect_entities',
  'dictation',
  'extra',
  'filler_words',
  'mip_opt_out',
  'no_delay',
  'numerals',
  'profanity_filter',
  'redact',
  'replace',
  'search',
  'sentiment',
  'summarize',
  'tag',
  'tier',
  'topics',
  'intents',
  'version',
  'alternatives',
  'paragraphs',
  'utterances',
  'utt_split',
  'measurements',
  'custom_topic',
  'custom_intent',
  'eot_threshold',
  'eager_eot_threshold',
  'eot_timeout_ms',
  'token',
]);

const ENCODINGS: Record<string, Encoding> = {
  linear16: 'linear16',
  pcm_s16le: 'linear16',
  float32: 'float32',
  pcm_f32le: 'float32',
  mulaw: 'mulaw',
  'mu-law': 'mulaw',
};

function bool(q: URLSearchParams, name: string, fallback: boolean): boolean {
  const v = q.get(name);
  if (v === null || v === '') return fallback;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ParamError(name, `${name} must be true or false, got "${v}"`);
}

function intIn(q: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || n < min || n > max) {
    throw new ParamError(name, `${name} must be an integer from ${min} to ${max}, got "${v}"`);
  }
  return n;
}

export interface ParamDefaults {
  endpointingMs: number;
  /** Whether a body-less request (pre-recorded) is parsed: then sample_rate may come from the container. */
  prerecorded?: boolean;
  /** Language codes the model takes (models/languages.ts validLanguages); default: every Whisper language. */
  languages?: readonly string[];
  /** The model's name when it is English-only: task=translate is refused naming it. */
  englishOnly?: string;
}

/** Validates a /v1/listen query string the way Deepgram does: unknown Deepgram parameters are accepted. */
export function parseListenParams(q: URLSearchParams, defaults: ParamDefaults): ListenParams {
  const ignored: string[] = [];
  for (const key of new Set(q.keys())) if (KNOWN_DEEPGRAM.has(key) && key !== 'token') ignored.push(key);
  const encName = q.get('encoding') ?? 'linear16';
  const encoding = ENCODINGS[encName.toLowerCase()];
  if (!encoding) {
    throw new ParamError(
      'encoding',
      `encoding "${encName}" is not supported: use linear16, float32 or mulaw`,
    );
  }
  const sampleRate = intIn(q, 'sample_rate', 8000, 48000) ?? (encoding === 'mulaw' ? 8000 : 16000);
  const { channels, multichannel } = channelParams(q, defaults);
  let language: string | undefined;
  try {
    language = checkLanguage(q.get('language') ?? undefined, defaults.languages);
  } catch (err) {
    if (err instanceof UnsupportedLanguageError) throw new ParamError('language', err.message);
    throw err;
  }
  let task: Task;
  try {
    task = checkTask(q.get('task') ?? undefined, defaults.englishOnly);
  } catch (err) {
    if (err instanceof UnsupportedTaskError) throw new ParamError('task', err.message);
    throw err;
  }
  const detectLanguage = bool(q, 'detect_language', false);
  const ep = q.get('endpointing');
  let endpointing: number | false = defaults.endpointingMs;
  if (ep === 'false') endpointing = false;
  else if (ep !== null && ep !== '' && ep !== 'true') {
    endpointing = intIn(q, 'endpointing', 10, 60000)!;
  }
  const utteranceEndMs = intIn(q, 'utterance_end_ms', 1000, 60000);
  const resume = q.get('resume_from');
  const resumeFrom = resume === null ? undefined : intIn(q, 'resume_from', 0, Number.MAX_SAFE_INTEGER);
  const session = q.get('session') ?? undefined;
  if (session !== undefined && !/^[A-Za-z0-9_-]{1,128}$/.test(session)) {
    throw new ParamError('session', 'session must be 1-128 characters of A-Z a-z 0-9 _ -');
  }
  if (resumeFrom !== undefined && session === undefined) {
    throw new ParamError('resume_from', 'resume_from needs session=ID');
  }
  if (resumeFrom !== undefined && multichannel) {
    throw new ParamError('resume_from', 'multichannel streams cannot be resumed');
  }
  const terms = [...q.getAll('keyterm'), ...q.getAll('keywords').map((k) => k.replace(/:[-\d.]+$/, ''))];
  const prompt = [q.get('prompt') ?? '', terms.join(', ')].filter(Boolean).join(' ').trim();
  if (prompt.length > 2000)
    throw new ParamError('prompt', 'prompt and keyterms together must stay under 2000 characters');
  const diarize = bool(q, 'diarize', false);
  const maxSpeakers = intIn(q, 'max_speakers', 1, 32);
  const knownSpeakers = parseKnownSpeakers(
    q.get('known_speakers'),
    (m) => new ParamError('known_speakers', m),
  );
  if (knownSpeakers && !diarize) {
    throw new ParamError('known_speakers', 'known_speakers needs diarize=true');
  }
  return {
    encoding,
    sampleRate,
    channels,
    multichannel,
    language: detectLanguage ? undefined : language,
    detectLanguage,
    task,
    interimResults: bool(q, 'interim_results', false),
    endpointing,
    utteranceEndMs,
    vadEvents: bool(q, 'vad_events', false),
    diarize,
    maxSpeakers,
    knownSpeakers,
    punctuate: bool(q, 'punctuate', false),
    smartFormat: bool(q, 'smart_format', false),
    prompt: prompt || undefined,
    model: q.get('model') ?? undefined,
    session,
    resumeFrom,
    ignored,
  };
}

/**
 * channels and multichannel: without multichannel, 1 or 2 channels mixed to mono; with it, 2-8 channels each
 * transcribed on its own (a pre-recorded container says its own count, so there channels may be left out).
 */
function channelParams(q: URLSearchParams, d: ParamDefaults): { channels: number; multichannel: boolean } {
  const multichannel = bool(q, 'multichannel', false);
  const given = intIn(q, 'channels', 1, MAX_CHANNELS);
  if (!multichannel) {
    if (given !== undefined && given > 2) {
      throw new ParamError(
        'channels',
        `channels=${given} needs multichannel=true (1 or 2 are mixed to mono)`,
      );
    }
    return { channels: given ?? 1, multichannel };
  }
  const container = d.prerecorded && !q.has('encoding');
  if (given === undefined ? !container : given < 2) {
    throw new ParamError('channels', `multichannel=true needs channels from 2 to ${MAX_CHANNELS}`);
  }
  return { channels: given ?? 1, multichannel };
}
