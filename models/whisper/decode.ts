import type ort from 'onnxruntime-node';
import { UnsupportedLanguageError, validLanguages } from './languages.js';
import { applyFilters, argmax, logSumExp, rng, sample } from './logits.js';
import { selectRows } from '../onnx/tensors.js';
import type { WhisperModel } from './runtime.js';
import { canTranslate, UnsupportedTaskError, type Task } from './tasks.js';

export interface DecodeRequest {
  /** Language code ('en', 'de', ...); required for multilingual models (see detectLanguage). */
  language?: string;
  /** Default transcribe; translate needs a multilingual model (UnsupportedTaskError otherwise). */
  task?: Task;
  /** Decode with timestamp tokens (segments). Default true. */
  timestamps?: boolean;
  /** Previous-text tokens, conditioned on through <|startofprev|> (openai keeps the last 223). */
  promptTokens?: readonly number[];
  temperature?: number;
  maxNewTokens?: number;
  /** Seed for sampling at temperature > 0. */
  seed?: number;
  /** Keep the alignment heads' cross-attention per token, for word timestamps. */
  alignment?: boolean;
}

export interface DecodeResult {
  /** Sampled tokens, EOT excluded. */
  tokens: number[];
  /** Probability of each sampled token under the filtered distribution. */
  tokenProbs: number[];
  sumLogprob: number;
  /** Mean log-probability over the sampled tokens and the final EOT (openai's definition). */
  avgLogprob: number;
  noSpeechProb: number;
  temperature: number;
  language?: string;
  /** Length of the prompt fed before the sampled tokens. */
  promptLength: number;
  /** True when the sequence ended on EOT (false: hit the token limit). */
  finished: boolean;
  /** Per position (prompt, then sampled tokens): alignment heads x frames of cross-attention. */
  attention?: Float32Array[];
}

const MAX_PROMPT = 223;

export function promptFor(model: WhisperModel, r: DecodeRequest): { tokens: number[]; sotIndex: number } {
  const ids = model.ids;
  const tokens: number[] = [];
  if (r.promptTokens?.length) tokens.push(ids.prevSot, ...r.promptTokens.slice(-MAX_PROMPT));
  const sotIndex = tokens.length;
  tokens.push(ids.sot);
  // An English-only prompt has no task token: translate would silently transcribe.
  if (r.task === 'translate' && !canTranslate(ids)) throw new UnsupportedTaskError('translate');
  if (ids.isMultilingual) {
    const lang = ids.languages.get(r.language ?? 'en');
    if (lang === undefined) throw new UnsupportedLanguageError(r.language ?? 'en', validLanguages(ids));
    const task = r.task === 'translate' ? ids.translate : ids.transcribe;
    tokens.push(lang);
    if (task !== undefined) tokens.push(task);
  }
  if (r.timestamps === false) tokens.push(ids.noTimestamps);
  return { tokens, sotIndex };
}

/**
 * Decodes one sequence per encoder row. Rows whose prompts have the same length run in lockstep through one
 * decoder call per step (the merged decoder has no padding mask, so unequal prompts run as separate groups);
 * finished rows are dropped from the batch once half of it is done. Results equal batch-1 decoding.
 */
export async function decodeBatch(
  model: WhisperModel,
  hidden: ort.Tensor,
  requests: readonly DecodeRequest[],
): Promise<DecodeResult[]> {
  if (hidden.dims[0] !== requests.length) {
    throw new Error(`decodeBatch: ${hidden.dims[0]} encoder rows for ${requests.length} requests`);
  }
  const prompts = requests.map((r) => promptFor(model, r));
  const groups = new Map<number, number[]>();
  prompts.forEach((p, i) => groups.set(p.tokens.length, [...(groups.get(p.tokens.length) ?? []), i]));
  const results: DecodeResult[] = new Array(requests.length);
  for (const rows of groups.values()) {
    const sub = rows.length === requests.length ? hidden : selectRows(hidden, rows);
    const out = await decodeLockstep(
      model,
      sub,
      rows.map((i) => requests[i]),
      rows.map((i) => prompts[i]),
    );
    rows.forEach((i, k) => (results[i] = out[k]));
  }
  return results;
}

interface Row {
  req: DecodeRequest;
  prompt: number[];
  sampled: number[];
  probs: number[];
  sumLogprob: number;
  noSpeechProb: number;
  done: boolean;
  finished: boolean;
  draw: () => number;
  attention?: Float32Array[];
}

async function decodeLockstep(
  model: WhisperModel,
  hidden: ort.Tensor,
  reqs: DecodeRequest[],
  prompts: { tokens: number[]; sotIndex: number }[],
): Promise<DecodeResult[]> {
  const { ids, dims } = model;
  const vocab = dims.vocabSize;
  const rows: Row[] = reqs.map((req, i) => ({
    req,
    prompt: prompts[i].tokens,
    sampled: [],
    probs: [],
    sumLogprob: 0,
    noSpeechProb: NaN,
    done: false,
    finished: false,
    draw: rng(req.seed ?? 0x5eed),
    attention: req.alignment ? [] : undefined,
  }));
  const batch = model.startDecoding(hidden);
  // Indices into `rows` of the sequences still in the decoder batch, in batch order.
  let live = rows.map((_, i) => i);
  const promptLen = rows[0].prompt.length;
  const limit = Math.min(
    dims.maxTargetPositions - promptLen,
    Math.max(1, Math.min(...reqs.map((r) => r.maxNewTokens ?? 224))),
  );
  let step = await batch.run(live.map((i) => rows[i].prompt));
  for (let n = 0; ; n++) {
    const t = step.tokens;
    live.forEach((ri, b) => {
      const row = rows[ri];
      if (row.done) return;
      if (row.attention && step.cross) collectAttention(model, step.cross, b, live.length, t, row.attention);
      if (n === 0 && ids.noSpeech !== undefined) {
        const at = step.logits.subarray(
          (b * t + prompts[ri].sotIndex) * vocab,
          (b * t + prompts[ri].sotIndex + 1) * vocab,
        );
        row.noSpeechProb = Math.exp(at[ids.noSpeech] - logSumExp(at, 0, vocab));
      }
      // The step's logits are ours: filter the last position in place.
      const logits = step.logits.subarray((b * t + t - 1) * vocab, (b * t + t) * vocab);
      const temperature = row.req.temperature ?? 0;
      const f = applyFilters(logits, ids, { sampled: row.sampled, timestamps: row.req.timestamps !== false });
      const token = temperature > 0 ? sample(logits, temperature, row.draw()) : f.argmax;
      const logprob = logits[token] - f.lse;
      row.sumLogprob += logprob;
      if (token === ids.eot) {
        row.done = row.finished = true;
      } else {
        row.sampled.push(token);
        row.probs.push(Math.exp(logprob));
        if (row.sampled.length >= limit) row.done = true;
      }
    });
    const active = live.filter((ri) => !rows[ri].done);
    if (active.length === 0) break;
    if (active.length <= live.length / 2) {
      batch.keepRows(active.map((ri) => live.indexOf(ri)));
      live = active;
    }
    // Finished rows still in the batch are fed EOT; their outputs are ignored.
    step = await batch.run(
      live.map((ri) => [rows[ri].done ? ids.eot : rows[ri].sampled[rows[ri].sampled.length - 1]]),
    );
  }
  return rows.map((r) => ({
    tokens: r.sampled,
    tokenProbs: r.probs,
    sumLogprob: r.sumLogprob,
    avgLogprob: r.sumLogprob / (r.sampled.length + 1),
    noSpeechProb: r.noSpeechProb,
    temperature: r.req.temperature ?? 0,
    language: r.req.language,
    promptLength: r.prompt.length,
    finished: r.finished,
    attention: r.attention,
  }));
}

/** Appends, per token position of this step, the alignment heads' attention rows over encoder frames. */
function collectAttention(
  model: WhisperModel,
  cross: Float32Array[],
  b: number,
  rowsInBatch: number,
  tokens: number,
  into: Float32Array[],
): void {
  const heads = model.ids.alignmentHeads;
  const H = model.dims.decoderHeads;
  const frames = cross[0].length / (rowsInBatch * H * tokens);
  for (let p = 0; p < tokens; p++) {
    const rowOut = new Float32Array(heads.length * frames);
    heads.forEach(([layer, head], k) => {
      const off = ((b * H + head) * tokens + p) * frames;
      rowOut.set(cross[layer].subarray(off, off + frames), k * frames);
    });
    into.push(rowOut);
  }
}

export interface DetectedLanguage {
  language: string;
  /** Probability of the chosen language token, softmax over the language tokens only. */
  probability: number;
  /** The whole distribution over the model's languages (to pool several windows' evidence). */
  probabilities: Map<string, number>;
}

/** openai's detect_language: one decoder pass on <|startoftranscript|>, restricted to language tokens. */
export async function detectLanguage(model: WhisperModel, hidden: ort.Tensor): Promise<DetectedLanguage[]> {
  const { ids } = model;
  const rows = hidden.dims[0];
  if (!ids.isMultilingual) {
    return Array.from({ length: rows }, () => ({
      language: 'en',
      probability: 1,
      probabilities: new Map([['en', 1]]),
    }));
  }
  const step = await model.startDecoding(hidden).run(Array.from({ length: rows }, () => [ids.sot]));
  const V = model.dims.vocabSize;
  const langs = [...ids.languages];
  return Array.from({ length: rows }, (_, b) => {
    const logits = step.logits.subarray(b * V, (b + 1) * V);
    const sub = new Float32Array(langs.map(([, id]) => logits[id]));
    const best = argmax(sub);
    const lse = logSumExp(sub, 0, sub.length);
    return {
      language: langs[best][0],
      probability: Math.exp(sub[best] - lse),
      probabilities: new Map(langs.map(([code], k) => [code, Math.exp(sub[k] - lse)])),
    };
  });
}
