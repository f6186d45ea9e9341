import { deflateSync } from 'node:zlib';
import { N_SAMPLES, SAMPLE_RATE } from '../../audio/logmel.js';
import { alignWords, estimateWords, FRAME_SECONDS, round, type Word } from './alignment.js';
import {
  decodeBatch,
  detectLanguage,
  type DecodeRequest,
  type DecodeResult,
  type DetectedLanguage,
} from './decode.js';
import { checkLanguage, validLanguages } from './languages.js';
import type { Task } from './tasks.js';
import { selectRows } from '../onnx/tensors.js';
import type { WhisperModel } from './runtime.js';
import type ort from 'onnxruntime-node';

export interface Segment {
  id: number;
  seek: number;
  start: number;
  end: number;
  text: string;
  tokens: number[];
  temperature: number;
  avg_logprob: number;
  compression_ratio: number;
  no_speech_prob: number;
  words?: Word[];
}

export interface DecodeOptions {
  /** Language code, or undefined / 'auto' / 'multi' to detect it (multilingual models). */
  language?: string;
  task?: Task;
  /** Initial prompt text (vocabulary, names: keyterms). */
  prompt?: string;
  /** Word-level timestamps (aligned when the model exports cross-attention, else estimated). */
  wordTimestamps?: boolean;
  /** Temperature fallback schedule; [0] disables fallback. */
  temperatures?: readonly number[];
  compressionRatioThreshold?: number;
  logprobThreshold?: number;
  noSpeechThreshold?: number;
  maxNewTokens?: number;
}

export const DEFAULT_TEMPERATURES = [0, 0.2, 0.4, 0.6, 0.8, 1.0] as const;

export interface WindowInput {
  /** 16 kHz mono, at most 30 s. */
  audio: Float32Array;
  /** Seconds added to every time in the result. */
  offset: number;
  /** Previous-text tokens to condition on. */
  promptTokens?: readonly number[];
  /** Overrides DecodeOptions.language for this window (sessions in one batch may differ). */
  language?: string;
  /** Overrides DecodeOptions.temperatures for this window: a final's fallback and an interim's single pass share calls. */
  temperatures?: readonly number[];
  /** Overrides DecodeOptions.task for this window: each row of a batch gets its own task token. */
  task?: Task;
}

export interface WindowResult {
  segments: Segment[];
  language: string;
  /** The language pass's answer when this window's language was detected (none was given). */
  detected?: DetectedLanguage;
  /** The decode that was kept (after fallback). */
  decode: DecodeResult;
  compressionRatio: number;
  /** Judged silence: no_speech_prob above threshold and avg_logprob below threshold. */
  silent: boolean;
  /** Seconds of the window the segments account for (openai's seek advance). */
  consumed: number;
}

export function compressionRatio(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return 0;
  return bytes.length / deflateSync(bytes).length;
}

/**
 * Decodes independent windows together: one encoder call, one lockstep decoder batch, then temperature fallback
 * for the windows that failed openai's checks, batched again. Used by file transcription and by the streaming
 * scheduler alike.
 */
export async function decodeWindows(
  model: WhisperModel,
  windows: readonly WindowInput[],
  opts: DecodeOptions = {},
): Promise<WindowResult[]> {
  if (windows.length === 0) return [];
  for (const w of windows) {
    if (w.audio.length > N_SAMPLES)
      throw new Error(`a window holds at most 30 s, got ${w.audio.length / SAMPLE_RATE} s`);
  }
  const hidden = await model.encode(windows.map((w) => model.features(w.audio)));
  const { languages, detected } = await resolveLanguages(
    model,
    hidden,
    windows.map((w) => w.language ?? opts.language),
  );
  const basePrompt = opts.prompt ? model.tokenizer.encode(' ' + opts.prompt.trim()) : [];
  const schedules = windows.map((w) => {
    const t = w.temperatures ?? opts.temperatures ?? DEFAULT_TEMPERATURES;
    return t.length > 0 ? t : [0];
  });
  const crThreshold = opts.compressionRatioThreshold ?? 2.4;
  const lpThreshold = opts.logprobThreshold ?? -1;
  const nsThreshold = opts.noSpeechThreshold ?? 0.6;
  const results: (WindowResult | undefined)[] = new Array(windows.length);
  let pending = windows.map((_, i) => i);
  for (let ti = 0; pending.length > 0; ti++) {
    const requests: DecodeRequest[] = pending.map((i) => ({
      language: languages[i],
      task: windows[i].task ?? opts.task,
      timestamps: true,
      promptTokens: [...basePrompt, ...(windows[i].promptTokens ?? [])],
      temperature: schedules[i][ti],
      seed: i + 1,
      maxNewTokens: opts.maxNewTokens,
      alignment: opts.wordTimestamps && model.hasCrossAttentions,
    }));
    const rows = pending.length === windows.length ? hidden : selectRows(hidden, pending);
    const decoded = await decodeBatch(model, rows, requests);
    const retry: number[] = [];
    decoded.forEach((d, k) => {
      const i = pending[k];
      const text = model.tokenizer.decode(d.tokens.filter((t) => t < model.ids.eot));
      const cr = compressionRatio(text);
      const silent = d.noSpeechProb > nsThreshold && d.avgLogprob < lpThreshold;
      const failed = cr > crThreshold || d.avgLogprob < lpThreshold;
      const last = ti === schedules[i].length - 1;
      if (failed && !silent && !last) {
        retry.push(i);
        // Keep the best so far in case every temperature fails.
        if (!results[i] || d.avgLogprob > results[i]!.decode.avgLogprob)
          results[i] = { ...toResult(model, windows[i], d, cr, silent, opts), detected: detected[i] };
        return;
      }
      results[i] = { ...toResult(model, windows[i], d, cr, silent, opts), detected: detected[i] };
    });
    pending = retry;
  }
  return results as WindowResult[];
}

/** Each window's language: the one asked for, else detected (English-only models: always English, certain). */
async function resolveLanguages(
  model: WhisperModel,
  hidden: ort.Tensor,
  wanted: (string | undefined)[],
): Promise<{ languages: (string | undefined)[]; detected: (DetectedLanguage | undefined)[] }> {
  const valid = validLanguages(model.ids);
  const codes = wanted.map((l) => checkLanguage(l, valid));
  const detected: (DetectedLanguage | undefined)[] = wanted.map(() => undefined);
  const detect = codes.map((l, i) => (l === undefined ? i : -1)).filter((i) => i >= 0);
  if (!model.ids.isMultilingual) {
    for (const i of detect)
      detected[i] = { language: 'en', probability: 1, probabilities: new Map([['en', 1]]) };
    return { languages: wanted.map(() => undefined), detected };
  }
  if (detect.length === 0) return { languages: codes, detected };
  const found = await detectLanguage(
    model,
    detect.length === wanted.length ? hidden : selectRows(hidden, detect),
  );
  const out = [...codes];
  detect.forEach((i, k) => {
    out[i] = found[k].language;
    detected[i] = found[k];
  });
  return { languages: out, detected };
}

/**
 * One language for several windows that were each detected: their distributions averaged, weighted by the
 * windows' lengths; the language with the highest mean probability, and that probability.
 */
export function pooledLanguage(
  windows: readonly { detected?: DetectedLanguage; seconds: number }[],
): { language: string; probability: number } | undefined {
  const sum = new Map<string, number>();
  let weight = 0;
  for (const w of windows) {
    if (!w.detected) continue;
    const seconds = Math.max(w.seconds, 1e-3);
    weight += seconds;
    for (const [code, p] of w.detected.probabilities) sum.set(code, (sum.get(code) ?? 0) + p * seconds);
  }
  let best: { language: string; probability: number } | undefined;
  for (const [language, total] of sum) {
    if (!best || total / weight > best.probability) best = { language, probability: total / weight };
  }
  return best;
}

function toResult(
  model: WhisperModel,
  w: WindowInput,
  d: DecodeResult,
  cr: number,
  silent: boolean,
  opts: DecodeOptions,
): WindowResult {
  const duration = w.audio.length / SAMPLE_RATE;
  const { slices, consumed } = splitSegments(d.tokens, model.ids.timestampBegin, duration);
  const aligned =
    opts.wordTimestamps && !silent && d.attention && d.attention.length > d.promptLength
      ? alignWords({
          tokenizer: model.tokenizer,
          tokens: d.tokens,
          probs: d.tokenProbs,
          attention: d.attention,
          promptLength: d.promptLength,
          heads: model.ids.alignmentHeads.length,
          frames: Math.ceil(duration / FRAME_SECONDS),
          timestampBegin: model.ids.timestampBegin,
          medianFilterWidth: model.dims.medianFilterWidth,
          offset: w.offset,
        })
      : undefined;
  // One text stream over the window: a character split across a segment boundary belongs to the later segment.
  const text = model.tokenizer.textStream();
  const segments: Segment[] = silent
    ? []
    : slices
        .map(({ from, to, start, end }) => {
          const tokens = d.tokens.slice(from, to);
          const textTokens = tokens.filter((t) => t < model.ids.eot);
          const seg: Segment = {
            id: 0,
            seek: Math.round(w.offset * 100),
            start: round(w.offset + start),
            end: round(w.offset + end),
            text: textTokens.map((t) => text.push(t)).join(''),
            tokens: textTokens,
            temperature: d.temperature,
            avg_logprob: d.avgLogprob,
            compression_ratio: cr,
            no_speech_prob: d.noSpeechProb,
          };
          if (opts.wordTimestamps) {
            const probs = tokens
              .map((_, j) => d.tokenProbs[from + j])
              .filter((_, j) => tokens[j] < model.ids.eot);
            seg.words = aligned
              ? aligned
                  .filter((wd) => wd.index >= from && wd.index < to)
                  .map(({ index: _, ...wd }) => ({
                    ...wd,
                    // DTW may run a word past its segment's closing timestamp; the segment is authoritative.
                    start: Math.min(Math.max(wd.start, seg.start), seg.end),
                    end: Math.min(Math.max(wd.end, seg.start), seg.end),
                  }))
              : estimateWords(model.tokenizer, textTokens, probs, seg.start, seg.end);
          }
          return seg;
        })
        .filter((s) => s.text.trim().length > 0);
  return { segments, language: d.language ?? 'en', decode: d, compressionRatio: cr, silent, consumed };
}

/**
 * openai's segment split: consecutive timestamp pairs close a segment; a single trailing timestamp means the last
 * segment is complete and the whole window is consumed, otherwise the seek advances to the last closed pair.
 * Times are clamped to the window: the model sees it padded to 30 s and may name a timestamp past its audio
 * (random weights always do), which would put a segment after the end of the file or after the next window.
 */
export function splitSegments(
  tokens: readonly number[],
  tsBegin: number,
  duration: number,
): { slices: { from: number; to: number; start: number; end: number }[]; consumed: number } {
  const isTs = (t: number) => t >= tsBegin;
  const time = (t: number) => Math.min((t - tsBegin) * FRAME_SECONDS, duration);
  const n = tokens.length;
  const singleEnding = n >= 2 && !isTs(tokens[n - 2]) && isTs(tokens[n - 1]);
  const cuts: number[] = [];
  for (let i = 1; i < n; i++) if (isTs(tokens[i]) && isTs(tokens[i - 1])) cuts.push(i);
  if (cuts.length === 0) {
    const ts = tokens.filter(isTs);
    let end = duration;
    if (ts.length > 0 && ts[ts.length - 1] !== tsBegin) end = time(ts[ts.length - 1]);
    return { slices: n ? [{ from: 0, to: n, start: 0, end }] : [], consumed: duration };
  }
  if (singleEnding) cuts.push(n);
  const slices: { from: number; to: number; start: number; end: number }[] = [];
  let last = 0;
  for (const cut of cuts) {
    const seg = tokens.slice(last, cut);
    slices.push({ from: last, to: cut, start: time(seg[0]), end: time(seg[seg.length - 1]) });
    last = cut;
  }
  // Without a single trailing timestamp, tokens after the last closed pair are re-decoded from the next seek.
  const consumed = singleEnding ? duration : time(tokens[last - 1]);
  return { slices, consumed };
}

export interface Transcript {
  text: string;
  language: string;
  /** When the language was detected: the probability of it (pooledLanguage); absent when it was given. */
  languageProbability?: number;
  duration: number;
  segments: Segment[];
  words?: Word[];
}

export interface TranscribeOptions extends DecodeOptions {
  /** Condition each window on the previous one's text (openai's default; off makes windows independent). */
  conditionOnPreviousText?: boolean;
  /**
   * Batched mode (faster-whisper's BatchedInferencePipeline): cut the audio into independent windows of at most
   * 30 s and decode up to this many together. 1 (default) is openai's sequential seek loop.
   */
  batchSize?: number;
  /** Batched mode: the windows, in seconds (e.g. speech regions from VAD); default: consecutive 30-s windows. */
  windows?: readonly { start: number; end: number }[];
}

export type WindowDecoder = (windows: readonly WindowInput[], opts: DecodeOptions) => Promise<WindowResult[]>;

/**
 * Long-form transcription. Sequential mode is openai's seek loop over 30-s windows, each conditioned on the text
 * before it; batched mode decodes independent windows together, which is several times faster where the decoder
 * batches (see bench/engine.ts).
 */
export function transcribe(
  model: WhisperModel,
  audio: Float32Array,
  opts: TranscribeOptions = {},
): Promise<Transcript> {
  return transcribeWith((w, o) => decodeWindows(model, w, o), audio, opts);
}

/** transcribe() with the windows decoded by `decode`: a server routes them through its shared scheduler. */
export async function transcribeWith(
  decode: WindowDecoder,
  audio: Float32Array,
  opts: TranscribeOptions = {},
): Promise<Transcript> {
  const segments =
    (opts.batchSize ?? 1) > 1 || opts.windows
      ? await batched(audio, opts, decode)
      : await sequential(audio, opts, decode);
  const { language, detected } = segments;
  const list = segments.list.map((s, id) => ({ ...s, id }));
  return {
    text: list.map((s) => s.text).join(''),
    language: detected?.language ?? language ?? 'en',
    languageProbability: detected?.probability,
    duration: round(audio.length / SAMPLE_RATE),
    segments: list,
    words: opts.wordTimestamps ? list.flatMap((s) => s.words ?? []) : undefined,
  };
}

async function sequential(
  audio: Float32Array,
  opts: TranscribeOptions,
  decode: WindowDecoder,
): Promise<Decoded> {
  const list: Segment[] = [];
  let detected: Decoded['detected'];
  let seek = 0;
  let language = checkLanguage(opts.language);
  let context: number[] = [];
  const condition = opts.conditionOnPreviousText ?? true;
  while (seek < audio.length) {
    const window = audio.subarray(seek, Math.min(seek + N_SAMPLES, audio.length));
    if (window.length < SAMPLE_RATE * 0.02) break;
    const [r] = await decode([{ audio: window, offset: seek / SAMPLE_RATE, promptTokens: context }], {
      ...opts,
      language,
    });
    language ??= r.language;
    // Only the first window is detected; the rest are decoded in its language.
    if (r.detected && !detected) detected = { language: r.language, probability: r.detected.probability };
    list.push(...r.segments);
    if (condition && r.decode.temperature <= 0.5) {
      context = [...context, ...r.segments.flatMap((s) => s.tokens)].slice(-223);
    } else context = [];
    const advance = Math.round((r.consumed > 0 ? r.consumed : window.length / SAMPLE_RATE) * SAMPLE_RATE);
    seek += Math.max(advance, SAMPLE_RATE * FRAME_SECONDS);
  }
  return { list, language, detected };
}

interface Decoded {
  list: Segment[];
  language?: string;
  detected?: { language: string; probability: number };
}

async function batched(
  audio: Float32Array,
  opts: TranscribeOptions,
  decode: WindowDecoder,
): Promise<Decoded> {
  const duration = audio.length / SAMPLE_RATE;
  const spans =
    opts.windows ??
    Array.from({ length: Math.ceil(duration / 30) }, (_, i) => ({
      start: i * 30,
      end: Math.min(duration, i * 30 + 30),
    }));
  const windows: WindowInput[] = spans
    .filter((w) => w.end - w.start >= 0.02)
    .map((w) => {
      const a = Math.round(w.start * SAMPLE_RATE);
      return {
        audio: audio.subarray(a, Math.min(audio.length, a + N_SAMPLES, Math.round(w.end * SAMPLE_RATE))),
        offset: w.start,
      };
    });
  const size = Math.max(1, opts.batchSize ?? 8);
  const list: Segment[] = [];
  const detections: { detected?: DetectedLanguage; seconds: number }[] = [];
  let language: string | undefined;
  for (let i = 0; i < windows.length; i += size) {
    const batch = windows.slice(i, i + size);
    const results = await decode(batch, opts);
    results.forEach((r, k) => {
      language ??= r.language;
      list.push(...r.segments);
      detections.push({ detected: r.detected, seconds: batch[k].audio.length / SAMPLE_RATE });
    });
  }
  return { list, language, detected: pooledLanguage(detections) };
}
