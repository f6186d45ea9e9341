/**
 * WAV (RIFF/RIFX/RF64 WAVE) decoding to mono float32 at the file's own rate.
 *
 * wavefile reads the fmt chunk (including WAVE_FORMAT_EXTENSIBLE); the chunk walk, the size checks and the sample
 * conversion are ours, because wavefile trusts declared sizes, unpacks samples generically (slow) and reads an
 * EXTENSIBLE float file as integers.
 *
 * Size policy:
 * - A data size of 0xFFFFFFFF, or 0 with bytes following, is the placeholder streaming writers (ffmpeg/sox/arecord
 *   to a pipe) leave; RF64 takes it from ds64. Either way the bytes present are decoded.
 * - Otherwise, a data chunk shorter than declared by more than one frame is refused as 'truncated': that is an
 *   interrupted upload or a lying header (e.g. 2 GB declared, 70 KB present), and transcribing the fragment would
 *   silently return a partial transcript. Never is the declared size allocated; only the bytes present are read.
 *   A shortfall of at most one frame (a missing pad byte, a cut last frame) is tolerated.
 */
import wavefile from 'wavefile';
import { AudioDecodeError } from './errors.js';
import { MULAW_TABLE } from './pcm.js';

export interface DecodedAudio {
  /** Mono float32 in [-1, 1]: the channels averaged, or the one channel asked for. */
  samples: Float32Array;
  sampleRate: number;
  /** Channel count of the source. */
  channels: number;
  /** Seconds. */
  duration: number;
}

export const MIN_SAMPLE_RATE = 8000;
export const MAX_SAMPLE_RATE = 48000;
const MAX_CHANNELS = 8;

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_ALAW = 6;
const FORMAT_MULAW = 7;
const FORMAT_EXTENSIBLE = 0xfffe;

const FORMAT_NAMES: Record<number, string> = {
  2: 'Microsoft ADPCM',
  0x11: 'IMA ADPCM',
  0x31: 'GSM 6.10',
  0x50: 'MPEG',
  0x55: 'MP3',
  0xff: 'AAC',
};

interface FmtChunk {
  audioFormat: number;
  numChannels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
  subformat: number[];
}

function fourcc(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);
}

/** Chunk ids from a corrupt file may hold control characters; keep error messages to one clean line. */
function printable(id: string): string {
  return id.replace(/[^\x20-\x7e]/g, '?');
}

const HINT = 'send 8/16/24/32-bit PCM or float WAV (e.g. ffmpeg -i in -ac 1 -ar 16000 out.wav)';

interface Layout {
  littleEndian: boolean;
  dataStart: number;
  dataDeclared: number;
  dataUnknownSize: boolean;
}

/**
 * Walks the chunk list with bounds checks; throws AudioDecodeError for anything structurally broken. With
 * complete=false, bytes are the start of a file still arriving: undefined means "need more bytes".
 */
function walkChunks(bytes: Uint8Array, complete = true): Layout | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const container = fourcc(bytes, 0);
  const littleEndian = container !== 'RIFX';
  const u32 = (at: number) => view.getUint32(at, littleEndian);
  let rf64DataSize = -1;
  let fmtFound = false;
  let pos = 12;
  while (pos + 8 <= bytes.length) {
    const id = fourcc(bytes, pos);
    const size = u32(pos + 4);
    const body = pos + 8;
    if (id === 'data') {
      let declared = size;
      let unknown = false;
      if (container === 'RF64' && size === 0xffffffff && rf64DataSize >= 0) declared = rf64DataSize;
      else if (size === 0xffffffff || (size === 0 && body < bytes.length)) unknown = true;
      if (!fmtFound) {
        throw new AudioDecodeError('bad_header', `WAV data chunk comes before its fmt chunk: ${HINT}`);
      }
      return { littleEndian, dataStart: body, dataDeclared: declared, dataUnknownSize: unknown };
    }
    if (body + size > bytes.length) {
      if (!complete) return undefined;
      throw new AudioDecodeError(
        'truncated',
        `WAV file is cut short: its "${printable(id)}" chunk declares ${size} bytes but the file ends after ${bytes.length - body}; upload the complete file`,
      );
    }
    if (id === 'fmt ') {
      if (size < 16)
        throw new AudioDecodeError('bad_header', `WAV fmt chunk is ${size} bytes (needs 16): ${HINT}`);
      fmtFound = true;
    } else if (id === 'ds64' && size >= 16) {
      rf64DataSize = view.getUint32(body + 8, true) + view.getUint32(body + 12, true) * 2 ** 32;
    }
    pos = body + size + (size & 1);
  }
  if (!complete) return undefined;
  if (bytes.length < 44) {
    throw new AudioDecodeError(
      'truncated',
      `WAV file is cut short inside its header (${bytes.length} bytes): upload the complete file`,
    );
  }
  if (!fmtFound) throw new AudioDecodeError('bad_header', `WAV file has no fmt chunk: ${HINT}`);
  throw new AudioDecodeError('truncated', 'WAV file ends before its data chunk: upload the complete file');
}

function readFmt(bytes: Uint8Array): FmtChunk {
  const wav = new wavefile.WaveFile();
  try {
    wav.fromBuffer(bytes, false);
  } catch (err) {
    throw new AudioDecodeError('bad_header', `unreadable WAV header (${(err as Error).message}): ${HINT}`, {
      cause: err,
    });
  }
  return wav.fmt as FmtChunk;
}

/** Everything about a WAV's samples, read from the bytes before them. */
export interface WavFormat {
  format: number;
  bits: number;
  channels: number;
  sampleRate: number;
  littleEndian: boolean;
  /** Offset of the first sample byte. */
  dataStart: number;
  dataDeclared: number;
  dataUnknownSize: boolean;
}

/** Headers (fmt, LIST, cover art...) longer than this before the samples are refused. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;

/**
 * Reads and validates a WAV header. bytes is the whole file (complete=true) or the start of one still arriving:
 * then undefined means more bytes are needed to reach the data chunk.
 */
export function parseWavHeader(bytes: Uint8Array, complete = true): WavFormat | undefined {
  if (bytes.length === 0) {
    if (!complete) return undefined;
    throw new AudioDecodeError('empty', 'the WAV file is empty (0 bytes): send some audio');
  }
  const container = bytes.length >= 4 ? fourcc(bytes, 0) : '';
  const isRiff = container === 'RIFF' || container === 'RIFX' || container === 'RF64';
  if (!isRiff) {
    if (!complete && bytes.length < 4) return undefined;
    throw new AudioDecodeError('not_audio', `not a WAV file (no RIFF header): ${HINT}`);
  }
  if (bytes.length < 12) {
    if (!complete) return undefined;
    throw new AudioDecodeError(
      'truncated',
      `WAV file is cut short (${bytes.length} bytes): upload the complete file`,
    );
  }
  if (fourcc(bytes, 8) !== 'WAVE') {
    throw new AudioDecodeError(
      'not_audio',
      `RIFF file of type "${printable(fourcc(bytes, 8))}", not WAVE audio: ${HINT}`,
    );
  }

  const layout = walkChunks(bytes, complete);
  if (!layout) {
    if (bytes.length > MAX_HEADER_BYTES) {
      throw new AudioDecodeError(
        'bad_header',
        `WAV file has no data chunk in its first ${MAX_HEADER_BYTES >> 20} MiB: ${HINT}`,
      );
    }
    return undefined;
  }
  const fmt = readFmt(bytes.subarray(0, layout.dataStart));

  const channels = fmt.numChannels;
  const rate = fmt.sampleRate;
  if (channels === 0) throw new AudioDecodeError('bad_header', `WAV header declares 0 channels: ${HINT}`);
  if (channels > MAX_CHANNELS) {
    throw new AudioDecodeError(
      'unsupported',
      `WAV has ${channels} channels (at most ${MAX_CHANNELS}): ${HINT}`,
    );
  }
  if (rate === 0)
    throw new AudioDecodeError('bad_header', `WAV header declares a sample rate of 0 Hz: ${HINT}`);
  if (rate < MIN_SAMPLE_RATE || rate > MAX_SAMPLE_RATE) {
    throw new AudioDecodeError(
      'unsupported',
      `WAV sample rate ${rate} Hz is outside ${MIN_SAMPLE_RATE}..${MAX_SAMPLE_RATE} Hz: resample it (e.g. ffmpeg -i in -ar 16000 out.wav)`,
    );
  }

  const format =
    fmt.audioFormat === FORMAT_EXTENSIBLE && fmt.subformat.length > 0 ? fmt.subformat[0] : fmt.audioFormat;
  const bits = fmt.bitsPerSample;
  const supported =
    (format === FORMAT_PCM && (bits === 8 || bits === 16 || bits === 24 || bits === 32)) ||
    (format === FORMAT_FLOAT && (bits === 32 || bits === 64)) ||
    ((format === FORMAT_MULAW || format === FORMAT_ALAW) && bits === 8);
  if (!supported) {
    const name =
      format === FORMAT_PCM
        ? `${bits}-bit PCM`
        : format === FORMAT_FLOAT
          ? `${bits}-bit float`
          : (FORMAT_NAMES[format] ?? `format 0x${format.toString(16)}`);
    throw new AudioDecodeError('unsupported', `WAV encoding ${name} is not supported: ${HINT}`);
  }
  return { format, bits, channels, sampleRate: rate, ...layout };
}

/**
 * Decodes a WAV arriving in chunks: push() returns the mono samples (at the file's rate) of every complete frame
 * so far, end() applies the size policy. Memory is one partial frame plus, until the samples start, the header.
 */
export class WavStreamDecoder {
  /** `channel`: only this channel (0-based) instead of the mix of all (multichannel=true). */
  constructor(private readonly opts: { channel?: number } = {}) {}

  private head: Uint8Array = new Uint8Array(0);
  private info: WavFormat | undefined;
  /** Bytes after dataStart, whether used or not (for the truncation check). */
  private present = 0;
  private frames = 0;
  private partial: Uint8Array = new Uint8Array(0);

  /** The header, once push() has seen it. */
  get format(): WavFormat | undefined {
    return this.info;
  }

  /** Frames converted so far. */
  get framesDecoded(): number {
    return this.frames;
  }

  /** Header bytes held before the samples start (the whole input so far while the format is unknown). */
  get headerBytes(): Uint8Array {
    return this.head;
  }

  push(chunk: Uint8Array): Float32Array {
    if (!this.info) {
      this.head = concat(this.head, chunk);
      this.info = parseWavHeader(this.head, false);
      if (!this.info) return EMPTY;
      chunk = this.head.subarray(this.info.dataStart);
      this.head = this.head.slice(0, this.info.dataStart);
      const pick = this.opts.channel;
      if (pick !== undefined && (pick < 0 || pick >= this.info.channels)) {
        throw new AudioDecodeError('unsupported', `no channel ${pick} in a WAV of ${this.info.channels}`);
      }
    }
    const { dataDeclared, dataUnknownSize, bits, channels } = this.info;
    const frameBytes = (bits / 8) * channels;
    const room = dataUnknownSize ? Infinity : Math.max(0, dataDeclared - this.present);
    this.present += chunk.length;
    // Bytes past the declared size (a trailing chunk such as LIST) are not samples.
    const usable = chunk.length > room ? chunk.subarray(0, room) : chunk;
    const bytes = this.partial.length ? concat(this.partial, usable) : usable;
    const frames = Math.floor(bytes.length / frameBytes);
    this.partial = bytes.slice(frames * frameBytes);
    if (frames === 0) return EMPTY;
    this.frames += frames;
    const { format, littleEndian } = this.info;
    return convert(bytes, frames, channels, { format, bits, le: littleEndian, pick: this.opts.channel });
  }

  /** The input is complete: throws for a cut-short or sample-less file; returns the format and duration. */
  end(): WavFormat & { frames: number; duration: number } {
    const info = this.info ?? parseWavHeader(this.head, true)!;
    const frameBytes = (info.bits / 8) * info.channels;
    if (!info.dataUnknownSize && info.dataDeclared - this.present > frameBytes) {
      throw new AudioDecodeError(
        'truncated',
        `WAV data chunk declares ${info.dataDeclared} bytes but only ${this.present} are present: the file is cut short or its header is wrong; upload the complete file`,
      );
    }
    if (this.frames === 0)
      throw new AudioDecodeError('empty', 'the WAV file contains no audio samples: send some audio');
    return { ...info, frames: this.frames, duration: this.frames / info.sampleRate };
  }
}

const EMPTY = new Float32Array(0);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Decodes a complete WAV file to mono float32 (its channels mixed, or only `channel`); AudioDecodeError for
 * anything malformed or unsupported.
 */
export function decodeWav(bytes: Uint8Array, channel?: number): DecodedAudio {
  const info = parseWavHeader(bytes)!;
  const frameBytes = (info.bits / 8) * info.channels;
  const present = bytes.length - info.dataStart;
  // Refuse a lying header before converting anything.
  if (!info.dataUnknownSize && info.dataDeclared - present > frameBytes) {
    throw new AudioDecodeError(
      'truncated',
      `WAV data chunk declares ${info.dataDeclared} bytes but only ${present} are present: the file is cut short or its header is wrong; upload the complete file`,
    );
  }
  const decoder = new WavStreamDecoder({ channel });
  const samples = decoder.push(bytes);
  const { sampleRate, channels, duration } = decoder.end();
  return { samples, sampleRate, channels, duration };
}

function alawToLinear(byte: number): number {
  const a = byte ^ 0x55;
  const exponent = (a >> 4) & 0x07;
  const mantissa = a & 0x0f;
  const magnitude = exponent === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  return a & 0x80 ? magnitude : -magnitude;
}

const ALAW_TABLE = Float32Array.from({ length: 256 }, (_, b) => alawToLinear(b) / 32768);

/** Interleaved samples to mono: a frame's channels summed and scaled once, or only channel `pick`. */
function convert(
  bytes: Uint8Array,
  frames: number,
  channels: number,
  { format, bits, le, pick }: { format: number; bits: number; le: boolean; pick?: number },
): Float32Array {
  const n = frames * channels;
  const view = new DataView(bytes.buffer, bytes.byteOffset, n * (bits / 8));
  const out = new Float32Array(frames);
  let read: (i: number) => number;
  let scale: number;
  if (format === FORMAT_FLOAT) {
    read = bits === 32 ? (i) => view.getFloat32(4 * i, le) : (i) => view.getFloat64(8 * i, le);
    scale = 1;
  } else if (format === FORMAT_MULAW || format === FORMAT_ALAW) {
    const table = format === FORMAT_MULAW ? MULAW_TABLE : ALAW_TABLE;
    read = (i) => table[view.getUint8(i)];
    scale = 1;
  } else if (bits === 8) {
    read = (i) => view.getUint8(i) - 128;
    scale = 1 / 128;
  } else if (bits === 16) {
    read = (i) => view.getInt16(2 * i, le);
    scale = 1 / 32768;
  } else if (bits === 24) {
    read = le
      ? (i) => ((view.getUint8(3 * i) | (view.getUint16(3 * i + 1, true) << 8)) << 8) >> 8
      : (i) => ((view.getUint8(3 * i + 2) | (view.getUint16(3 * i, false) << 8)) << 8) >> 8;
    scale = 1 / 8388608;
  } else {
    read = (i) => view.getInt32(4 * i, le);
    scale = 1 / 2147483648;
  }
  if (pick !== undefined) {
    for (let f = 0, i = pick; f < frames; f++, i += channels) out[f] = read(i) * scale;
  } else if (channels === 1) {
    for (let f = 0; f < frames; f++) out[f] = read(f) * scale;
  } else {
    scale /= channels;
    for (let f = 0, i = 0; f < frames; f++) {
      let acc = 0;
      for (let c = 0; c < channels; c++, i++) acc += read(i);
      out[f] = acc * scale;
    }
  }
  if (format === FORMAT_FLOAT) {
    for (let f = 0; f < frames; f++) {
      if (!Number.isFinite(out[f])) {
        throw new AudioDecodeError('not_audio', `float WAV contains NaN or Infinity samples: ${HINT}`);
      }
    }
  }
  return out;
}
