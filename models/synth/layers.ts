// Building blocks shared by the encoder and the decoder, emitted with the standard ops torch/optimum export for
// Whisper (MatMul on pre-transposed weights + Add, LayerNormalization, exact-erf GELU that ORT fuses).
import { type Graph, attr } from '../onnx/graph.js';
import type { WeightRole, WeightSource } from './weights.js';

export interface ArchSpec {
  dModel: number;
  encoderLayers: number;
  decoderLayers: number;
  heads: number;
  ffn: number;
  mels: number;
  vocabSize: number;
  maxSourcePositions: number;
  maxTargetPositions: number;
  timestamped: boolean;
  /** Optional decoder inputs some exports declare (transformers 4.43-4.45 `cache_position`, `encoder_attention_mask`). */
  extraInputs?: readonly ExtraDecoderInput[];
  /** End-of-text pacing (random models; see pacing.ts): the special ids it reads and biases. */
  pacing?: { sot: number; eot: number; timestampBegin: number };
}

/** A [B,T,channels] tensor written over the last channels of a [B,T,d] one. */
export interface ChannelSignal {
  signal: string;
  channels: number;
}

export type ExtraDecoderInput = 'cache_position' | 'encoder_attention_mask';

const LINEAR_ROLES = {
  plain: ['linear', 'bias'],
  residual: ['residualLinear', 'residualBias'],
  crossQuery: ['crossQuery', 'crossQueryBias'],
  crossKey: ['crossKey', 'bias'],
} as const satisfies Record<string, readonly [WeightRole, WeightRole]>;

/** Graph + weights: nodes go to `g` (possibly an If branch), initializers to the root scope. */
export class Net {
  constructor(
    readonly g: Graph,
    readonly weights: WeightSource,
    readonly spec: ArchSpec,
  ) {}

  get headDim(): number {
    return this.spec.dModel / this.spec.heads;
  }

  withGraph(g: Graph): Net {
    return new Net(g, this.weights, this.spec);
  }

  weight(name: string, dims: number[], role: WeightRole): string {
    return this.g.initOnce(name, 'float32', dims, () => this.weights(name, dims, role));
  }

  at(prefix: string): this {
    this.g.prefix = prefix;
    return this;
  }

  /** `final` marks the encoder's and decoder's last LayerNorm (scripted models set them exactly). */
  layerNorm(x: string, name: string, opts: { final?: boolean; out?: string } = {}): string {
    const d = this.spec.dModel;
    const w = this.weight(`${name}.weight`, [d], opts.final ? 'finalLnWeight' : 'lnWeight');
    const b = this.weight(`${name}.bias`, [d], opts.final ? 'finalLnBias' : 'lnBias');
    const attrs = { axis: attr.int(-1), epsilon: attr.float(1e-5) };
    return this.g.node('LayerNormalization', [x, w, b], attrs, opts.out);
  }

  /** x·Wᵀ (+ b) with W stored transposed as `${name}.weight_T` [in, out]; `kind` picks the weight roles. */
  linear(
    x: string,
    name: string,
    inDim: number,
    outDim: number,
    opts: { bias?: boolean; kind?: keyof typeof LINEAR_ROLES } = {},
  ): string {
    const [wRole, bRole] = LINEAR_ROLES[opts.kind ?? 'plain'];
    const w = this.weight(`${name}.weight_T`, [inDim, outDim], wRole);
    let y = this.g.node('MatMul', [x, w]);
    if (opts.bias !== false) {
      const b = this.weight(`${name}.bias`, [outDim], bRole);
      y = this.g.node('Add', [y, b]);
    }
    return y;
  }

  /** Exact GELU as torch exports it: x·0.5·(1 + erf(x/√2)). */
  gelu(x: string): string {
    const g = this.g;
    const e = g.node('Erf', [g.node('Div', [x, g.f32(Math.SQRT2)])]);
    return g.node('Mul', [g.node('Mul', [x, g.node('Add', [e, g.f32(1)])]), g.f32(0.5)]);
  }

  /** [B,T,d] -> [B,H,T,dh]. */
  splitHeads(x: string, out?: string): string {
    const g = this.g;
    const r = g.node('Reshape', [x, g.i64([0, -1, this.spec.heads, this.headDim])]);
    return g.node('Transpose', [r], { perm: attr.ints([0, 2, 1, 3]) }, out);
  }

  /** [B,H,T,dh] -> [B,T,d]. */
  mergeHeads(x: string): string {
    const g = this.g;
    const t = g.node('Transpose', [x], { perm: attr.ints([0, 2, 1, 3]) });
    return g.node('Reshape', [t, g.i64([0, -1, this.spec.dModel])]);
  }

  /** q = (x·Wq + bq)·dh^-0.5 as heads; `cross` marks encoder-attention queries. */
  query(x: string, name: string, cross = false): string {
    const d = this.spec.dModel;
    const q = this.linear(x, `${name}.q_proj`, d, d, { kind: cross ? 'crossQuery' : 'plain' });
    return this.splitHeads(this.g.node('Mul', [q, this.g.f32(1 / Math.sqrt(this.headDim))]));
  }

  /**
   * Keys have no bias in Whisper; values do. `lastChannels` overwrites the last channels of the keys or values
   * (the last head's last dimensions) with a [B,T,m] signal, slots the KV cache then carries (see pacing.ts).
   */
  keyValue(
    x: string,
    name: string,
    out: { k?: string; v?: string } = {},
    cross = false,
    lastChannels: { k?: ChannelSignal; v?: ChannelSignal } = {},
  ): { k: string; v: string } {
    const d = this.spec.dModel;
    const kind = cross ? 'crossKey' : 'plain';
    const k = this.linear(x, `${name}.k_proj`, d, d, { bias: false, kind });
    const v = this.linear(x, `${name}.v_proj`, d, d);
    return {
      k: this.splitHeads(lastChannels.k ? this.replaceLastChannels(k, lastChannels.k) : k, out.k),
      v: this.splitHeads(lastChannels.v ? this.replaceLastChannels(v, lastChannels.v) : v, out.v),
    };
  }

  /** x [B,T,d] with its last channels replaced by a [B,T,channels] signal. */
  replaceLastChannels(x: string, { signal, channels }: ChannelSignal, out?: string): string {
    const g = this.g;
    const kept = g.node('Slice', [x, g.i64([0]), g.i64([this.spec.dModel - channels]), g.i64([2])]);
    return g.node('Concat', [kept, signal], { axis: attr.int(2) }, out);
  }

  /** softmax(q·Kᵀ + mask)·V, then out_proj; returns the output and the attention probabilities. */
  attend(
    q: string,
    k: string,
    v: string,
    name: string,
    opts: { mask?: string; probsName?: string } = {},
  ): { out: string; probs: string } {
    const g = this.g;
    const d = this.spec.dModel;
    const kt = g.node('Transpose', [k], { perm: attr.ints([0, 1, 3, 2]) });
    let scores = g.node('MatMul', [q, kt]);
    if (opts.mask) scores = g.node('Add', [scores, opts.mask]);
    const probs = g.node('Softmax', [scores], { axis: attr.int(-1) }, opts.probsName);
    const ctx = this.mergeHeads(g.node('MatMul', [probs, v]));
    return { out: this.linear(ctx, `${name}.out_proj`, d, d, { kind: 'residual' }), probs };
  }

  feedForward(x: string, name: string): string {
    const { dModel: d, ffn } = this.spec;
    const h = this.gelu(this.linear(x, `${name}.fc1`, d, ffn));
    return this.linear(h, `${name}.fc2`, ffn, d, { kind: 'residual' });
  }
}
