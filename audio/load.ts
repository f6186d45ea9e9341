/**
 * One entry point for "here are some audio bytes": sniff the container, decode WAV in process, everything else
 * through ffmpeg, headerless PCM when the caller says what it is; always also return the 16 kHz mono signal.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AudioDecodeError } from './errors.js';
import { decodeFileWithFfmpeg, decodeWithFfmpeg, ffmpegAvailable, tooLong } from './ffmpeg.js';
import { SAMPLE_RATE } from './rate.js';
import { bytesPerSample, decodePcm, PcmDecoder, type Encoding } from './pcm.js';
import { resample, StreamingResampler } from './resample.js';
import {
  decodeWav,
  MAX_SAMPLE_RATE,
  MIN_SAMPLE_RATE,
  parseWavHeader,
  WavStreamDecoder,
  type DecodedAudio,
  type WavFormat,
} from './wav.js';

export type Container = 'wav' | 'mp3' | 'ogg' | 'flac' | 'webm' | 'mp4' | 'unknown';

export interface DecodeOptions {
  /** Encoding of headerless audio; used only when the bytes are not a recognised container. */
  rawEncoding?: Encoding;
  rawSampleRate?: number;
  /** Channels of headerless audio: 1 or 2 (mixed), up to 8 when `channel` picks one. */
  rawChannels?: number;
  /** Only this channel (0-based) instead of the mix of all (multichannel=true). */
  channel?: number;
  /** Limit for the ffmpeg path (default 120 s). */
  ffmpegTimeoutMs?: number;
  /**
   * Refuse ('too_long') audio longer than this: from the header when it says (before any sample is converted),
   * else as soon as decoding passes it. Default: ffmpeg's 3 h; WAV and raw PCM unlimited.
   */
  maxSeconds?: number;
  /** The input's whole size when known (a spooled upload): sizes the output once when a WAV does not say. */
  totalBytes?: number;
}

export type LoadedAudio = DecodedAudio & { samples16k: Float32Array };

function ascii(bytes: Uint8Array, at: number, length: number): string {
  if (bytes.length < at + length) return '';
  let s = '';
  for (let i = at; i < at + length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/** Identifies the container from its magic bytes. */
export function sniffContainer(bytes: Uint8Array): Container {
  const head4 = ascii(bytes, 0, 4);
  if (head4 === 'RIFF' || head4 === 'RIFX' || head4 === 'RF64') {
    // A RIFF too short to say its form type is still reported as wav so the WAV decoder can call it truncated.
    return bytes.length < 12 || ascii(bytes, 8, 4) === 'WAVE' ? 'wav' : 'unknown';
  }
  if (head4 === 'OggS') return 'ogg';
  if (head4 === 'fLaC') return 'flac';
  if (bytes.length >= 4 && bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) {
    return 'webm'; // EBML: WebM or Matroska
  }
  if (ascii(bytes, 4, 4) === 'ftyp') return 'mp4';
  if (ascii(bytes, 0, 3) === 'ID3') return 'mp3';
  // MPEG audio frame sync (11 bits) with a layer I/II/III; layer 0 is AAC ADTS, left to ffmpeg as unknown.
  if (bytes.length >= 2 && bytes[0] === 0xff && (bytes[1] & 0xe0) === 0xe0 && ((bytes[1] >> 1) & 3) !== 0) {
    return 'mp3';
  }
  return 'unknown';
}

function withSamples16k(audio: DecodedAudio): LoadedAudio {
  const samples16k =
    audio.sampleRate === SAMPLE_RATE ? audio.samples : resample(audio.samples, audio.sampleRate, SAMPLE_RATE);
  return { ...audio, samples16k };
}

function checkRawRate(encoding: Encoding, rate: number | undefined): number {
  if (rate === undefined) {
    throw new AudioDecodeError(
      'unsupported',
      `headerless ${encoding} audio needs its sample rate: pass sample_rate (${MIN_SAMPLE_RATE}..${MAX_SAMPLE_RATE})`,
    );
  }
  if (!Number.isInteger(rate) || rate < MIN_SAMPLE_RATE || rate > MAX_SAMPLE_RATE) {
    throw new AudioDecodeError(
      'unsupported',
      `sample rate ${rate} Hz is outside ${MIN_SAMPLE_RATE}..${MAX_SAMPLE_RATE} Hz: resample the audio`,
    );
  }
  return rate;
}

/** Refuses audio longer than the caller's limit, before decoding it. */
function checkLength(seconds: number, maxSeconds: number | undefined): void {
  if (maxSeconds !== undefined && seconds > maxSeconds) throw tooLong(maxSeconds, seconds);
}

/** Frames of a WAV's data chunk, from its header and, when that does not say, the input's size. */
export function wavFrames(f: WavFormat, totalBytes: number | undefined): number | undefined {
  const frameBytes = (f.bits / 8) * f.channels;
  if (!f.dataUnknownSize) {
    const present =
      totalBytes === undefined ? f.dataDeclared : Math.min(f.dataDeclared, totalBytes - f.dataStart);
    return Math.floor(present / frameBytes);
  }
  return totalBytes === undefined ? undefined : Math.floor((totalBytes - f.dataStart) / frameBytes);
}

function decodeRaw(
  bytes: Uint8Array,
  encoding: Encoding,
  rate: number | undefined,
  { channels, channel }: { channels: number; channel?: number },
  maxSeconds?: number,
): DecodedAudio {
  const sampleRate = checkRawRate(encoding, rate);
  checkLength(bytes.length / (bytesPerSample(encoding) * channels) / sampleRate, maxSeconds);
  const samples = decodePcm(bytes, { encoding, channels, channel });
  return { samples, sampleRate, channels, duration: samples.length / sampleRate };
}

const CONTAINER_HINT = 'send WAV, or mp3/ogg/flac/webm/mp4 audio';

/** Decodes audio bytes of any supported kind. */
export async function decodeAudio(bytes: Uint8Array, opts: DecodeOptions = {}): Promise<LoadedAudio> {
  if (bytes.length === 0)
    throw new AudioDecodeError('empty', 'the audio is empty (0 bytes): send some audio');
  const container = sniffContainer(bytes);
  const ffmpegOpts = { timeoutMs: opts.ffmpegTimeoutMs, maxSeconds: opts.maxSeconds, channel: opts.channel };

  if (container === 'wav') {
    try {
      const header = parseWavHeader(bytes);
      if (header) checkLength(wavFrames(header, bytes.length)! / header.sampleRate, opts.maxSeconds);
      return withSamples16k(decodeWav(bytes, opts.channel));
    } catch (err) {
      // Valid WAVs in encodings we do not convert ourselves (ADPCM, 96 kHz, ...) are ffmpeg's job when present.
      if (err instanceof AudioDecodeError && err.code === 'unsupported' && (await ffmpegAvailable())) {
        let viaFfmpeg: DecodedAudio;
        try {
          viaFfmpeg = await decodeWithFfmpeg(bytes, ffmpegOpts);
        } catch {
          throw err; // our message names the WAV's problem; ffmpeg's would not
        }
        return withSamples16k(viaFfmpeg);
      }
      throw err;
    }
  }
  if (container !== 'unknown') return withSamples16k(await decodeWithFfmpeg(bytes, ffmpegOpts));

  if (opts.rawEncoding) {
    const channels = opts.rawChannels ?? 1;
    return withSamples16k(
      decodeRaw(
        bytes,
        opts.rawEncoding,
        opts.rawSampleRate,
        { channels, channel: opts.channel },
        opts.maxSeconds,
      ),
    );
  }
  if (!(await ffmpegAvailable())) {
    throw new AudioDecodeError(
      'not_audio',
      `unrecognised audio format (and ffmpeg is not installed to probe it): ${CONTAINER_HINT}, or give encoding and sample_rate for raw PCM`,
    );
  }
  try {
    return withSamples16k(await decodeWithFfmpeg(bytes, ffmpegOpts));
  } catch (err) {
    if (err instanceof AudioDecodeError && err.code === 'ffmpeg_failed') {
      throw new AudioDecodeError('not_audio', `unrecognised audio format: ${CONTAINER_HINT}`, { cause: err });
    }
    throw err;
  }
}

/** A growable float32 array: one allocation when the final length is known up front. */
class SampleBuffer {
  private data: Float32Array;
  length = 0;

  constructor(expected: number) {
    this.data = new Float32Array(Math.max(1024, expected));
  }

  append(samples: Float32Array): void {
    if (this.length + samples.length > this.data.length) {
      const grown = new Float32Array(Math.max(this.data.length * 2, this.length + samples.length));
      grown.set(this.data.subarray(0, this.length));
      this.data = grown;
    }
    this.data.set(samples, this.length);
    this.length += samples.length;
  }

  /** The samples; a copy only when much of the buffer would be wasted. */
  take(): Float32Array {
    const used = this.data.subarray(0, this.length);
    return this.length < this.data.length * 0.9 ? used.slice() : used;
  }
}

/**
 * A decoder from the source's frames to 16 kHz as they arrive, so that neither the upload nor its
 * source-rate samples are ever held whole: only the 16 kHz result grows.
 */
class To16k {
  private readonly resampler: StreamingResampler | null;
  readonly out: SampleBuffer;

  constructor(
    readonly sampleRate: number,
    expectedFrames: number,
  ) {
    this.resampler = sampleRate === SAMPLE_RATE ? null : new StreamingResampler(sampleRate, SAMPLE_RATE);
    this.out = new SampleBuffer(Math.ceil((expectedFrames * SAMPLE_RATE) / sampleRate) + 64);
  }

  push(samples: Float32Array): void {
    if (samples.length) this.out.append(this.resampler ? this.resampler.push(samples) : samples);
  }

  finish(channels: number, frames: number): LoadedAudio {
    if (this.resampler) this.out.append(this.resampler.flush());
    const samples16k = this.out.take();
    // Only the 16 kHz signal is kept; `samples` is it too (callers of the stream path only need samples16k).
    return {
      samples: samples16k,
      sampleRate: SAMPLE_RATE,
      channels,
      duration: frames / this.sampleRate,
      samples16k,
    };
  }
}

/** Reads an async source until at least n bytes (or its end); returns them and the iterator to go on with. */
async function readHead(
  source: AsyncIterable<Uint8Array>,
  n: number,
): Promise<{ head: Uint8Array; rest: AsyncIterator<Uint8Array> }> {
  const rest = source[Symbol.asyncIterator]();
  const parts: Uint8Array[] = [];
  let size = 0;
  while (size < n) {
    const next = await rest.next();
    if (next.done) break;
    parts.push(next.value);
    size += next.value.length;
  }
  return { head: parts.length === 1 ? parts[0] : Buffer.concat(parts), rest };
}

async function* chain(first: Uint8Array, rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (first.length) yield first;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

async function collectAll(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

/**
 * decodeAudio for audio arriving in chunks (an upload): WAV and headerless PCM are converted to 16 kHz as they
 * arrive, so memory is the 16 kHz result, not the upload. Other containers are collected and go through ffmpeg.
 * An error from the source (client gone, body too large) propagates as is.
 */
export async function decodeAudioStream(
  source: AsyncIterable<Uint8Array>,
  opts: DecodeOptions = {},
): Promise<LoadedAudio> {
  const { head, rest } = await readHead(source, 12);
  if (head.length === 0) throw new AudioDecodeError('empty', 'the audio is empty (0 bytes): send some audio');
  const container = sniffContainer(head);
  const chunks = chain(head, rest);
  if (container === 'wav') return decodeWavStream(chunks, opts);
  if (container === 'unknown' && opts.rawEncoding) {
    const encoding = opts.rawEncoding;
    const rate = checkRawRate(encoding, opts.rawSampleRate);
    const channels = opts.rawChannels ?? 1;
    const frameBytes = bytesPerSample(encoding) * channels;
    const expected = opts.totalBytes === undefined ? 0 : Math.floor(opts.totalBytes / frameBytes);
    checkLength(expected / rate, opts.maxSeconds);
    const pcm = new PcmDecoder({ encoding, channels, channel: opts.channel });
    const out = new To16k(rate, expected);
    let frames = 0;
    for await (const chunk of chunks) {
      const samples = pcm.push(chunk);
      frames += samples.length;
      checkLength(frames / rate, opts.maxSeconds);
      out.push(samples);
    }
    return out.finish(channels, frames);
  }
  if (!(await ffmpegAvailable())) return decodeAudio(await collectAll(chunks), opts); // refused with the reason
  return decodeSpooled(chunks, container, opts);
}

/** A file through ffmpeg; an unrecognised container's failure says what to send instead. */
export async function decodeFileViaFfmpeg(
  path: string,
  container: Container,
  opts: DecodeOptions,
): Promise<LoadedAudio> {
  try {
    return withSamples16k(
      await decodeFileWithFfmpeg(path, {
        timeoutMs: opts.ffmpegTimeoutMs,
        maxSeconds: opts.maxSeconds,
        channel: opts.channel,
      }),
    );
  } catch (err) {
    if (container === 'unknown' && err instanceof AudioDecodeError && err.code === 'ffmpeg_failed') {
      throw new AudioDecodeError('not_audio', `unrecognised audio format: ${CONTAINER_HINT}`, { cause: err });
    }
    throw err;
  }
}

/**
 * Containers only ffmpeg reads are spooled to a temporary file as they arrive, so memory stays flat whatever the
 * upload's size, and ffmpeg can seek (MP4 keeps its index at the end). The file is gone when this returns.
 */
async function decodeSpooled(
  chunks: AsyncIterable<Uint8Array>,
  container: Container,
  opts: DecodeOptions,
): Promise<LoadedAudio> {
  const dir = await mkdtemp(join(tmpdir(), 'earshot-upload-'));
  try {
    const path = join(dir, 'upload');
    await pipeline(Readable.from(chunks), createWriteStream(path));
    return await decodeFileViaFfmpeg(path, container, opts);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function decodeWavStream(chunks: AsyncIterable<Uint8Array>, opts: DecodeOptions): Promise<LoadedAudio> {
  const wav = new WavStreamDecoder({ channel: opts.channel });
  let out: To16k | undefined;
  const it = chunks[Symbol.asyncIterator]();
  try {
    for (let next = await it.next(); !next.done; next = await it.next()) {
      const samples = wav.push(next.value);
      const f = wav.format;
      if (f && !out) {
        // Sized once from the header, or from the input's size when the header does not say (a streaming
        // writer's placeholder): growing by doubling would hold up to three times the audio at the end.
        const frames = wavFrames(f, opts.totalBytes);
        checkLength((frames ?? 0) / f.sampleRate, opts.maxSeconds);
        out = new To16k(f.sampleRate, frames ?? 0);
      }
      if (f && opts.maxSeconds !== undefined && wav.framesDecoded > opts.maxSeconds * f.sampleRate) {
        throw tooLong(opts.maxSeconds);
      }
      out?.push(samples);
    }
    const { channels, frames } = wav.end();
    return out!.finish(channels, frames);
  } catch (err) {
    // Encodings we do not convert ourselves (ADPCM, 96 kHz, ...) are refused from the header alone, before any
    // sample: ffmpeg gets the whole file when it is installed.
    if (err instanceof AudioDecodeError && err.code === 'unsupported' && !wav.format) {
      const whole = Buffer.concat([wav.headerBytes, await collectAll({ [Symbol.asyncIterator]: () => it })]);
      return decodeAudio(whole, opts);
    }
    throw err;
  }
}

const RAW_EXTENSIONS: Record<string, Encoding | undefined> = {
  '.raw': undefined,
  '.pcm': undefined,
  '.s16le': 'linear16',
  '.f32le': 'float32',
  '.ulaw': 'mulaw',
  '.mulaw': 'mulaw',
  '.ul': 'mulaw',
};

/**
 * Reads and decodes an audio file. Headerless files (.raw, .pcm, .s16le, .f32le, .ulaw) carry no rate, so they
 * need `rawSampleRate` (and for .raw/.pcm `rawEncoding`); without it the error says so.
 */
export async function loadAudioFile(path: string, opts: DecodeOptions = {}): Promise<LoadedAudio> {
  const ext = extname(path).toLowerCase();
  const bytes = await readFile(path);
  const data = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (ext in RAW_EXTENSIONS) {
    const encoding = opts.rawEncoding ?? RAW_EXTENSIONS[ext];
    if (!encoding || opts.rawSampleRate === undefined) {
      throw new AudioDecodeError(
        'unsupported',
        `${basename(path)} is headerless raw audio: give its ${encoding ? '' : 'encoding (linear16, float32, mulaw) and '}sample rate, or convert it to WAV`,
      );
    }
    if (data.length === 0) throw new AudioDecodeError('empty', `${basename(path)} is empty (0 bytes)`);
    const channels = { channels: opts.rawChannels ?? 1, channel: opts.channel };
    return withSamples16k(decodeRaw(data, encoding, opts.rawSampleRate, channels));
  }
  return decodeAudio(data, opts);
}
