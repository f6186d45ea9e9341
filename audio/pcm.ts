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

export interface PcmDecoderOptions {
  encoding: Encoding;
  channels: 1 | 2;
}

/** Bytes of any length in, float32 mono out. */
export class PcmDecoder {
  readonly encoding: Encoding;
  readonly channels: 1 | 2;
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
    if (opts.channels !== 1 && opts.channels !== 2) {
      throw new AudioDecodeError(
        'unsupported',
        `unsupported channel count ${String(opts.channels)}: use 1 or 2`,
      );
    }
    this.encoding = opts.encoding;
    this.channels = opts.channels;
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
        for (let f = 0; f < frames; f++) {
          if (!Number.isFinite(out[f])) {
            throw new AudioDecodeError(
              'not_audio',
              'float32 audio contains NaN or Infinity: check that the stream really is 32-bit float little-endian (encoding=float32)',
            );
          }
        }
        return;
      }
    }
  }
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
