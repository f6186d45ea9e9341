import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from '../errors.js';

/** File-name suffix per dtype, as transformers.js names onnx-community variants. */
export const DTYPE_SUFFIX = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
} as const;
export type Dtype = keyof typeof DTYPE_SUFFIX;
export const DTYPES = Object.keys(DTYPE_SUFFIX) as Dtype[];

export function isDtype(s: string): s is Dtype {
  return Object.hasOwn(DTYPE_SUFFIX, s);
}

/** Either one dtype for both graphs or one per graph (e.g. q8 encoder, fp32 decoder). */
export type DtypeChoice = Dtype | { encoder: Dtype; decoder: Dtype };

export interface WhisperDims {
  dModel: number;
  encoderLayers: number;
  decoderLayers: number;
  decoderHeads: number;
  numMelBins: 80 | 128;
  vocabSize: number;
  maxSourcePositions: number;
  maxTargetPositions: number;
  medianFilterWidth: number;
}

/** Every special token id the decoder needs, read from the model's files (large-v3 shifts them by one). */
export interface SpecialIds {
  sot: number;
  eot: number;
  transcribe?: number;
  translate?: number;
  prevSot: number;
  noSpeech?: number;
  noTimestamps: number;
  timestampBegin: number;
  /** language code -> token id, in the model's order; empty for English-only models. */
  languages: Map<string, number>;
  isMultilingual: boolean;
  suppressTokens: number[];
  beginSuppressTokens: number[];
  alignmentHeads: [number, number][];
  maxInitialTimestampIndex: number | null;
}

export interface ModelDir {
  dir: string;
  dims: WhisperDims;
  ids: SpecialIds;
  tokenizerPath: string;
  encoderPath: string;
  decoderPath: string;
  encoderDtype: Dtype;
  decoderDtype: Dtype;
  /** Raw JSON, for callers that need a field not modelled here. */
  config: Record<string, unknown>;
  generation: Record<string, unknown>;
}

type Json = Record<string, unknown>;

function readJson(dir: string, name: string): Json {
  const path = join(dir, name);
  if (!existsSync(path)) {
    throw new ModelLoadError(
      `model directory ${dir} has no ${name}: it is not an onnx-community Whisper export (pass --model DIR with one, or --model synthetic:tiny)`,
      path,
    );
  }
  try {
    const value: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Json;
  } catch (err) {
    throw new ModelLoadError(
      `${path} is not valid JSON (${(err as Error).message}): re-download the model`,
      path,
    );
  }
}

function int(obj: Json, key: string, file: string, fallback?: number): number {
  const v = obj[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new ModelLoadError(`${file}: "${key}" must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function intList(v: unknown): number[] {
  return Array.isArray(v) ? v.filter((x): x is number => Number.isInteger(x)) : [];
}

function onnxFile(dir: string, base: string, dtype: Dtype): string {
  const path = join(dir, 'onnx', `${base}${DTYPE_SUFFIX[dtype]}.onnx`);
  if (!existsSync(path)) {
    const have = existsSync(join(dir, 'onnx'))
      ? DTYPES.filter((d) => existsSync(join(dir, 'onnx', `${base}${DTYPE_SUFFIX[d]}.onnx`)))
      : [];
    const hint = have.length ? `available dtypes: ${have.join(', ')}` : 'the directory has no onnx/ graphs';
    throw new ModelLoadError(`missing ${path} for dtype ${dtype} (${hint}); pass --dtype accordingly`, path);
  }
  if (statSync(path).size < 16)
    throw new ModelLoadError(`${path} is empty or truncated: re-download the model`, path);
  return path;
}

/** Reads and validates an onnx-community Whisper directory; never hard-codes a token id. */
export function readModelDir(dir: string, dtype: DtypeChoice = 'fp32'): ModelDir {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ModelLoadError(
      `model directory ${dir} does not exist (pass --model DIR, a model name, or synthetic:SIZE)`,
    );
  }
  const config = readJson(dir, 'config.json');
  const generation = readJson(dir, 'generation_config.json');
  readJson(dir, 'preprocessor_config.json');
  const tokenizerPath = join(dir, 'tokenizer.json');
  readJson(dir, 'tokenizer.json');
  if (config.model_type !== undefined && config.model_type !== 'whisper') {
    throw new ModelLoadError(
      `${dir}/config.json: model_type is "${String(config.model_type)}", not "whisper"`,
    );
  }
  const mels = int(config, 'num_mel_bins', 'config.json', 80);
  if (mels !== 80 && mels !== 128)
    throw new ModelLoadError(`config.json: num_mel_bins must be 80 or 128, got ${mels}`);
  const dims: WhisperDims = {
    dModel: int(config, 'd_model', 'config.json'),
    encoderLayers: int(config, 'encoder_layers', 'config.json'),
    decoderLayers: int(config, 'decoder_layers', 'config.json'),
    decoderHeads: int(config, 'decoder_attention_heads', 'config.json'),
    numMelBins: mels,
    vocabSize: int(config, 'vocab_size', 'config.json'),
    maxSourcePositions: int(config, 'max_source_positions', 'config.json', 1500),
    maxTargetPositions: int(config, 'max_target_positions', 'config.json', 448),
    medianFilterWidth: int(config, 'median_filter_width', 'config.json', 7),
  };
  const g = (k: string, fallback?: number) =>
    int(generation, k, 'generation_config.json', fallback ?? (config[k] as number));
  const noTimestamps = g('no_timestamps_token_id');
  const langToId = (generation.lang_to_id ?? {}) as Record<string, number>;
  const languages = new Map<string, number>();
  for (const [tok, id] of Object.entries(langToId).sort((a, b) => a[1] - b[1])) {
    languages.set(tok.replace(/^<\|/, '').replace(/\|>$/, ''), id);
  }
  const tasks = (generation.task_to_id ?? {}) as Record<string, number>;
  const heads = Array.isArray(generation.alignment_heads)
    ? (generation.alignment_heads as unknown[]).filter(
        (h): h is [number, number] => Array.isArray(h) && h.length === 2 && h.every(Number.isInteger),
      )
    : [];
  const isMultilingual =
    generation.is_multilingual === true || (generation.is_multilingual !== false && languages.size > 0);
  const ids: SpecialIds = {
    sot: g('decoder_start_token_id'),
    eot: g('eos_token_id'),
    transcribe: tasks.transcribe,
    translate: tasks.translate,
    prevSot: g('prev_sot_token_id', noTimestamps - 2),
    // HF names it <|nocaptions|> or <|nospeech|>; its place right before <|notimestamps|> is the same in every layout.
    noSpeech: noTimestamps - 1,
    noTimestamps,
    timestampBegin: noTimestamps + 1,
    languages,
    isMultilingual,
    suppressTokens: intList(generation.suppress_tokens ?? config.suppress_tokens),
    beginSuppressTokens: intList(generation.begin_suppress_tokens ?? config.begin_suppress_tokens),
    alignmentHeads: heads.length ? heads : defaultAlignmentHeads(dims),
    maxInitialTimestampIndex:
      typeof generation.max_initial_timestamp_index === 'number'
        ? generation.max_initial_timestamp_index
        : 50,
  };
  if (ids.timestampBegin + 1500 >= dims.vocabSize + 1) {
    throw new ModelLoadError(
      `generation_config.json: no_timestamps_token_id ${noTimestamps} leaves no room for 1501 timestamp tokens in a vocabulary of ${dims.vocabSize}`,
    );
  }
  if (isMultilingual && (ids.transcribe === undefined || languages.size === 0)) {
    throw new ModelLoadError('generation_config.json: a multilingual model needs lang_to_id and task_to_id');
  }
  const choice = typeof dtype === 'string' ? { encoder: dtype, decoder: dtype } : dtype;
  return {
    dir,
    dims,
    ids,
    tokenizerPath,
    encoderPath: onnxFile(dir, 'encoder_model', choice.encoder),
    decoderPath: onnxFile(dir, 'decoder_model_merged', choice.decoder),
    encoderDtype: choice.encoder,
    decoderDtype: choice.decoder,
    config,
    generation,
  };
}

/** openai's default when a model has none: every head of the upper half of the decoder. */
function defaultAlignmentHeads(d: WhisperDims): [number, number][] {
  const heads: [number, number][] = [];
  for (let l = Math.floor(d.decoderLayers / 2); l < d.decoderLayers; l++) {
    for (let h = 0; h < d.decoderHeads; h++) heads.push([l, h]);
  }
  return heads;
}
