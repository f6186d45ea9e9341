/**
 * Streaming decoders for headerless PCM as sent on the live protocol (Deepgram `encoding` values).
 * WebSocket frames may split a sample or a stereo frame anywhere, so incomplete bytes are carried to the next push.
 */
import { AudioDecodeError } from './errors.js';

export type Encoding = 'linear16' | 'float32' | 'mulaw';

export const ENCODINGS: readonly Encoding[] = ['linear16', 'float32', 'mulaw'];

export function bytesPerSample(encoding: Encoding): number {
  return encoding === 'linear16' ? 2 : encoding === 'float32' ? 4 : 1;
}

/** Seconds of audio that `bytes` of raw PCM hold, at its own sample rate and channel count. */
export function pcmSeconds(
  bytes: number,
  f: { encoding: Encoding; channels: number; sampleRate: number },
): number {
  return bytes / (bytesPerSample(f.encoding) * f.channels) / f.sampleRate;
}

/** G.711 µ-law byte → 16-bit linear value (range ±32124), per ITU-T G.711. */
export function mulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
  // 0x7f is µ-law's negative zero; return +0 so silence is plain 0.
  return u & 0x80 && magnitude !== 0 ? -magnitude : magnitude;
}

/** 16-bit linear value → G.711 µ-law byte (the encoder counterpart, for tests and tools). */
export function linearToMulaw(sample: number): number {
  const BIAS = 0x84;
  const CLIP = 32635;
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > CLIP) s = CLIP;
  s += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** µ-law byte → float in [-1, 1). */
export const MULAW_TABLE: Float32Array = Float32Array.from(
  { length: 256 },
  (_, b) => mulawToLinear(b) / 32768,
);

/** Most interleaved channels a stream or file may carry (multichannel=true). */
export const MAX_CHANNELS = 8;

export interface PcmDecoderOptions {
  encoding: Encoding;
  /** 1 or 2 (mixed to mono); up to MAX_CHANNELS when `channel` picks one of them. */
  channels: number;
  /** Only this channel (0-based) instead of the mix: multichannel=true. */
  channel?: number;
}

/** Bytes of any length in, float32 mono out (stereo mixed, or the one channel asked for). */
export class PcmDecoder {
  readonly encoding: Encoding;
  readonly channels: number;
  private readonly pick: number | undefined;
  private readonly frameBytes: number;
  private readonly pending: Uint8Array;
  private pendingLength = 0;

  constructor(opts: PcmDecoderOptions) {
    if (!ENCODINGS.includes(opts.encoding)) {
      throw new AudioDecodeError(
        'unsupported',
        `unsupported encoding "${String(opts.encoding)}": use one of ${ENCODINGS.join(', ')}`,
      );
    }
    checkChannels(opts);
    this.encoding = opts.encoding;
    this.channels = opts.channels;
    this.pick = opts.channel;
    this.frameBytes = bytesPerSample(opts.encoding) * opts.channels;
    this.pending = new Uint8Array(this.frameBytes);
  }

  /** Bytes of an incomplete frame held for the next push. */
  get pendingBytes(): number {
    return this.pendingLength;
  }

  /**
   * Decodes every complete frame of (held bytes + chunk); stereo is averaged to mono.
   * Throws AudioDecodeError on NaN/Infinity float32 data (almost always a wrong `encoding`), leaving the decoder
   * state as it was before the call.
   */
  push(chunk: Uint8Array): Float32Array {
    const fb = this.frameBytes;
    const held = this.pendingLength;
    const total = held + chunk.length;
    const frames = Math.floor(total / fb);
    const out = new Float32Array(frames);
    if (frames > 0) {
      let bytes: Uint8Array;
      if (held === 0) {
        bytes = chunk;
      } else {
        // Only the first frame straddles the boundary; copy just enough to complete it.
        bytes = new Uint8Array(frames * fb);
        bytes.set(this.pending.subarray(0, held));
        bytes.set(chunk.subarray(0, frames * fb - held), held);
      }
      this.decodeFrames(bytes, frames, out);
    }
    const rest = total - frames * fb;
    if (rest > 0) {
      // rest < fb, and the leftover is the tail of (pending + chunk).
      const tail = new Uint8Array(rest);
      for (let i = 0; i < rest; i++) {
        const idx = total - rest + i;
        tail[i] = idx < held ? this.pending[idx] : chunk[idx - held];
      }
      this.pending.set(tail);
    }
    this.pendingLength = rest;
    return out;
  }

  /** Forgets any held partial frame. */
  reset(): void {
    this.pendingLength = 0;
  }

  private decodeFrames(bytes: Uint8Array, frames: number, out: Float32Array): void {
    if (this.pick !== undefined) return this.decodeChannel(bytes, frames, out, this.pick);
    const stereo = this.channels === 2;
    switch (this.encoding) {
      case 'linear16': {
        if (stereo) {
          for (let f = 0, o = 0; f < frames; f++, o += 4) {
            const l = ((bytes[o] | (bytes[o + 1] << 8)) << 16) >> 16;
            const r = ((bytes[o + 2] | (bytes[o + 3] << 8)) << 16) >> 16;
            out[f] = (l + r) / 65536;
          }
        } else {
          for (let f = 0, o = 0; f < frames; f++, o += 2) {
            out[f] = (((bytes[o] | (bytes[o + 1] << 8)) << 16) >> 16) / 32768;
          }
        }
        return;
      }
      case 'mulaw': {
        if (stereo) {
          for (let f = 0; f < frames; f++)
            out[f] = (MULAW_TABLE[bytes[2 * f]] + MULAW_TABLE[bytes[2 * f + 1]]) / 2;
        } else {
          for (let f = 0; f < frames; f++) out[f] = MULAW_TABLE[bytes[f]];
        }
        return;
      }
      case 'float32': {
        const view = new DataView(bytes.buffer, bytes.byteOffset, frames * this.frameBytes);
        if (stereo) {
          for (let f = 0; f < frames; f++) {
            out[f] = (view.getFloat32(8 * f, true) + view.getFloat32(8 * f + 4, true)) / 2;
          }
        } else {
          for (let f = 0; f < frames; f++) out[f] = view.getFloat32(4 * f, true);
        }
        checkFinite(out, frames);
        return;
      }
    }
  }

  /** One channel of interleaved frames, as it is. */
  private decodeChannel(bytes: Uint8Array, frames: number, out: Float32Array, channel: number): void {
    const fb = this.frameBytes;
    const at = channel * bytesPerSample(this.encoding);
    switch (this.encoding) {
      case 'linear16':
        for (let f = 0, o = at; f < frames; f++, o += fb) {
          out[f] = (((bytes[o] | (bytes[o + 1] << 8)) << 16) >> 16) / 32768;
        }
        return;
      case 'mulaw':
        for (let f = 0, o = at; f < frames; f++, o += fb) out[f] = MULAW_TABLE[bytes[o]];
        return;
      case 'float32': {
        const view = new DataView(bytes.buffer, bytes.byteOffset, frames * fb);
        for (let f = 0, o = at; f < frames; f++, o += fb) out[f] = view.getFloat32(o, true);
        checkFinite(out, frames);
      }
    }
  }
}

function checkChannels(opts: PcmDecoderOptions): void {
  const { channels, channel } = opts;
  if (channel === undefined) {
    if (channels !== 1 && channels !== 2) {
      throw new AudioDecodeError('unsupported', `unsupported channel count ${String(channels)}: use 1 or 2`);
    }
    return;
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > MAX_CHANNELS) {
    throw new AudioDecodeError(
      'unsupported',
      `unsupported channel count ${String(channels)}: use 1 to ${MAX_CHANNELS}`,
    );
  }
  if (!Number.isInteger(channel) || channel < 0 || channel >= channels) {
    throw new AudioDecodeError('unsupported', `no channel ${channel} in audio of ${channels} channel(s)`);
  }
}

function checkFinite(out: Float32Array, frames: number): void {
  for (let f = 0; f < frames; f++) {
    if (!Number.isFinite(out[f])) {
      throw new AudioDecodeError(
        'not_audio',
        'float32 audio contains NaN or Infinity: check that the stream really is 32-bit float little-endian (encoding=float32)',
      );
    }
  }
}

/**
 * Interleaved PCM of `channels` channels split into one byte stream per channel, in the same encoding: a
 * multichannel stream's frames may end anywhere, so an incomplete frame is held for the next push.
 */
export class PcmSplitter {
  private readonly sampleBytes: number;
  private readonly frameBytes: number;
  private held: Uint8Array = new Uint8Array(0);

  constructor(
    encoding: Encoding,
    readonly channels: number,
  ) {
    this.sampleBytes = bytesPerSample(encoding);
    this.frameBytes = this.sampleBytes * channels;
  }

  /** Each channel's bytes of every complete frame so far. */
  push(chunk: Uint8Array): Uint8Array[] {
    const bytes = this.held.length ? concatBytes(this.held, chunk) : chunk;
    const frames = Math.floor(bytes.length / this.frameBytes);
    this.held = bytes.slice(frames * this.frameBytes);
    const sb = this.sampleBytes;
    return Array.from({ length: this.channels }, (_, c) => {
      const out = new Uint8Array(frames * sb);
      for (let f = 0, o = c * sb; f < frames; f++, o += this.frameBytes) {
        for (let b = 0; b < sb; b++) out[f * sb + b] = bytes[o + b];
      }
      return out;
    });
  }
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * One-shot decode of a whole headerless PCM buffer (e.g. a .s16le file). Unlike the streaming decoder, a trailing
 * partial frame is an error: a file of whole samples cannot end mid-frame unless encoding/channels are wrong.
 */
export function decodePcm(bytes: Uint8Array, opts: PcmDecoderOptions): Float32Array {
  if (bytes.length === 0)
    throw new AudioDecodeError('empty', 'the audio is empty (0 bytes): send some audio');
  const decoder = new PcmDecoder(opts);
  const frameBytes = bytesPerSample(opts.encoding) * opts.channels;
  if (bytes.length % frameBytes !== 0) {
    throw new AudioDecodeError(
      'odd_length',
      `raw ${opts.encoding} audio with ${opts.channels} channel(s) needs a multiple of ${frameBytes} bytes, got ${bytes.length}: check the encoding and channel count`,
    );
  }
  return decoder.push(bytes);
}
