/** Options of the earshot STT, their defaults, and how they become a /v1/listen URL and headers. */

/** A bearer token, or a function that returns a fresh one for every connection (so JWTs can rotate). */
export type TokenSource = string | (() => string | Promise<string>);

export interface STTOptions {
  /** The earshot server: http(s):// or ws(s)://, with or without the /v1/listen path. */
  url: string;
  /** Sent as `Authorization: Token <apiKey>`. */
  apiKey?: string;
  /** Sent as `Authorization: Bearer <token>`; a function is called again for every connection. */
  token?: TokenSource;
  /** A language code; undefined lets the server detect it (multilingual models) or use its default. */
  language?: string;
  /**
   * 'translate': the server translates what is said into English (earshot's task=translate; a multilingual model
   * is needed, an English-only one refuses the stream). Default: transcribe.
   */
  task?: 'transcribe' | 'translate';
  interimResults: boolean;
  /** Silence that ends an utterance, in ms; false: utterances end only on flush() and at the end of input. */
  endpointingMs: number | false;
  /** Deepgram's UtteranceEnd: a word gap that also ends the utterance (END_OF_SPEECH), in ms. */
  utteranceEndMs?: number;
  /** Ask the server to label speakers; words carry speakerId when it does. */
  diarize: boolean;
  /**
   * With diarize: voiceprints enrolled on the server (POST /v1/speakers) whose names label matching voices
   * (speakerId is the name instead of S<n>); 'all' for every one of the credential's.
   */
  knownSpeakers?: string[] | 'all';
  /** Terms that bias recognition (joined into Whisper's prompt by earshot). */
  keyterms: string[];
  /** Free text that conditions Whisper's decoder. */
  prompt?: string;
  /** Keep Whisper's punctuation and casing in the transcript text. */
  punctuate: boolean;
  /**
   * Undefined: audio is sent at the rate and channel count it arrives in (earshot resamples server-side).
   * A number: LiveKit resamples to this rate first (use it if the input rate may change mid-stream).
   */
  sampleRate?: number;
  /** KeepAlive after this much time with no audio sent, so the server's idle timeout does not close the stream. */
  keepAliveMs: number;
  /** Audio kept after the last delivered final, re-sent after a reconnect; older audio is dropped. */
  resumeBufferSeconds: number;
  /** How long endInput() waits for the server's last finals. */
  closeTimeoutMs: number;
}

export const DEFAULT_OPTIONS: Omit<STTOptions, 'url'> = {
  interimResults: true,
  endpointingMs: 500,
  diarize: false,
  keyterms: [],
  punctuate: true,
  keepAliveMs: 3000,
  resumeBufferSeconds: 60,
  closeTimeoutMs: 30_000,
};

export function resolveOptions(opts: Partial<STTOptions>): STTOptions {
  const url = opts.url ?? process.env.EARSHOT_URL ?? 'http://localhost:8080';
  const resolved: STTOptions = {
    ...DEFAULT_OPTIONS,
    apiKey: process.env.EARSHOT_API_KEY,
    ...stripUndefined(opts),
    url,
  };
  validate(resolved);
  return resolved;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validate(o: STTOptions): void {
  if (!/^(https?|wss?):\/\//.test(o.url)) {
    throw new TypeError(`earshot STT: url must start with http://, https://, ws:// or wss:// (got ${o.url})`);
  }
  if (o.sampleRate !== undefined && !(o.sampleRate >= 8000 && o.sampleRate <= 48000)) {
    throw new RangeError(`earshot STT: sampleRate must be 8000-48000 Hz (got ${o.sampleRate})`);
  }
  if (o.task !== undefined && o.task !== 'transcribe' && o.task !== 'translate') {
    throw new TypeError(`earshot STT: task must be 'transcribe' or 'translate' (got ${String(o.task)})`);
  }
  if (o.endpointingMs !== false && !(o.endpointingMs >= 0)) {
    throw new RangeError(`earshot STT: endpointingMs must be >= 0 or false (got ${o.endpointingMs})`);
  }
  if (o.resumeBufferSeconds <= 0) throw new RangeError('earshot STT: resumeBufferSeconds must be > 0');
}

/** The /v1/listen endpoint of `url`, in the scheme asked for (ws for streams, http for POSTs). */
export function listenEndpoint(url: string, kind: 'ws' | 'http'): URL {
  const u = new URL(url);
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  u.protocol = kind === 'ws' ? (secure ? 'wss:' : 'ws:') : secure ? 'https:' : 'http:';
  const path = u.pathname.replace(/\/+$/, '');
  u.pathname = path.endsWith('/v1/listen') ? path : `${path}/v1/listen`;
  u.search = '';
  return u;
}

/** Query parameters every request shares (streaming adds format, session and resume). */
export function commonParams(o: STTOptions): URLSearchParams {
  const q = new URLSearchParams();
  if (o.language) q.set('language', o.language);
  if (o.task === 'translate') q.set('task', 'translate');
  q.set('punctuate', String(o.punctuate));
  if (o.diarize) q.set('diarize', 'true');
  const known = o.knownSpeakers === 'all' ? 'all' : o.knownSpeakers?.join(',');
  if (o.diarize && known) q.set('known_speakers', known);
  for (const k of o.keyterms) q.append('keyterm', k);
  if (o.prompt) q.set('prompt', o.prompt);
  return q;
}

export interface StreamFormat {
  sampleRate: number;
  channels: number;
}

export function streamUrl(
  o: STTOptions,
  format: StreamFormat,
  session: string,
  resumeFrom: number | undefined,
): string {
  const u = listenEndpoint(o.url, 'ws');
  const q = commonParams(o);
  q.set('encoding', 'linear16');
  q.set('sample_rate', String(format.sampleRate));
  q.set('channels', String(format.channels));
  q.set('interim_results', String(o.interimResults));
  q.set('endpointing', String(o.endpointingMs));
  if (o.utteranceEndMs !== undefined) q.set('utterance_end_ms', String(o.utteranceEndMs));
  q.set('vad_events', 'true');
  q.set('session', session);
  if (resumeFrom !== undefined) q.set('resume_from', String(resumeFrom));
  u.search = q.toString();
  return u.toString();
}

/** The Authorization header: a bearer token (fetched now, so it can rotate) wins over an API key. */
export async function authHeaders(o: STTOptions): Promise<Record<string, string>> {
  if (o.token !== undefined) {
    const token = typeof o.token === 'function' ? await o.token() : o.token;
    return { Authorization: `Bearer ${token}` };
  }
  if (o.apiKey) return { Authorization: `Token ${o.apiKey}` };
  return {};
}
