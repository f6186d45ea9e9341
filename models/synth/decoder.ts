// decoder_model_merged.onnx, laid out like optimum's merge_decoders(): one If on `use_cache_branch` whose
// then-branch is the with-past decoder and else-branch the no-past decoder; weights live in the main graph and
// are read by both branches from the outer scope.
import { Graph, attr, type Dim, type ElemType } from '../onnx/graph.js';
import { type ArchSpec, Net } from './layers.js';
import { extentFromEncoder, pacedLogits, tokenMarks } from './pacing.js';
import type { WeightSource } from './weights.js';

interface IoSpec {
  name: string;
  type: ElemType;
  dims: Dim[];
}

export function decoderInputs(spec: ArchSpec): IoSpec[] {
  const { heads: H, dModel: d } = spec;
  const dh = d / H;
  const io: IoSpec[] = [
    { name: 'input_ids', type: 'int64', dims: ['batch_size', 'decoder_sequence_length'] },
    {
      name: 'encoder_hidden_states',
      type: 'float32',
      dims: ['batch_size', 'encoder_sequence_length / 2', d],
    },
  ];
  for (let i = 0; i < spec.decoderLayers; i++) {
    for (const [part, len] of [
      ['decoder', 'past_decoder_sequence_length'],
      ['encoder', 'encoder_sequence_length_out'],
    ]) {
      for (const kv of ['key', 'value']) {
        io.push({
          name: `past_key_values.${i}.${part}.${kv}`,
          type: 'float32',
          dims: ['batch_size', H, len, dh],
        });
      }
    }
  }
  if (spec.extraInputs?.includes('cache_position')) {
    io.push({ name: 'cache_position', type: 'int64', dims: ['decoder_sequence_length'] });
  }
  if (spec.extraInputs?.includes('encoder_attention_mask')) {
    io.push({
      name: 'encoder_attention_mask',
      type: 'int64',
      dims: ['batch_size', 'encoder_sequence_length / 2'],
    });
  }
  io.push({ name: 'use_cache_branch', type: 'bool', dims: [1] });
  return io;
}

export function decoderOutputs(spec: ArchSpec): IoSpec[] {
  const { heads: H, dModel: d } = spec;
  const dh = d / H;
  const io: IoSpec[] = [
    { name: 'logits', type: 'float32', dims: ['batch_size', 'decoder_sequence_length', spec.vocabSize] },
  ];
  for (let i = 0; i < spec.decoderLayers; i++) {
    for (const [part, len] of [
      ['decoder', 'past_decoder_sequence_length + 1'],
      ['encoder', 'encoder_sequence_length_out'],
    ]) {
      for (const kv of ['key', 'value']) {
        io.push({ name: `present.${i}.${part}.${kv}`, type: 'float32', dims: ['batch_size', H, len, dh] });
      }
    }
  }
  if (spec.timestamped) {
    for (let i = 0; i < spec.decoderLayers; i++) {
      io.push({
        name: `cross_attentions.${i}`,
        type: 'float32',
        dims: ['batch_size', H, 'decoder_sequence_length', 'encoder_sequence_length_out'],
      });
    }
  }
  return io;
}

/** One branch of the merged decoder; `withPast` reads the KV cache, otherwise the prompt starts at position 0. */
function buildBranch(root: Graph, net: Net, withPast: boolean): Graph {
  const tag = withPast ? 'with_past' : 'no_past';
  const g = root.subgraph(`${tag}_graph`);
  const n = net.withGraph(g);
  const { spec } = n;
  const d = spec.dModel;
  const out = (name: string): string => `${tag}/${name}`;
  n.at(`/${tag}/model/decoder/`);

  // Absolute positions past_len .. past_len+T-1 for the new tokens.
  const T = g.node('Shape', ['input_ids'], { start: attr.int(1), end: attr.int(2) });
  const pastLen = withPast
    ? g.node('Shape', ['past_key_values.0.decoder.key'], { start: attr.int(2), end: attr.int(3) })
    : g.i64([0]);
  const total = g.node('Add', [pastLen, T]);
  const axis0 = g.i64([0]);
  const scalar = (v: string): string => g.node('Squeeze', [v, axis0]);
  const one = g.i64([1], []);
  // With a cache_position input the graph takes the positions from it, as those exports do: a runtime that fed
  // wrong ones would decode differently.
  const positions = spec.extraInputs?.includes('cache_position')
    ? 'cache_position'
    : g.node('Range', [scalar(pastLen), scalar(total), one]);
  const tokens = n.weight('model.decoder.embed_tokens.weight', [spec.vocabSize, d], 'tokenEmbedding');
  const posTable = n.weight(
    'model.decoder.embed_positions.weight',
    [spec.maxTargetPositions, d],
    'decoderPositions',
  );
  let x = g.node('Add', [g.node('Gather', [tokens, 'input_ids']), g.node('Gather', [posTable, positions])]);

  // Causal mask [T, past+T]: key j is hidden from query i when j > past_len + i.
  const keyIdx = g.node('Range', [g.i64([0], []), scalar(total), one]);
  const queryIdx = g.node('Unsqueeze', [positions, g.i64([1])]);
  const future = g.node('Greater', [keyIdx, queryIdx]);
  const mask = g.node('Where', [future, g.f32(-1e9), g.f32(0)]);

  const outputs: string[] = [];
  const crossProbs: string[] = [];
  const { pacing } = spec;
  let layer0: { selfKey: string; crossValue: string } | undefined;
  for (let i = 0; i < spec.decoderLayers; i++) {
    const name = `model.decoder.layers.${i}`;
    const present = (part: string, kv: string): string => out(`present.${i}.${part}.${kv}`);

    n.at(`/${tag}/model/decoder/layers.${i}/self_attn/`);
    let h = n.layerNorm(x, `${name}.self_attn_layer_norm`);
    const q = n.query(h, `${name}.self_attn`);
    const presentSelf = { k: present('decoder', 'key'), v: present('decoder', 'value') };
    const marker = pacing && i === 0 ? { k: tokenMarks(g, pacing) } : {};
    let { k, v } = n.keyValue(h, `${name}.self_attn`, withPast ? {} : presentSelf, false, marker);
    if (withPast) {
      k = g.node('Concat', [`past_key_values.${i}.decoder.key`, k], { axis: attr.int(2) }, presentSelf.k);
      v = g.node('Concat', [`past_key_values.${i}.decoder.value`, v], { axis: attr.int(2) }, presentSelf.v);
    }
    x = g.node('Add', [x, n.attend(q, k, v, `${name}.self_attn`, { mask }).out]);

    n.at(`/${tag}/model/decoder/layers.${i}/encoder_attn/`);
    h = n.layerNorm(x, `${name}.encoder_attn_layer_norm`);
    const qc = n.query(h, `${name}.encoder_attn`, true);
    let kc: string;
    let vc: string;
    if (withPast) {
      // Cross-attention K/V come from the cache; optimum's merged graph returns empty [0,H,1,dh] constants.
      kc = `past_key_values.${i}.encoder.key`;
      vc = `past_key_values.${i}.encoder.value`;
      const empty = {
        type: 'constTensor' as const,
        value: {
          name: '',
          type: 'float32' as const,
          dims: [0, spec.heads, 1, n.headDim],
          data: () => new Float32Array(0),
        },
      };
      g.node('Constant', [], { value: empty }, present('encoder', 'key'));
      g.node('Constant', [], { value: empty }, present('encoder', 'value'));
    } else {
      const kv = n.keyValue(
        'encoder_hidden_states',
        `${name}.encoder_attn`,
        { k: present('encoder', 'key'), v: present('encoder', 'value') },
        true,
        pacing && i === 0 ? { v: extentFromEncoder(g, d) } : {},
      );
      kc = kv.k;
      vc = kv.v;
    }
    const probsName = spec.timestamped ? out(`cross_attentions.${i}`) : undefined;
    const cross = n.attend(qc, kc, vc, `${name}.encoder_attn`, { probsName });
    crossProbs.push(cross.probs);
    if (i === 0) layer0 = { selfKey: k, crossValue: vc };
    x = g.node('Add', [x, cross.out]);

    n.at(`/${tag}/model/decoder/layers.${i}/mlp/`);
    x = g.node('Add', [x, n.feedForward(n.layerNorm(x, `${name}.final_layer_norm`), name)]);
    outputs.push(present('decoder', 'key'), present('decoder', 'value'));
    outputs.push(present('encoder', 'key'), present('encoder', 'value'));
  }

  n.at(`/${tag}/`);
  const hFinal = n.layerNorm(x, 'model.decoder.layer_norm', { final: true });
  const lmHead = n.weight('proj_out.weight_T', [d, spec.vocabSize], 'lmHead');
  if (pacing && layer0) {
    const logits = g.node('MatMul', [hFinal, lmHead]);
    pacedLogits(n, { logits, ...layer0, positions, eot: pacing.eot }, out('logits'));
  } else {
    g.node('MatMul', [hFinal, lmHead], {}, out('logits'));
  }
  outputs.unshift(out('logits'));
  if (spec.timestamped) outputs.push(...crossProbs);
  for (const o of outputs) g.output(o, 'float32');
  return g;
}

export function buildDecoder(spec: ArchSpec, weights: WeightSource): Graph {
  const g = new Graph('main_graph');
  for (const io of decoderInputs(spec)) g.input(io.name, io.type, io.dims);
  const outs = decoderOutputs(spec);
  const net = new Net(g, weights, spec);
  // Build the no-past branch first so initializers appear in the file in a natural order.
  const noPast = buildBranch(g, net, false);
  const withPast = buildBranch(g, net, true);
  g.prefix = '';
  g.nodeN(
    'If',
    ['use_cache_branch'],
    outs.map((o) => o.name),
    { then_branch: { type: 'subgraph', value: withPast }, else_branch: { type: 'subgraph', value: noPast } },
  );
  g.nodes[g.nodes.length - 1].name = 'optimum::if';
  for (const o of outs) g.output(o.name, o.type, o.dims);
  return g;
}
