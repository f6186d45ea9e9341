/**
 * Decoding of compressed containers (mp3, ogg, flac, webm, mp4, ...) through an ffmpeg child process:
 * bytes on stdin, mono float32 at 16 kHz on stdout. Bounded in time and in output size so a hostile or broken
 * upload cannot hang a request or exhaust memory. EARSHOT_FFMPEG overrides the binary (default `ffmpeg` on PATH).
 * It is looked up when first needed and again after 30 s, so installing ffmpeg needs no restart.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AudioDecodeError } from './errors.js';
import type { DecodedAudio } from './wav.js';
import { SAMPLE_RATE } from './rate.js';

const DEFAULT_TIMEOUT_MS = 120_000;
/** 3 hours of 16 kHz float32 ≈ 690 MB is the most a single decode may produce by default. */
const DEFAULT_MAX_SECONDS = 3 * 3600;
const STDERR_KEEP = 4096;

function ffmpegBinary(): string {
  return process.env.EARSHOT_FFMPEG || 'ffmpeg';
}

const MISSING_MESSAGE =
  'decoding this audio format needs ffmpeg, which is not installed: install ffmpeg (apt-get install ffmpeg) or send WAV';

/** How long a lookup's answer holds: installing ffmpeg needs no restart, and a burst of uploads costs one probe. */
const LOOKUP_TTL_MS = 30_000;
const lookups = new Map<string, { at: number; available: Promise<boolean> }>();

function probe(binary: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    try {
      const child = spawn(binary, ['-hide_banner', '-version'], { stdio: 'ignore' });
      child.once('error', () => resolve(false));
      child.once('close', (code) => resolve(code === 0));
    } catch {
      resolve(false);
    }
  });
}

/** Whether ffmpeg can be started: looked up when needed, the answer kept for 30 s per binary. */
export function ffmpegAvailable(): Promise<boolean> {
  const binary = ffmpegBinary();
  const now = Date.now();
  const known = lookups.get(binary);
  if (known && now - known.at < LOOKUP_TTL_MS) return known.available;
  const available = probe(binary);
  lookups.set(binary, { at: now, available });
  return available;
}

export interface FfmpegOptions {
  /** Kill ffmpeg and fail after this long (default 120 s). */
  timeoutMs?: number;
  /**
   * Refuse audio that decodes to more than this many seconds (default 3 h). ffmpeg is told to stop (-t) just past
   * it, so a long file costs the limit's worth of decoding, not its whole length.
   */
  maxSeconds?: number;
  /** Only this channel (0-based) instead of the mix of all (multichannel=true). */
  channel?: number;
}

/** MP4/MOV files often keep their index (moov) at the end, which ffmpeg cannot reach through a pipe. */
function needsSeekableInput(bytes: Uint8Array): boolean {
  return bytes.length >= 12 && String.fromCharCode(bytes[4], bytes[5], bytes[6], bytes[7]) === 'ftyp';
}

/** Decodes any container ffmpeg understands to mono float32 at 16 kHz. */
export async function decodeWithFfmpeg(bytes: Uint8Array, opts: FfmpegOptions = {}): Promise<DecodedAudio> {
  if (bytes.length === 0)
    throw new AudioDecodeError('empty', 'the audio is empty (0 bytes): send some audio');
  if (!(await ffmpegAvailable())) throw new AudioDecodeError('ffmpeg_missing', MISSING_MESSAGE);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxSeconds = opts.maxSeconds ?? DEFAULT_MAX_SECONDS;

  let tempDir: string | undefined;
  let input = 'pipe:0';
  if (needsSeekableInput(bytes)) {
    tempDir = await mkdtemp(join(tmpdir(), 'earshot-ffmpeg-'));
    input = join(tempDir, 'input');
    await writeFile(input, bytes);
  }
  try {
    const samples = await runFfmpeg(
      input === 'pipe:0' ? bytes : null,
      input,
      timeoutMs,
      maxSeconds,
      opts.channel,
    );
    for (let i = 0; i < samples.length; i++) {
      if (!Number.isFinite(samples[i])) samples[i] = 0;
    }
    return { samples, sampleRate: SAMPLE_RATE, channels: 1, duration: samples.length / SAMPLE_RATE };
  } finally {
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  }
}

/** Decodes a file on disk (seekable, so every container works); the caller owns the file. */
export async function decodeFileWithFfmpeg(path: string, opts: FfmpegOptions = {}): Promise<DecodedAudio> {
  if (!(await ffmpegAvailable())) throw new AudioDecodeError('ffmpeg_missing', MISSING_MESSAGE);
  const maxSeconds = opts.maxSeconds ?? DEFAULT_MAX_SECONDS;
  const samples = await runFfmpeg(null, path, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, maxSeconds, opts.channel);
  for (let i = 0; i < samples.length; i++) if (!Number.isFinite(samples[i])) samples[i] = 0;
  return { samples, sampleRate: SAMPLE_RATE, channels: 1, duration: samples.length / SAMPLE_RATE };
}

/** The one message for audio past a length limit, whichever decoder found it. */
export function tooLong(maxSeconds: number, seconds?: number): AudioDecodeError {
  const lasts = seconds === undefined ? 'is longer than' : `lasts ${seconds.toFixed(1)} s, more than`;
  return new AudioDecodeError(
    'too_long',
    `the audio ${lasts} the ${maxSeconds} s this server decodes per file: split it into shorter files`,
    { seconds },
  );
}

/**
 * The duration ffprobe reads from a file's header (seconds), or undefined when it cannot say (no ffprobe, no
 * duration in the container). An estimate for some formats (mp3 without a Xing header): decoding enforces limits.
 */
export function probeDuration(path: string, timeoutMs = 10_000): Promise<number | undefined> {
  return ffprobeNumber(path, ['-show_entries', 'format=duration'], timeoutMs);
}

/** The channel count of a file's first audio stream, or undefined when ffprobe cannot say. */
export function probeChannels(path: string, timeoutMs = 10_000): Promise<number | undefined> {
  return ffprobeNumber(path, ['-select_streams', 'a:0', '-show_entries', 'stream=channels'], timeoutMs);
}

function ffprobeNumber(path: string, entries: string[], timeoutMs: number): Promise<number | undefined> {
  const binary = process.env.EARSHOT_FFPROBE || 'ffprobe';
  const args = ['-v', 'error', ...entries, '-of', 'default=nw=1:nk=1', path];
  return new Promise((resolve) => {
    let out = '';
    let child;
    try {
      child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'ignore'], timeout: timeoutMs });
    } catch {
      return resolve(undefined);
    }
    child.once('error', () => resolve(undefined));
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.once('close', (code) => {
      const value = Number(out.trim().split('\n')[0]);
      resolve(code === 0 && out.trim() !== '' && Number.isFinite(value) ? value : undefined);
    });
  });
}

function runFfmpeg(
  stdin: Uint8Array | null,
  input: string,
  timeoutMs: number,
  maxSeconds: number,
  channel?: number,
): Promise<Float32Array> {
  const maxBytes = Math.floor(maxSeconds * SAMPLE_RATE) * 4;
  // One second past the limit: enough to tell "longer than the limit" from "exactly the limit".
  const stopAt = String(maxSeconds + 1);
  const args = [
    ...['-hide_banner', '-loglevel', 'error', ...(stdin ? [] : ['-nostdin']), '-i', input],
    ...['-vn', '-t', stopAt, ...(channel === undefined ? [] : ['-af', `pan=mono|c0=c${channel}`])],
    ...['-f', 'f32le', '-ac', '1', '-ar', String(SAMPLE_RATE), 'pipe:1'],
  ];
  return new Promise<Float32Array>((resolve, reject) => {
    const child = spawn(ffmpegBinary(), args, { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let outBytes = 0;
    let stderr = '';
    let failure: AudioDecodeError | undefined;
    let settled = false;

    const fail = (err: AudioDecodeError) => {
      failure ??= err;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(
      () =>
        fail(
          new AudioDecodeError(
            'ffmpeg_failed',
            `ffmpeg did not finish decoding within ${timeoutMs / 1000} s: send a shorter file or WAV`,
          ),
        ),
      timeoutMs,
    );

    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      reject(
        err.code === 'ENOENT'
          ? new AudioDecodeError('ffmpeg_missing', MISSING_MESSAGE, { cause: err })
          : new AudioDecodeError('ffmpeg_failed', `could not start ffmpeg: ${err.message}`, { cause: err }),
      );
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxBytes) {
        fail(tooLong(maxSeconds));
        return;
      }
      if (!failure) chunks.push(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP);
    });
    if (stdin && child.stdin) {
      // ffmpeg may stop reading early (garbage input, or it has seen enough); EPIPE is then expected.
      child.stdin.on('error', () => {});
      child.stdin.end(stdin);
    }
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      if (failure) return reject(failure);
      if (code !== 0) {
        const detail = stderr.trim().split('\n').pop()?.trim() || `exit ${code ?? signal}`;
        if (
          /Invalid data found|could not find codec|does not contain any stream|Invalid argument/i.test(stderr)
        ) {
          return reject(
            new AudioDecodeError(
              'not_audio',
              `ffmpeg could not read the input as audio (${detail}): send WAV, mp3, ogg, flac, webm or mp4 audio`,
            ),
          );
        }
        return reject(new AudioDecodeError('ffmpeg_failed', `ffmpeg failed to decode the audio: ${detail}`));
      }
      const samples = new Float32Array(outBytes >> 2);
      if (samples.length === 0) {
        return reject(new AudioDecodeError('empty', 'the file decodes to no audio samples: send some audio'));
      }
      // Copy into a fresh (aligned) buffer; a trailing partial float, if any, is dropped.
      const target = new Uint8Array(samples.buffer);
      let at = 0;
      for (const chunk of chunks) {
        const take = Math.min(chunk.length, target.length - at);
        target.set(chunk.subarray(0, take), at);
        at += take;
      }
      resolve(samples);
    });
  });
}
