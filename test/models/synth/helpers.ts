// Shared helpers for the synthetic-model tests: temp dirs, ORT sessions, and an independent greedy decoder.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'earshot-synth-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Sessions {
  encoder: ort.InferenceSession;
  decoder: ort.InferenceSession;
  release(): Promise<void>;
}

export async function loadSessions(dir: string, suffix = ''): Promise<Sessions> {
  const encoder = await ort.InferenceSession.create(join(dir, 'onnx', `encoder_model${suffix}.onnx`));
  const decoder = await ort.InferenceSession.create(join(dir, 'onnx', `decoder_model_merged${suffix}.onnx`));
  return {
    encoder,
    decoder,
    async release() {
      await encoder.release();
      await decoder.release();
    },
  };
}

/** Deterministic non-trivial log-mel-like features in Whisper's (x+4)/4 range. */
export function features(mels = 80, seed = 1): ort.Tensor {
  const data = new Float32Array(mels * 3000);
  for (let i = 0; i < data.length; i++)
    data[i] = 0.6 * Math.sin(i * 0.013 * seed) + 0.4 * Math.cos(i * 0.00071);
  return new ort.Tensor('float32', data, [1, mels, 3000]);
}

export async function encode(s: Sessions, feats: ort.Tensor): Promise<ort.Tensor> {
  const out = await s.encoder.run({ input_features: feats });
  return out.last_hidden_state as ort.Tensor;
}

/** Past inputs for step 1: every past_key_values.* as [1, H, 0, dh] (what transformers.js feeds). */
export function emptyPast(decoder: ort.InferenceSession): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const m of decoder.inputMetadata) {
    if (!m.name.startsWith('past_key_values.') || !m.isTensor) continue;
    const dims = m.shape.map((d) => (d === 'batch_size' ? 1 : typeof d === 'number' ? d : 0));
    feeds[m.name] = new ort.Tensor('float32', new Float32Array(0), dims);
  }
  return feeds;
}

export function ids(tokens: readonly number[]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(tokens.map((t) => BigInt(t))), [1, tokens.length]);
}

export function flag(v: boolean): ort.Tensor {
  return new ort.Tensor('bool', [v], [1]);
}

/** Decoder step without cache (whole sequence) or with `past` (presents of an earlier step) and one new token. */
export async function decoderStep(
  s: Sessions,
  enc: ort.Tensor,
  tokens: readonly number[],
  past?: Record<string, ort.Tensor>,
): Promise<ort.InferenceSession.OnnxValueMapType> {
  return s.decoder.run({
    input_ids: ids(tokens),
    encoder_hidden_states: enc,
    use_cache_branch: flag(past !== undefined),
    ...(past ?? emptyPast(s.decoder)),
  });
}

/** Turns step outputs into the next step's past inputs, keeping the first step's encoder K/V forever. */
export function nextPast(
  out: ort.InferenceSession.OnnxValueMapType,
  prev?: Record<string, ort.Tensor>,
): Record<string, ort.Tensor> {
  const past: Record<string, ort.Tensor> = {};
  for (const [name, value] of Object.entries(out)) {
    if (!name.startsWith('present.')) continue;
    const key = name.replace('present.', 'past_key_values.');
    past[key] = prev && name.includes('.encoder.') ? prev[key] : (value as ort.Tensor);
  }
  return past;
}

/** Last-position logits of a [1, T, V] tensor. */
export function lastRow(logits: ort.Tensor): Float32Array {
  const [, T, V] = logits.dims;
  return (logits.data as Float32Array).slice((T - 1) * V, T * V);
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

export interface GreedyOptions {
  maxNew: number;
  eot: number;
  suppress?: readonly number[];
  beginSuppress?: readonly number[];
  /** Apply openai's timestamp rules (decoding.py ApplyTimestampRules) with this timestamp_begin. */
  timestampBegin?: number;
  maxInitialTimestamp?: number;
}

/** Greedy decoding with the KV cache, independent of transformers.js. Returns the sampled tokens. */
export async function greedy(
  s: Sessions,
  enc: ort.Tensor,
  prompt: number[],
  o: GreedyOptions,
): Promise<number[]> {
  const sampled: number[] = [];
  let out = await decoderStep(s, enc, prompt);
  let past = nextPast(out);
  for (let step = 0; step < o.maxNew; step++) {
    const logits = lastRow(out.logits as ort.Tensor);
    for (const t of o.suppress ?? []) logits[t] = -Infinity;
    if (step === 0) for (const t of o.beginSuppress ?? []) logits[t] = -Infinity;
    if (o.timestampBegin !== undefined) applyTimestampRules(logits, sampled, o.eot, o.timestampBegin, o);
    const next = argmax(logits);
    sampled.push(next);
    if (next === o.eot) break;
    out = await decoderStep(s, enc, [next], past);
    past = nextPast(out, past);
  }
  return sampled;
}

function applyTimestampRules(
  logits: Float32Array,
  seq: number[],
  eot: number,
  tsBegin: number,
  o: GreedyOptions,
): void {
  const isTs = (t: number): boolean => t >= tsBegin;
  logits[tsBegin - 1] = -Infinity; // <|notimestamps|>
  const last = seq.length >= 1 && isTs(seq[seq.length - 1]);
  const penultimate = seq.length < 2 || isTs(seq[seq.length - 2]);
  if (last) {
    if (penultimate) logits.fill(-Infinity, tsBegin);
    else logits.fill(-Infinity, 0, eot);
  }
  const stamps = seq.filter(isTs);
  if (stamps.length > 0) {
    const lastTs = last && !penultimate ? stamps[stamps.length - 1] : stamps[stamps.length - 1] + 1;
    logits.fill(-Infinity, tsBegin, lastTs);
  }
  if (seq.length === 0) {
    logits.fill(-Infinity, 0, tsBegin);
    if (o.maxInitialTimestamp !== undefined) logits.fill(-Infinity, tsBegin + o.maxInitialTimestamp + 1);
  }
  let max = -Infinity;
  for (const x of logits) if (x > max) max = x;
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  let tsSum = 0;
  for (let i = tsBegin; i < logits.length; i++) tsSum += Math.exp(logits[i] - max);
  const tsLogprob = Math.log(tsSum) + max - lse;
  let textMax = -Infinity;
  for (let i = 0; i < tsBegin; i++) textMax = Math.max(textMax, logits[i] - lse);
  if (tsLogprob > textMax) logits.fill(-Infinity, 0, tsBegin);
}

export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= a.length;
  mb /= b.length;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] - ma;
    const y = b[i] - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return sab / Math.sqrt(saa * sbb);
}

export interface GenerationConfig {
  decoder_start_token_id: number;
  eos_token_id: number;
  bos_token_id: number;
  pad_token_id: number;
  no_timestamps_token_id: number;
  prev_sot_token_id: number;
  is_multilingual: boolean;
  lang_to_id: Record<string, number>;
  task_to_id: { translate: number; transcribe: number };
  suppress_tokens: number[];
  begin_suppress_tokens: number[];
  alignment_heads: number[][];
  max_initial_timestamp_index: number;
  max_length: number;
}

export interface ModelConfig {
  vocab_size: number;
  d_model: number;
  decoder_layers: number;
  decoder_attention_heads: number;
  num_mel_bins: number;
  decoder_start_token_id: number;
  eos_token_id: number;
  earshot_synth: {
    script_tokens: number[] | null;
    script_token_times: number[] | null;
    script_prompt: number[] | null;
    seed: number;
  };
}

export function readGeneration(dir: string): GenerationConfig {
  return JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8')) as GenerationConfig;
}

export function readConfig(dir: string): ModelConfig {
  return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as ModelConfig;
}
