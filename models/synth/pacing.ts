// End-of-text pacing for random-weight models. Random weights never predict <|endoftext|>, so every window would
// decode to the token limit, far slower than a real model, which ends after ~3 tokens per second of speech. The
// graph adds that behaviour the way a trained model could have learnt it, with the real decoding left untouched:
//  - the encoder writes an "audio extent" into the last channel of last_hidden_state: per encoder frame, the
//    share of its two log-mel frames above the padding floor (Whisper pads every window to 30 s with zeros);
//  - the decoder's layer-0 cross-attention values carry that channel in their last slot, so the extent reaches
//    every step through the KV cache; a layer-0 self-attention key slot marks <|startoftranscript|> the same way,
//    so a previous-text prompt does not count as decoded text;
//  - the <|endoftext|> logit gets a bias that grows with the tokens decoded past 3 per second of audio.
// Text and timestamp logits stay those of the random weights.
import { type Graph, attr } from '../onnx/graph.js';
import type { Net } from './layers.js';

/** Real Whisper's speaking rate, timestamps included. */
const TOKENS_PER_SECOND = 3;
/** Tokens past the rate before <|endoftext|> is likely: the prompt's special tokens and the closing timestamps. */
const LEAD_TOKENS = 1;
/** Logit gained per token past the expected end: ends within a few tokens, still decided by the random logits. */
const SLOPE = 3;
/** Bias range: far from the end it neither wins nor drowns the other logits' scale. */
const BOUND = 40;
const ENCODER_FRAME_SECONDS = 0.02;
/** Whisper's log-mel after (max(log10 mel, max - 8) + 4) / 4: zeros read log10(1e-10) = -10, i.e. -1.5. */
const ZERO_LOG_MEL = (-10 + 4) / 4;
const DYNAMIC_RANGE = 8 / 4;
const ABOVE_FLOOR = 0.01;

/** Encoder: `hidden` [B,1500,d] with its last channel replaced by the audio extent of `features` [B,mels,3000]. */
export function withAudioExtent(n: Net, features: string, hidden: string, out: string): string {
  const g = n.g;
  const frameMax = g.node('ReduceMax', [features], { axes: attr.ints([1]), keepdims: attr.int(0) });
  const windowMax = g.node('ReduceMax', [frameMax], { axes: attr.ints([1]), keepdims: attr.int(1) });
  // The padding's value: the clamp at max - 8 unless the window is all zeros.
  const floor = g.node('Max', [g.node('Sub', [windowMax, g.f32(DYNAMIC_RANGE)]), g.f32(ZERO_LOG_MEL)]);
  const audible = g.node('Greater', [frameMax, g.node('Add', [floor, g.f32(ABOVE_FLOOR)])]);
  const perMelFrame = g.node('Cast', [audible], { to: attr.int(1) });
  // Two log-mel frames per encoder frame (conv2 has stride 2).
  const pairs = g.node('Reshape', [perMelFrame, g.i64([0, -1, 2])]);
  const extent = g.node('ReduceMean', [pairs], { axes: attr.ints([2]), keepdims: attr.int(1) });
  return n.replaceLastChannel(hidden, extent, out);
}

/** Decoder, layer 0 self-attention: the key slot that marks <|startoftranscript|> ([B,T,1], 1 on it, else 0). */
export function startMarker(g: Graph, sot: number): string {
  const isSot = g.node('Equal', ['input_ids', g.i64([sot], [])]);
  return g.node('Unsqueeze', [g.node('Cast', [isSot], { to: attr.int(1) }), g.i64([2])]);
}

/** Decoder, layer 0 cross-attention: the value slot that carries the encoder's extent channel ([B,F,1]). */
export function extentFromEncoder(g: Graph, d: number): string {
  return g.node('Slice', ['encoder_hidden_states', g.i64([d - 1]), g.i64([d]), g.i64([2])]);
}

/** [B,H,L,dh] -> [B,L]: the last head's last dimension. */
function lastSlot(g: Graph, x: string, heads: number, headDim: number): string {
  const head = g.node('Gather', [x, g.i64([heads - 1], [])], { axis: attr.int(1) });
  return g.node('Gather', [head, g.i64([headDim - 1], [])], { axis: attr.int(2) });
}

/**
 * `logits` [B,T,V] plus the <|endoftext|> bias. `selfKey` and `crossValue` are layer 0's full self-attention
 * keys and cross-attention values [B,H,L,dh]; `positions` [T] the absolute positions of this step's tokens.
 */
export function pacedLogits(
  n: Net,
  io: { logits: string; selfKey: string; crossValue: string; positions: string; eot: number },
  out: string,
): string {
  const g = n.g;
  const { heads, vocabSize } = n.spec;
  const sotAt = g.node('ArgMax', [lastSlot(g, io.selfKey, heads, n.headDim)], {
    axis: attr.int(1),
    keepdims: attr.int(1),
  });
  const after = g.node('Cast', [g.node('Sub', [io.positions, sotAt])], { to: attr.int(1) });
  const extent = lastSlot(g, io.crossValue, heads, n.headDim);
  const seconds = g.node('Mul', [
    g.node('ReduceSum', [extent, g.i64([1])], { keepdims: attr.int(1) }),
    g.f32(ENCODER_FRAME_SECONDS),
  ]);
  const expectedEnd = g.node('Add', [g.node('Mul', [seconds, g.f32(TOKENS_PER_SECOND)]), g.f32(LEAD_TOKENS)]);
  const ramp = g.node('Mul', [g.node('Sub', [after, expectedEnd]), g.f32(SLOPE)]);
  const bias = g.node('Clip', [ramp, g.f32(-BOUND), g.f32(BOUND)]);
  const eotColumn = g.initOnce('synth.eot_column', 'float32', [vocabSize], () => {
    const col = new Float32Array(vocabSize);
    col[io.eot] = 1;
    return col;
  });
  const eotBias = g.node('Mul', [g.node('Unsqueeze', [bias, g.i64([2])]), eotColumn]);
  return g.node('Add', [io.logits, eotBias], {}, out);
}
