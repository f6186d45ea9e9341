/**
 * Random-weight speaker-embedding models with the IO of the published exports (WeSpeaker ResNet and 3D-Speaker
 * CAM++/ERes2Net as sherpa-onnx runs them): input log-mel fbank [batch, frames, 80], output [batch, dim], and the
 * metadata_props sherpa-onnx reads. The body is a small TDNN (dilated 1-D convolutions, ReLU) with statistics
 * pooling (mean and standard deviation over time) and a linear embedding layer: the real shape of the computation
 * at a fraction of the cost. Its embeddings mean nothing: it exists to test and benchmark the ONNX path offline.
 */
import { Graph, writeModel, encodeModel } from '../../models/onnx/graph.js';
import { ProtoMessage } from '../../models/onnx/proto.js';
import { uniformNoise } from '../../models/synth/weights.js';

export interface SpeakerModelOptions {
  /** Metadata and IO names of the family: wespeaker (`feats` → `embs`) or 3d-speaker (`x` → `embedding`). */
  kind?: 'wespeaker' | '3d-speaker';
  inputName?: string;
  outputName?: string;
  /** Default 256 (wespeaker) / 192 (3d-speaker). */
  dim?: number;
  /** Default 256 channels in the TDNN layers. */
  channels?: number;
  /** false: no metadata_props at all (older exports). */
  metadata?: boolean;
  seed?: number;
}

export function speakerModelMetadata(opts: SpeakerModelOptions = {}): Record<string, string> {
  const kind = opts.kind ?? 'wespeaker';
  const dim = opts.dim ?? (kind === 'wespeaker' ? 256 : 192);
  return {
    framework: kind,
    sample_rate: '16000',
    output_dim: String(dim),
    // WeSpeaker computes fbank on int16-scaled samples; 3D-Speaker on [-1, 1]. Both subtract the utterance mean.
    normalize_samples: kind === 'wespeaker' ? '0' : '1',
    feature_normalize_type: 'global-mean',
    language: 'English',
    comment: 'earshot synthetic speaker model: random weights',
  };
}

export function speakerModelGraph(opts: SpeakerModelOptions = {}): Graph {
  const kind = opts.kind ?? 'wespeaker';
  const dim = opts.dim ?? (kind === 'wespeaker' ? 256 : 192);
  const c = opts.channels ?? 256;
  const seed = opts.seed ?? 7;
  const g = new Graph('speaker_embedding');
  const input = g.input(opts.inputName ?? (kind === 'wespeaker' ? 'feats' : 'x'), 'float32', [
    'batch',
    'frames',
    80,
  ]);
  const weight = (name: string, dims: number[], fanIn: number) =>
    g.init(name, 'float32', dims, () =>
      uniformNoise(
        seed,
        name,
        dims.reduce((a, b) => a * b, 1),
        1 / Math.sqrt(fanIn),
      ),
    );
  let x = g.node('Transpose', [input], { perm: { type: 'ints', value: [0, 2, 1] } }); // [B, 80, T]
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
  const mean = g.node('ReduceMean', [x], axes); // [B, C]
  const meanSq = g.node('ReduceMean', [g.node('Mul', [x, x])], axes);
  const variance = g.node('Relu', [g.node('Sub', [meanSq, g.node('Mul', [mean, mean])])]);
  const std = g.node('Sqrt', [g.node('Add', [variance, g.f32(1e-5)])]);
  const stats = g.node('Concat', [mean, std], { axis: { type: 'int', value: 1 } }); // [B, 2C]
  g.prefix = '/embedding/';
  const proj = weight('embedding.weight', [2 * c, dim], 2 * c);
  const bias = g.init('embedding.bias', 'float32', [dim], () => new Float32Array(dim));
  const out = opts.outputName ?? (kind === 'wespeaker' ? 'embs' : 'embedding');
  g.node('Add', [g.node('MatMul', [stats, proj]), bias], {}, out);
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
  for (const [key, value] of Object.entries(speakerModelMetadata(opts))) {
    model.message(14, new ProtoMessage().string(1, key).string(2, value));
  }
  model.writeFile(path);
}
