/**
 * Uploads kept in a temporary file as they arrive: a request's fields can be checked, its length probed and its
 * budget charged before any decoding is paid for; then decoded to 16 kHz with the length cap enforced.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AudioDecodeError } from './errors.js';
import { ffmpegAvailable, probeChannels, probeDuration } from './ffmpeg.js';
import {
  decodeAudio,
  decodeAudioStream,
  decodeFileViaFfmpeg,
  sniffContainer,
  wavFrames,
  type Container,
  type DecodeOptions,
  type LoadedAudio,
} from './load.js';
import { bytesPerSample } from './pcm.js';
import { parseWavHeader, type WavFormat } from './wav.js';

/** An upload kept in a temporary file: its size and first bytes known, nothing decoded yet. */
export interface SpooledUpload {
  path: string;
  size: number;
  /** The first bytes (up to 64 KiB): what the container and a WAV header are read from. */
  head: Uint8Array;
  container: Container;
  /** Deletes the file (safe to call twice). */
  remove(): Promise<void>;
}

const HEAD_BYTES = 64 * 1024;

/**
 * Writes an upload to a temporary file as it arrives, decoding nothing: a request's fields can be checked, its
 * length probed and its budget charged before any decoding is paid for. An error from the source propagates
 * (the file is removed).
 */
export async function spoolUpload(source: AsyncIterable<Uint8Array>): Promise<SpooledUpload> {
  const dir = await mkdtemp(join(tmpdir(), 'earshot-upload-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  const path = join(dir, 'upload');
  const headParts: Uint8Array[] = [];
  let size = 0;
  let headSize = 0;
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const c of source) {
      if (headSize < HEAD_BYTES) {
        headParts.push(c.subarray(0, HEAD_BYTES - headSize));
        headSize += Math.min(c.length, HEAD_BYTES - headSize);
      }
      size += c.length;
      yield c;
    }
  }
  try {
    await pipeline(Readable.from(counted()), createWriteStream(path));
  } catch (err) {
    await remove();
    throw err;
  }
  const head = Buffer.concat(headParts);
  return { path, size, head, container: sniffContainer(head), remove };
}

/**
 * The upload's duration in seconds without decoding it: a WAV's header (or its size when the header leaves it
 * open), raw PCM's size, ffprobe for other containers; undefined when none can say.
 */
export async function probeUpload(
  upload: SpooledUpload,
  opts: DecodeOptions = {},
): Promise<number | undefined> {
  if (upload.size === 0) return undefined;
  if (upload.container === 'wav') {
    let header: WavFormat | undefined;
    try {
      header = parseWavHeader(upload.head, upload.size === upload.head.length);
    } catch {
      return undefined; // decoding says what is wrong
    }
    const frames = header && wavFrames(header, upload.size);
    return frames === undefined ? undefined : frames / header!.sampleRate;
  }
  if (upload.container === 'unknown' && opts.rawEncoding) {
    const rate = opts.rawSampleRate;
    if (!rate) return undefined;
    return upload.size / (bytesPerSample(opts.rawEncoding) * (opts.rawChannels ?? 1)) / rate;
  }
  return probeDuration(upload.path);
}

/**
 * How many channels the upload holds (multichannel=true decodes each on its own): a WAV's header, what the caller
 * says of raw PCM, ffprobe for other containers. Refused when none can say.
 */
export async function uploadChannels(upload: SpooledUpload, opts: DecodeOptions = {}): Promise<number> {
  let channels: number | undefined;
  if (upload.container === 'wav') {
    try {
      channels = parseWavHeader(upload.head, upload.size === upload.head.length)?.channels;
    } catch {
      return 1; // decoding says what is wrong
    }
  } else if (upload.container === 'unknown' && opts.rawEncoding) channels = opts.rawChannels ?? 1;
  // An empty upload is refused by decoding; a WAV whose header outgrows the head is ffprobe's.
  if (upload.size === 0) return 1;
  channels ??= await probeChannels(upload.path);
  if (channels === undefined) {
    throw new AudioDecodeError(
      'unsupported',
      'cannot tell how many channels the audio has (is ffprobe installed?): send WAV for multichannel=true',
    );
  }
  return channels;
}

/** Decodes a spooled upload to 16 kHz (opts.maxSeconds enforced); the caller removes the file. */
export async function decodeUpload(upload: SpooledUpload, opts: DecodeOptions = {}): Promise<LoadedAudio> {
  if (upload.size === 0) throw new AudioDecodeError('empty', 'the audio is empty (0 bytes): send some audio');
  const withSize = { ...opts, totalBytes: upload.size };
  const inProcess = upload.container === 'wav' || (upload.container === 'unknown' && opts.rawEncoding);
  if (inProcess) {
    return decodeAudioStream(createReadStream(upload.path, { highWaterMark: HEAD_BYTES }), withSize);
  }
  // Refused with the reason (ffmpeg missing, not audio), from the first bytes alone.
  if (!(await ffmpegAvailable())) return decodeAudio(upload.head, opts);
  return decodeFileViaFfmpeg(upload.path, upload.container, opts);
}
