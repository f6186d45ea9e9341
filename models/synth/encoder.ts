// encoder_model.onnx: input_features [batch_size, n_mels, 3000] -> last_hidden_state [batch_size, 1500, d]
// (HF WhisperEncoder: two GELU convs, the second with stride 2, sinusoid positions, pre-LN blocks, final LN).
import { Graph, attr } from '../onnx/graph.js';
import { type ArchSpec, Net } from './layers.js';
import { withAudioExtent } from './pacing.js';
import type { WeightSource } from './weights.js';

export function buildEncoder(spec: ArchSpec, weights: WeightSource): Graph {
  const g = new Graph('main_graph');
  const n = new Net(g, weights, spec);
  const { dModel: d, mels } = spec;
  const frames = spec.maxSourcePositions * 2;
  const x0 = g.input('input_features', 'float32', ['batch_size', mels, frames]);

  n.at('/conv1/');
  const conv = (x: string, name: string, cin: number, stride: number): string => {
    const w = n.weight(`model.encoder.${name}.weight`, [d, cin, 3], 'conv');
    const b = n.weight(`model.encoder.${name}.bias`, [d], 'convBias');
    const y = g.node('Conv', [x, w, b], {
      dilations: attr.ints([1]),
      group: attr.int(1),
      kernel_shape: attr.ints([3]),
      pads: attr.ints([1, 1]),
      strides: attr.ints([stride]),
    });
    return n.gelu(y);
  };
  let x = conv(x0, 'conv1', mels, 1);
  n.at('/conv2/');
  x = conv(x, 'conv2', d, 2);
  n.at('/model/encoder/');
  x = g.node('Transpose', [x], { perm: attr.ints([0, 2, 1]) });
  const pos = n.weight(
    'model.encoder.embed_positions.weight',
    [spec.maxSourcePositions, d],
    'encoderPositions',
  );
  x = g.node('Add', [x, pos]);

  for (let i = 0; i < spec.encoderLayers; i++) {
    const name = `model.encoder.layers.${i}`;
    n.at(`/model/encoder/layers.${i}/self_attn/`);
    const h = n.layerNorm(x, `${name}.self_attn_layer_norm`);
    const q = n.query(h, `${name}.self_attn`);
    const { k, v } = n.keyValue(h, `${name}.self_attn`);
    x = g.node('Add', [x, n.attend(q, k, v, `${name}.self_attn`).out]);
    n.at(`/model/encoder/layers.${i}/mlp/`);
    x = g.node('Add', [x, n.feedForward(n.layerNorm(x, `${name}.final_layer_norm`), name)]);
  }
  n.at('/model/encoder/layer_norm/');
  if (spec.pacing) {
    withAudioExtent(n, x0, n.layerNorm(x, 'model.encoder.layer_norm', { final: true }), 'last_hidden_state');
  } else {
    n.layerNorm(x, 'model.encoder.layer_norm', { final: true, out: 'last_hidden_state' });
  }
  g.output('last_hidden_state', 'float32', ['batch_size', 'encoder_sequence_length / 2', d]);
  return g;
}
