// synthesizeWhisper: writes a Whisper-architecture model with deterministic pseudo-random weights in the exact
// onnx-community layout (side JSON files + onnx/encoder_model{sfx}.onnx + onnx/decoder_model_merged{sfx}.onnx).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Graph, writeModel } from '../onnx/graph.js';
import { buildDecoder } from './decoder.js';
import { buildEncoder } from './encoder.js';
import { SynthError } from './errors.js';
import type { ArchSpec } from './layers.js';
import { planScript } from './script.js';
import {
  configJson,
  generationConfigJson,
  preprocessorConfigJson,
  suppressTokens,
  tokenizerConfigJson,
  tokenizerJson,
} from './sidefiles.js';
import { convertToFp16, float16Io, quantizeMatMulsQ8 } from './variants.js';
import { BpeTokenizer, buildVocab } from './vocab.js';
import type { ExtraDecoderInput } from './layers.js';
import { randomWeights, scriptedWeights } from './weights.js';

export { SynthError } from './errors.js';

/**
 * Generator version, stored in config.json ("earshot_synth".generator): bump it whenever the files for the same
 * options change, so caches built by an older generator are rebuilt (models/resolve.ts).
 * 3: random models end their windows at a realistic length (pacing.ts; 2 counted the prompt's special tokens).
 * 4: q8 weights are 7-bit (reduce_range), so they track fp32 on CPUs without VNNI too.
 */
export const SYNTH_GENERATOR_VERSION = 4;

export type SynthSize = 'micro' | 'tiny' | 'base' | 'small';
export type SynthDtype = 'fp32' | 'q8' | 'fp16';

export interface SynthOptions {
  size: SynthSize;
  /** Default 1; the same options and seed give byte-identical files. */
  seed?: number;
  /** Add cross_attentions.{i} decoder outputs (like the *_timestamped repos). */
  timestamped?: boolean;
  /** Declare optional decoder inputs that some exports have, to test runtimes against them. */
  extraInputs?: ExtraDecoderInput[];
  /** float16 graph IO (features, hidden states, KV caches, logits), as exports without keep_io_types have. */
  float16Io?: boolean;
  /** ONNX variants to write; default ['fp32']. q8 => *_quantized.onnx, fp16 => *_fp16.onnx. */
  dtypes?: SynthDtype[];
  /** Scripted model: says this transcript whatever the audio, e.g. "<|0.00|> hello world<|1.00|>". */
  script?: string;
  /**
   * small: byte tokens + merged word tokens + specials + 1501 timestamps; real: the real id layout (51865
   * multilingual / 51864 .en / 51866 with mels 128). Default: 'small' for micro, 'real' for the real sizes
   * (the LM head is a large part of a real model's decoding cost).
   */
  vocab?: 'small' | 'real';
  /** Default true (language + task tokens); false => English-only (.en) layout. */
  multilingual?: boolean;
  /** Default 80; 128 => large-v3 style (100 languages, `<|nospeech|>`, every later special id shifted by one). */
  mels?: 80 | 128;
}

export const SYNTH_DIMS: Record<
  SynthSize,
  { dModel: number; encoderLayers: number; decoderLayers: number; heads: number; ffn: number }
> = {
  micro: { dModel: 64, encoderLayers: 2, decoderLayers: 2, heads: 4, ffn: 256 },
  tiny: { dModel: 384, encoderLayers: 4, decoderLayers: 4, heads: 6, ffn: 1536 },
  base: { dModel: 512, encoderLayers: 6, decoderLayers: 6, heads: 8, ffn: 2048 },
  small: { dModel: 768, encoderLayers: 12, decoderLayers: 12, heads: 12, ffn: 3072 },
};

const DTYPE_SUFFIX: Record<SynthDtype, string> = { fp32: '', q8: '_quantized', fp16: '_fp16' };

function checkOptions(opts: SynthOptions): void {
  if (!(opts.size in SYNTH_DIMS)) {
    throw new SynthError(
      `unknown synthetic model size "${opts.size}"; use one of ${Object.keys(SYNTH_DIMS).join(', ')}`,
    );
  }
  if (opts.seed !== undefined && !(Number.isInteger(opts.seed) && opts.seed >= 0 && opts.seed < 2 ** 32)) {
    throw new SynthError(`seed must be an integer in [0, 2^32), got ${opts.seed}`);
  }
  for (const d of opts.dtypes ?? []) {
    if (!(d in DTYPE_SUFFIX)) throw new SynthError(`unknown dtype "${d}"; use fp32, q8 or fp16`);
  }
  if (opts.mels !== undefined && opts.mels !== 80 && opts.mels !== 128) {
    throw new SynthError(`mels must be 80 or 128, got ${opts.mels}`);
  }
  if (opts.vocab !== undefined && opts.vocab !== 'small' && opts.vocab !== 'real') {
    throw new SynthError(`vocab must be "small" or "real", got ${opts.vocab}`);
  }
}

function writeJson(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

export async function synthesizeWhisper(outDir: string, opts: SynthOptions): Promise<void> {
  checkOptions(opts);
  const seed = opts.seed ?? 1;
  const mels = opts.mels ?? 80;
  const multilingual = opts.multilingual ?? true;
  const vocabKind = opts.vocab ?? (opts.size === 'micro' ? 'small' : 'real');
  const dtypes: SynthDtype[] = [...new Set(opts.dtypes ?? ['fp32' as const])];
  const vocab = buildVocab({ kind: vocabKind, multilingual, v3: mels === 128 });
  const tok = new BpeTokenizer(vocab);
  const spec: ArchSpec = {
    ...SYNTH_DIMS[opts.size],
    mels,
    vocabSize: vocab.size,
    maxSourcePositions: 1500,
    maxTargetPositions: 448,
    timestamped: opts.timestamped ?? false,
    extraInputs: opts.extraInputs,
    // A scripted model ends where its script does.
    pacing:
      opts.script === undefined
        ? { sot: vocab.sot, eot: vocab.eot, timestampBegin: vocab.timestampBegin }
        : undefined,
  };
  const plan = opts.script === undefined ? undefined : planScript(tok, opts.script, spec.maxTargetPositions);
  const weights = plan ? scriptedWeights(seed, plan.targets, plan.frames, spec) : randomWeights(seed);
  // A scripted model must be able to say its own tokens, so none of them may be suppressed.
  const suppress = suppressTokens(tok, new Set(plan?.tokens ?? []));

  mkdirSync(join(outDir, 'onnx'), { recursive: true });
  const provenance = {
    generator: SYNTH_GENERATOR_VERSION,
    size: opts.size,
    seed,
    vocab: vocabKind,
    multilingual,
    mels,
    timestamped: spec.timestamped,
    dtypes,
    script: opts.script ?? null,
    script_prompt: plan?.prompt ?? null,
    script_tokens: plan?.tokens ?? null,
    script_token_times: plan?.times.map((t) => Math.round(t * 1000) / 1000) ?? null,
  };
  const side = { spec, tok, suppress, provenance };
  writeJson(join(outDir, 'config.json'), configJson(side));
  writeJson(join(outDir, 'generation_config.json'), generationConfigJson(side));
  writeJson(join(outDir, 'preprocessor_config.json'), preprocessorConfigJson(spec));
  writeJson(join(outDir, 'tokenizer.json'), tokenizerJson(vocab));
  writeJson(join(outDir, 'tokenizer_config.json'), tokenizerConfigJson(vocab));

  const variant = (g: Graph, dtype: SynthDtype): Graph => {
    if (dtype === 'fp16') convertToFp16(g);
    if (dtype === 'q8') quantizeMatMulsQ8(g);
    if (opts.float16Io) {
      const kv = (prefix: string) =>
        [...g.inputs, ...g.outputs].map((v) => v.name).filter((n) => n.startsWith(prefix));
      if (g.inputs.some((i) => i.name === 'input_features')) {
        float16Io(g, { inputs: ['input_features'], outputs: ['last_hidden_state'] });
      } else {
        float16Io(g, {
          inputs: ['encoder_hidden_states', ...kv('past_key_values.')],
          outputs: ['logits', ...kv('present.'), ...kv('cross_attentions.')],
        });
      }
    }
    return g;
  };
  for (const dtype of dtypes) {
    const sfx = DTYPE_SUFFIX[dtype];
    // Graphs are rebuilt per variant (cheap); weights are regenerated lazily while each file streams out.
    writeModel(join(outDir, 'onnx', `encoder_model${sfx}.onnx`), variant(buildEncoder(spec, weights), dtype));
    await new Promise((r) => setImmediate(r));
    writeModel(
      join(outDir, 'onnx', `decoder_model_merged${sfx}.onnx`),
      variant(buildDecoder(spec, weights), dtype),
    );
    await new Promise((r) => setImmediate(r));
  }
}
