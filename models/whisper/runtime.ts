import ort from 'onnxruntime-node';
import { LogMel } from '../../audio/logmel.js';
import { ModelLoadError } from '../errors.js';
import { readModelDir, type DtypeChoice, type ModelDir } from './model-dir.js';
import { createSession, type Device } from '../onnx/session.js';
import { concatRows, emptyTensor, floatTensor, selectRows, stackRows, toFloat32 } from '../onnx/tensors.js';
import { WhisperTokenizer } from './tokenizer.js';

export interface WhisperLoadOptions {
  dtype?: DtypeChoice;
  device?: Device;
  /** Intra-op threads per graph; 0 = one per core. */
  threads?: number;
  /**
   * Windows per encoder call. On CPU one at a time is fastest (a batch of 2 measured 1.5x slower per window: the
   * 1500-frame activations fall out of cache); on a GPU the encoder batches well. Default: 1 on CPU, 8 on CUDA.
   */
  encoderBatch?: number;
  warn?: (msg: string) => void;
}

/** A model directory's tokenizer, or a ModelLoadError naming its file. */
export function loadTokenizer(files: ModelDir): WhisperTokenizer {
  try {
    return WhisperTokenizer.fromFile(files.tokenizerPath);
  } catch (err) {
    throw new ModelLoadError(`${files.tokenizerPath}: ${(err as Error).message}`, files.tokenizerPath);
  }
}

type Meta = ort.InferenceSession.ValueMetadata;

/** The decoder graph's interface, read from its metadata rather than assumed. */
interface DecoderIO {
  pastDecoder: string[];
  pastEncoder: string[];
  meta: Map<string, Meta>;
  crossAttentions: string[];
  hasCachePosition: boolean;
  hasEncoderMask: boolean;
}

/**
 * A loaded Whisper model: two onnxruntime sessions (encoder and If-merged decoder), its tokenizer, special ids and
 * front end. Stateless between calls: every decode owns its KV cache through a DecoderBatch.
 */
export class WhisperModel {
  readonly logmel: LogMel;
  /** Observes each encoder call and decoder step (metrics); must be cheap. */
  onTiming?: (stage: 'encoder' | 'decoder_step', ms: number, rows: number) => void;
  private constructor(
    readonly files: ModelDir,
    readonly tokenizer: WhisperTokenizer,
    readonly encoder: ort.InferenceSession,
    readonly decoder: ort.InferenceSession,
    readonly device: Device,
    readonly io: DecoderIO,
  ) {
    this.logmel = new LogMel(files.dims.numMelBins);
  }

  static async load(dir: string | ModelDir, opts: WhisperLoadOptions = {}): Promise<WhisperModel> {
    const files = typeof dir === 'string' ? readModelDir(dir, opts.dtype) : dir;
    const tokenizer = loadTokenizer(files);
    const so = { device: opts.device, threads: opts.threads, warn: opts.warn };
    const enc = await createSession(files.encoderPath, so);
    const dec = await createSession(files.decoderPath, so);
    const io = checkGraphs(files, enc.session, dec.session);
    if (
      tokenizer.id('<|notimestamps|>') !== undefined &&
      tokenizer.id('<|notimestamps|>') !== files.ids.noTimestamps
    ) {
      throw new ModelLoadError(
        `${files.dir}: tokenizer.json and generation_config.json disagree on <|notimestamps|> (${tokenizer.id('<|notimestamps|>')} vs ${files.ids.noTimestamps})`,
      );
    }
    const model = new WhisperModel(files, tokenizer, enc.session, dec.session, enc.device, io);
    model.encoderBatch = opts.encoderBatch ?? (enc.device === 'cuda' ? 8 : 1);
    return model;
  }

  encoderBatch = 1;

  get dims() {
    return this.files.dims;
  }
  get ids() {
    return this.files.ids;
  }
  get hasCrossAttentions(): boolean {
    return this.io.crossAttentions.length > 0;
  }

  /** Log-mel features of one window (<= 30 s of 16 kHz audio). */
  features(audio: Float32Array): Float32Array {
    return this.logmel.compute(audio);
  }

  /** Encodes windows, `encoderBatch` per call; returns last_hidden_state [B,1500,d] for all of them. */
  async encode(features: readonly Float32Array[]): Promise<ort.Tensor> {
    if (features.length <= this.encoderBatch) return this.encodeCall(features);
    const parts: ort.Tensor[] = [];
    for (let i = 0; i < features.length; i += this.encoderBatch) {
      parts.push(await this.encodeCall(features.slice(i, i + this.encoderBatch)));
    }
    return concatRows(parts);
  }

  private async encodeCall(features: readonly Float32Array[]): Promise<ort.Tensor> {
    const meta = this.encoder.inputMetadata[0] as { type?: string };
    const stacked = stackRows(features, [this.dims.numMelBins, 3000]);
    const input =
      meta.type === 'float16' ? floatTensor('float16', stacked.data as Float32Array, stacked.dims) : stacked;
    const t0 = performance.now();
    const out = await this.encoder.run({ [this.encoder.inputNames[0]]: input });
    this.onTiming?.('encoder', performance.now() - t0, features.length);
    const hidden = out[this.encoder.outputNames[0]];
    return hidden.type === 'float32' ? hidden : new ort.Tensor('float32', toFloat32(hidden), hidden.dims);
  }

  /** Starts a decoder batch over encoder states (one row per sequence). */
  startDecoding(encoderHidden: ort.Tensor): DecoderBatch {
    return new DecoderBatch(this, encoderHidden);
  }

  async release(): Promise<void> {
    await this.encoder.release();
    await this.decoder.release();
  }
}

export interface StepOutput {
  /** float32 logits, [rows, tokens, vocab]. */
  logits: Float32Array;
  tokens: number;
  /** cross_attentions.{layer} as float32 [rows, heads, tokens, frames], when the model exports them. */
  cross?: Float32Array[];
}

/**
 * The KV cache of a batch of sequences decoded in lockstep. The first run feeds whole prompts through the no-past
 * branch; later runs feed one token per row through the with-past branch and re-feed the first run's
 * cross-attention K/V (the with-past branch returns empty encoder presents).
 */
export class DecoderBatch {
  private past = new Map<string, ort.Tensor>();
  private pastLen = 0;
  private hidden: ort.Tensor;

  constructor(
    private readonly model: WhisperModel,
    encoderHidden: ort.Tensor,
  ) {
    this.hidden = encoderHidden;
  }

  get rows(): number {
    return this.hidden.dims[0];
  }
  get length(): number {
    return this.pastLen;
  }

  async run(inputIds: readonly (readonly number[])[]): Promise<StepOutput> {
    const { decoder, io } = this.model;
    const rows = this.rows;
    if (inputIds.length !== rows) throw new Error(`decoder batch has ${rows} rows, got ${inputIds.length}`);
    const t = inputIds[0].length;
    if (inputIds.some((r) => r.length !== t))
      throw new Error('every row of a decoder step must have the same length');
    const first = this.pastLen === 0;
    if (!first && t !== 1) throw new Error('cached decoder steps take exactly one token per row');
    const ids = new BigInt64Array(rows * t);
    inputIds.forEach((r, i) => r.forEach((tok, j) => (ids[i * t + j] = BigInt(tok))));
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', ids, [rows, t]),
      encoder_hidden_states: this.hiddenFeed(),
      use_cache_branch: new ort.Tensor('bool', new Uint8Array([first ? 0 : 1]), [1]),
    };
    for (const name of [...io.pastDecoder, ...io.pastEncoder]) {
      feeds[name] = this.past.get(name) ?? emptyPast(io.meta.get(name)!, rows);
    }
    if (io.hasCachePosition) {
      const pos = new BigInt64Array(t);
      for (let i = 0; i < t; i++) pos[i] = BigInt(this.pastLen + i);
      feeds.cache_position = new ort.Tensor('int64', pos, [t]);
    }
    if (io.hasEncoderMask) {
      const frames = this.hidden.dims[1];
      feeds.encoder_attention_mask = new ort.Tensor('int64', new BigInt64Array(rows * frames).fill(1n), [
        rows,
        frames,
      ]);
    }
    const t0 = performance.now();
    const out = await decoder.run(feeds);
    this.model.onTiming?.('decoder_step', performance.now() - t0, rows);
    for (const name of io.pastDecoder) this.past.set(name, out[name.replace('past_key_values', 'present')]);
    if (first)
      for (const name of io.pastEncoder) this.past.set(name, out[name.replace('past_key_values', 'present')]);
    this.pastLen += t;
    return {
      logits: toFloat32(out.logits),
      tokens: t,
      cross: io.crossAttentions.length ? io.crossAttentions.map((n) => toFloat32(out[n])) : undefined,
    };
  }

  private hiddenAs?: ort.Tensor;
  /** encoder_hidden_states in the type the decoder declares (float16-IO exports), converted once per batch. */
  private hiddenFeed(): ort.Tensor {
    const meta = this.model.io.meta.get('encoder_hidden_states') as { type?: string } | undefined;
    if (meta?.type !== 'float16') return this.hidden;
    this.hiddenAs ??= floatTensor('float16', this.hidden.data as Float32Array, this.hidden.dims);
    return this.hiddenAs;
  }

  /** Drops finished rows so they stop costing compute; `rows` are indices into the current batch. */
  keepRows(rows: readonly number[]): void {
    if (rows.length === this.rows && rows.every((r, i) => r === i)) return;
    this.hiddenAs = undefined;
    this.hidden = selectRows(this.hidden, rows);
    for (const [name, tensor] of this.past) this.past.set(name, selectRows(tensor, rows));
  }
}

function emptyPast(meta: Meta, rows: number): ort.Tensor {
  const m = meta as { type: string; shape: readonly (number | string)[] };
  // transformers.js convention: the batch symbol takes the batch size, every other symbol is 0.
  const dims = m.shape.map((d) => (typeof d === 'number' ? d : d === 'batch_size' ? rows : 0));
  return emptyTensor(m.type, dims);
}

function checkGraphs(files: ModelDir, enc: ort.InferenceSession, dec: ort.InferenceSession): DecoderIO {
  const where = files.dir;
  const encIn = enc.inputMetadata[0] as { name: string; shape?: readonly (number | string)[] };
  if (enc.inputNames.length !== 1 || encIn.name !== 'input_features') {
    throw new ModelLoadError(
      `${where}: encoder must take one input "input_features", has ${enc.inputNames.join(', ')}`,
    );
  }
  if (encIn.shape && typeof encIn.shape[1] === 'number' && encIn.shape[1] !== files.dims.numMelBins) {
    throw new ModelLoadError(
      `${where}: encoder expects ${encIn.shape[1]} mel bins but config.json says ${files.dims.numMelBins}`,
    );
  }
  const meta = new Map<string, Meta>(dec.inputMetadata.map((m) => [m.name, m]));
  for (const need of ['input_ids', 'encoder_hidden_states', 'use_cache_branch']) {
    if (!meta.has(need)) {
      throw new ModelLoadError(
        `${where}: decoder_model_merged has no "${need}" input: it is not an If-merged decoder (export with optimum's merged decoder)`,
      );
    }
  }
  const pastDecoder: string[] = [];
  const pastEncoder: string[] = [];
  for (let i = 0; i < files.dims.decoderLayers; i++) {
    for (const kind of ['decoder', 'encoder'] as const) {
      for (const kv of ['key', 'value']) {
        const name = `past_key_values.${i}.${kind}.${kv}`;
        const m = meta.get(name) as { shape?: readonly (number | string)[] } | undefined;
        if (!m) {
          throw new ModelLoadError(
            `${where}: decoder lacks input ${name} (config.json says ${files.dims.decoderLayers} decoder layers)`,
          );
        }
        const heads = m.shape?.[1];
        if (typeof heads === 'number' && heads !== files.dims.decoderHeads) {
          throw new ModelLoadError(
            `${where}: ${name} has ${heads} heads but config.json says ${files.dims.decoderHeads}`,
          );
        }
        (kind === 'decoder' ? pastDecoder : pastEncoder).push(name);
        if (!dec.outputNames.includes(name.replace('past_key_values', 'present'))) {
          throw new ModelLoadError(
            `${where}: decoder lacks output ${name.replace('past_key_values', 'present')}`,
          );
        }
      }
    }
  }
  if (!dec.outputNames.includes('logits'))
    throw new ModelLoadError(`${where}: decoder has no "logits" output`);
  const logits = dec.outputMetadata.find((m) => m.name === 'logits') as
    { shape?: readonly (number | string)[] } | undefined;
  const vocab = logits?.shape?.[2];
  if (typeof vocab === 'number' && vocab !== files.dims.vocabSize) {
    throw new ModelLoadError(
      `${where}: the decoder's logits have ${vocab} entries but config.json says vocab_size ${files.dims.vocabSize} (graphs from another model?)`,
    );
  }
  const crossAttentions = dec.outputNames.filter((n) => n.startsWith('cross_attentions.'));
  crossAttentions.sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
  return {
    pastDecoder,
    pastEncoder,
    meta,
    crossAttentions: crossAttentions.length === files.dims.decoderLayers ? crossAttentions : [],
    hasCachePosition: meta.has('cache_position'),
    hasEncoderMask: meta.has('encoder_attention_mask'),
  };
}
