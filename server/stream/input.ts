import { pcmSeconds, PcmDecoder } from '../../audio/pcm.js';
import { SAMPLE_RATE } from '../../audio/rate.js';
import { StreamingResampler } from '../../audio/resample.js';
import { UtteranceSegmenter, type SegmentEvent } from '../../models/vad/segmenter.js';
import { SpeechRegions } from '../../models/vad/speech-regions.js';
import type { VadModel, VadStream } from '../../models/vad/silero.js';
import type { ListenParams } from '../params.js';
import { AudioRing } from './audio-ring.js';
import type { SessionConfig } from './config.js';

/**
 * A stream's input stage: client bytes -> PCM -> 16 kHz (kept in the ring) -> Silero VAD -> segmenter events.
 * Calls must not overlap (the session runs them on its audio chain).
 */
export class AudioInput {
  readonly ring: AudioRing;
  private readonly decoder: PcmDecoder;
  private readonly resampler: StreamingResampler | null;
  private readonly vad: VadStream;
  private readonly segmenter: UtteranceSegmenter;
  /** diarize=true: the speech split at short pauses, where a final's speaker labels cut it (session time). */
  readonly regions: SpeechRegions | null;
  /** How far back a speech_start can still reach from the segmenter's clock (min speech, pad, a frame). */
  private readonly vadLookback: number;

  constructor(
    private readonly params: ListenParams,
    config: SessionConfig,
    vad: VadModel,
    private readonly offset: number,
  ) {
    this.decoder = new PcmDecoder({ encoding: params.encoding, channels: params.channels });
    this.resampler =
      params.sampleRate === SAMPLE_RATE ? null : new StreamingResampler(params.sampleRate, SAMPLE_RATE);
    this.vad = vad.createStream();
    const frameSeconds = vad.frameSamples / SAMPLE_RATE;
    this.segmenter = new UtteranceSegmenter({
      frameSeconds,
      threshold: config.vadThreshold,
      minSpeechMs: config.minSpeechMs,
      endpointingMs: params.endpointing,
      speechPadMs: config.speechPadMs,
      maxUtteranceSeconds: config.maxUtteranceSeconds,
      pauseEvents: config.earlyFinals,
    });
    this.regions = params.diarize
      ? new SpeechRegions(
          { frameSeconds, threshold: config.vadThreshold, minSpeechMs: config.minSpeechMs },
          offset,
        )
      : null;
    this.vadLookback = (config.minSpeechMs + config.speechPadMs) / 1000 + frameSeconds;
    this.ring = new AudioRing(offset);
  }

  /** The segmenter is inside speech now. */
  get inSpeech(): boolean {
    return this.segmenter.inSpeech;
  }

  /** Session time before which the VAD has decided everything (no speech onset can reach back before it). */
  get decidedUntil(): number {
    return this.offset + Math.max(0, this.segmenter.time - this.vadLookback);
  }

  /** 16 kHz samples `bytes` of client audio make. */
  samples16k(bytes: number): number {
    return pcmSeconds(bytes, this.params) * SAMPLE_RATE;
  }

  /** Client bytes as 16 kHz samples (throws on undecodable audio). */
  decode(bytes: Uint8Array): Float32Array {
    const pcm = this.decoder.push(bytes);
    return this.resampler ? this.resampler.push(pcm) : pcm;
  }

  /** Keeps the samples (dropping audio before `keepFrom` if room is needed) and runs the VAD over them. */
  async push(samples: Float32Array, keepFrom: number): Promise<SegmentEvent[]> {
    this.ring.append(samples, keepFrom);
    const probs = await this.vad.push(samples);
    this.regions?.push(probs);
    return this.segmenter.push(probs);
  }

  /** End of input: the resampler's and the segmenter's tails. */
  async flush(keepFrom: number): Promise<SegmentEvent[]> {
    const tail = this.resampler?.flush();
    const events = tail?.length ? await this.push(tail, keepFrom) : [];
    this.regions?.flush();
    return [...events, ...this.segmenter.flush()];
  }
}
