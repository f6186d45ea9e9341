import {
  APIConnectionError,
  APIStatusError,
  APITimeoutError,
  DEFAULT_API_CONNECT_OPTIONS,
  type APIConnectOptions,
  type AudioBuffer,
  stt,
} from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import { parseBody } from './connection.js';
import type { DgAlternative } from './events.js';
import { toSpeechData } from './events.js';
import { authHeaders, commonParams, listenEndpoint, resolveOptions, type STTOptions } from './options.js';
import { SpeechStream } from './stream.js';
import { wavBytes } from './wav.js';

export type STTInit = Partial<STTOptions>;

/**
 * earshot speech-to-text for LiveKit Agents: streaming Whisper over earshot's /v1/listen that survives dropped
 * connections without losing or repeating a final, and one-shot recognition over POST /v1/listen.
 */
export class STT extends stt.STT {
  label = 'earshot.STT';
  #opts: STTOptions;
  #streams = new Set<WeakRef<SpeechStream>>();

  constructor(opts: STTInit = {}) {
    const resolved = resolveOptions(opts);
    super({
      streaming: true,
      interimResults: resolved.interimResults,
      diarization: resolved.diarize,
      alignedTranscript: 'word',
    });
    this.#opts = resolved;
  }

  override get model(): string {
    return 'whisper';
  }

  override get provider(): string {
    return 'earshot';
  }

  get options(): Readonly<STTOptions> {
    return this.#opts;
  }

  /** New options for future streams; live streams reconnect (resuming their sessions) with them. */
  updateOptions(opts: STTInit): void {
    this.#opts = resolveOptions({ ...this.#opts, ...opts });
    this.updateCapabilities({ interimResults: this.#opts.interimResults, diarization: this.#opts.diarize });
    for (const ref of this.#streams) {
      const s = ref.deref();
      if (s) s.updateOptions(opts);
      else this.#streams.delete(ref);
    }
  }

  stream(options?: { connOptions?: APIConnectOptions }): SpeechStream {
    const s = new SpeechStream(this, this.#opts, options?.connOptions ?? DEFAULT_API_CONNECT_OPTIONS);
    this.#streams.add(new WeakRef(s));
    return s;
  }

  protected async _recognize(buffer: AudioBuffer, abortSignal?: AbortSignal): Promise<stt.SpeechEvent> {
    const frames: AudioFrame[] = Array.isArray(buffer) ? buffer : [buffer];
    const { pcm, sampleRate, channels } = interleave(frames);
    const url = listenEndpoint(this.#opts.url, 'http');
    url.search = commonParams(this.#opts).toString();
    const timeoutMs = DEFAULT_API_CONNECT_OPTIONS.timeoutMs + (pcm.length / channels / sampleRate) * 1000;
    const signals = [AbortSignal.timeout(timeoutMs), ...(abortSignal ? [abortSignal] : [])];
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { ...(await authHeaders(this.#opts)), 'content-type': 'audio/wav' },
        body: wavBytes(pcm, sampleRate, channels),
        signal: AbortSignal.any(signals),
      });
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') {
        throw new APITimeoutError({ message: `earshot: no answer from ${url.origin} in ${timeoutMs} ms` });
      }
      throw new APIConnectionError({
        message: `earshot: cannot reach ${url.origin}: ${(err as Error).message}`,
      });
    }
    const text = await res.text();
    if (!res.ok) {
      throw new APIStatusError({
        message: `earshot refused the recognition: HTTP ${res.status} ${text.slice(0, 200)}`,
        options: {
          statusCode: res.status,
          requestId: res.headers.get('dg-request-id'),
          body: parseBody(text),
        },
      });
    }
    const body = JSON.parse(text) as {
      metadata?: { request_id?: string; duration?: number };
      results?: { channels?: { alternatives?: DgAlternative[]; detected_language?: string }[] };
    };
    const channel = body.results?.channels?.[0];
    const alt = channel?.alternatives?.[0] ?? { transcript: '', confidence: 0, words: [] };
    const duration = body.metadata?.duration ?? pcm.length / channels / sampleRate;
    return {
      type: stt.SpeechEventType.FINAL_TRANSCRIPT,
      requestId: body.metadata?.request_id,
      alternatives: [
        toSpeechData(
          alt,
          { start: 0, duration },
          0,
          channel?.detected_language ?? this.#opts.language,
          this.#opts.task === 'translate',
        ),
      ],
    };
  }
}

/** The frames as one interleaved buffer; they must share one rate and channel count. */
function interleave(frames: AudioFrame[]): { pcm: Int16Array; sampleRate: number; channels: number } {
  if (frames.length === 0) return { pcm: new Int16Array(0), sampleRate: 16000, channels: 1 };
  const { sampleRate, channels } = frames[0];
  let n = 0;
  for (const f of frames) {
    if (f.sampleRate !== sampleRate || f.channels !== channels) {
      throw new TypeError(
        `earshot recognize(): frames mix ${sampleRate} Hz x${channels} with ${f.sampleRate} Hz x${f.channels}`,
      );
    }
    n += f.data.length;
  }
  const pcm = new Int16Array(n);
  let at = 0;
  for (const f of frames) {
    pcm.set(f.data, at);
    at += f.data.length;
  }
  return { pcm, sampleRate, channels };
}
