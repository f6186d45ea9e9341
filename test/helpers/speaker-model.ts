/**
 * Random-weight speaker-embedding models with the IO and metadata_props of the published exports, as sherpa-onnx's
 * export scripts write them (scripts/wespeaker/add_meta_data.py, scripts/3dspeaker/export-onnx.py,
 * scripts/nemo/speaker-verification/export-onnx.py):
 * - wespeaker: `feats` [batch, frames, 80] → `embs` [batch, dim]; normalize_samples 0, no feature_normalize_type;
 * - 3d-speaker: `x` [batch, frames, 80] → `embedding`; normalize_samples 1, feature_normalize_type global-mean;
 * - nemo: `audio_signal` [batch, 80, frames] and `length` [batch] → `logits`, `embs`; per_feature, hann, 25/10 ms.
 * The body is a small TDNN (dilated 1-D convolutions, ReLU) with statistics pooling (mean and standard deviation
 * over time; NeMo's divides by `length`) and a linear embedding layer: non-linear in the features, so a scaling or
 * normalisation mistake shows, at a fraction of the real cost. Its embeddings mean nothing: it exists to test and
 * benchmark the ONNX path offline.
 */
import { Graph, writeModel, encodeModel } from '../../models/onnx/graph.js';
import { ProtoMessage } from '../../models/onnx/proto.js';
import { uniformNoise } from '../../models/synth/weights.js';

export interface SpeakerModelOptions {
  /** Metadata and IO of the family (above). */
  kind?: 'wespeaker' | '3d-speaker' | 'nemo';
  inputName?: string;
  outputName?: string;
  /** Default 256 (wespeaker) / 192 (3d-speaker, nemo). */
  dim?: number;
  /** Default 256 channels in the TDNN layers. */
  channels?: number;
  /** false: no metadata_props at all (the WeSpeaker project's own exports); an object: keys changed or added. */
  metadata?: boolean | Record<string, string>;
  seed?: number;
}

const defaultDim = (kind: string): number => (kind === 'wespeaker' ? 256 : 192);

export function speakerModelMetadata(opts: SpeakerModelOptions = {}): Record<string, string> {
  const kind = opts.kind ?? 'wespeaker';
  const common = {
    framework: kind,
    language: 'English',
    url: 'https://example.invalid/earshot-synthetic-speaker-model',
    comment: 'earshot synthetic speaker model: random weights',
    sample_rate: '16000',
    output_dim: String(opts.dim ?? defaultDim(kind)),
  };
  if (kind === 'wespeaker') return { ...common, normalize_samples: '0' };
  if (kind === '3d-speaker') {
    return { ...common, normalize_samples: '1', feature_normalize_type: 'global-mean' };
  }
  return {
    ...common,
    feature_normalize_type: 'per_feature',
    window_size_ms: '25',
    window_stride_ms: '10',
    window_type: 'hann',
    feat_dim: '80',
  };
}

export function speakerModelGraph(opts: SpeakerModelOptions = {}): Graph {
  const kind = opts.kind ?? 'wespeaker';
  const dim = opts.dim ?? defaultDim(kind);
  const c = opts.channels ?? 256;
  const seed = opts.seed ?? 7;
  const g = new Graph('speaker_embedding');
  const nemo = kind === 'nemo';
  const input = g.input(
    opts.inputName ?? { wespeaker: 'feats', '3d-speaker': 'x', nemo: 'audio_signal' }[kind],
    'float32',
    nemo ? ['batch', 80, 'frames'] : ['batch', 'frames', 80],
  );
  const length = nemo ? g.input('length', 'int64', ['batch']) : undefined;
  const weight = (name: string, dims: number[], fanIn: number) =>
    g.init(name, 'float32', dims, () =>
      uniformNoise(
        seed,
        name,
        dims.reduce((a, b) => a * b, 1),
        1 / Math.sqrt(fanIn),
      ),
    );
  // [B, 80, T]
  let x = nemo ? input : g.node('Transpose', [input], { perm: { type: 'ints', value: [0, 2, 1] } });
  const layers = [
    { k: 5, d: 1, cin: 80 },
    { k: 3, d: 2, cin: c },
    { k: 3, d: 3, cin: c },
    { k: 1, d: 1, cin: c },
  ];
  layers.forEach(({ k, d, cin }, i) => {
    g.prefix = `/tdnn.${i}/`;
    const w = weight(`tdnn.${i}.weight`, [c, cin, k], cin * k);
    const b = g.init(`tdnn.${i}.bias`, 'float32', [c], () => new Float32Array(c));
    const pad = ((k - 1) * d) / 2;
    x = g.node('Conv', [x, w, b], {
      dilations: { type: 'ints', value: [d] },
      pads: { type: 'ints', value: [pad, pad] },
      kernel_shape: { type: 'ints', value: [k] },
    });
    x = g.node('Relu', [x]);
  });
  g.prefix = '/pool/';
  const axes = { axes: { type: 'ints' as const, value: [2] }, keepdims: { type: 'int' as const, value: 0 } };
  // [B, C]; NeMo's pooling divides by the lengths it is given, the others by the frames they see.
  const average = (v: string): string => {
    if (!length) return g.node('ReduceMean', [v], axes);
    const frames = g.node('Unsqueeze', [
      g.node('Cast', [length], { to: { type: 'int', value: 1 } }),
      g.i64([1]),
    ]);
    return g.node('Div', [
      g.node('ReduceSum', [v, g.i64([2])], { keepdims: { type: 'int', value: 0 } }),
      frames,
    ]);
  };
  const mean = average(x);
  const meanSq = average(g.node('Mul', [x, x]));
  const variance = g.node('Relu', [g.node('Sub', [meanSq, g.node('Mul', [mean, mean])])]);
  const std = g.node('Sqrt', [g.node('Add', [variance, g.f32(1e-5)])]);
  const stats = g.node('Concat', [mean, std], { axis: { type: 'int', value: 1 } }); // [B, 2C]
  g.prefix = '/embedding/';
  const proj = weight('embedding.weight', [2 * c, dim], 2 * c);
  const bias = g.init('embedding.bias', 'float32', [dim], () => new Float32Array(dim));
  const out = opts.outputName ?? (kind === '3d-speaker' ? 'embedding' : 'embs');
  const embedding = g.node('Add', [g.node('MatMul', [stats, proj]), bias], {}, out);
  if (nemo) {
    // NeMo's first output is the speaker classifier's logits; sherpa-onnx takes the second.
    g.prefix = '/decoder/';
    const classes = 8;
    const w = weight('decoder.final.weight', [dim, classes], dim);
    g.node('MatMul', [embedding, w], {}, 'logits');
    g.output('logits', 'float32', ['batch', classes]);
  }
  g.output(out, 'float32', ['batch', dim]);
  return g;
}

/** Writes the model, with metadata_props (ModelProto field 14) unless opts.metadata is false. */
export function writeSpeakerModel(path: string, opts: SpeakerModelOptions = {}): void {
  const g = speakerModelGraph(opts);
  if (opts.metadata === false) {
    writeModel(path, g);
    return;
  }
  const model = encodeModel(g);
  const extra = typeof opts.metadata === 'object' ? opts.metadata : {};
  for (const [key, value] of Object.entries({ ...speakerModelMetadata(opts), ...extra })) {
    model.message(14, new ProtoMessage().string(1, key).string(2, value));
  }
  model.writeFile(path);
}
