// End-of-text pacing for random-weight models. Random weights never predict <|endoftext|>, so every window would
// decode to the token limit, far slower than a real model, which ends after ~3 tokens per second of speech. The
// graph adds that behaviour the way a trained model could have learnt it, with the real decoding left untouched:
//  - the encoder writes an "audio extent" into the last channel of last_hidden_state: per encoder frame, the
//    share of its two log-mel frames above the padding floor (Whisper pads every window to 30 s with zeros);
//  - layer 0's cross-attention values carry that channel in their last slot, so every decoding step reads it
//    back from the KV cache; two layer-0 self-attention key slots mark, per token, <|startoftranscript|> and
//    "text or timestamp", so the graph counts the tokens decoded so far, whatever the prompt (previous text,
//    language, task, <|notimestamps|>);
//  - the <|endoftext|> logit gets a bias that grows with the tokens decoded past 3 per second of audio.
// Text and timestamp logits stay those of the random weights.
import { type Graph, attr } from '../onnx/graph.js';
import type { ArchSpec, ChannelSignal, Net } from './layers.js';

/** Real Whisper's speaking rate, timestamps included. */
const TOKENS_PER_SECOND = 3;
/** Logit gained per token decoded past the rate: the bias is 0 there and wins a token or two later. */
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
  return n.replaceLastChannels(hidden, { signal: extent, channels: 1 }, out);
}

/** Decoder, layer 0 self-attention key slots, per token: [is text or timestamp, is <|startoftranscript|>]. */
export function tokenMarks(g: Graph, pacing: NonNullable<ArchSpec['pacing']>): ChannelSignal {
  const ids = 'input_ids';
  const special = g.node('And', [
    g.node('GreaterOrEqual', [ids, g.i64([pacing.eot], [])]),
    g.node('Less', [ids, g.i64([pacing.timestampBegin], [])]),
  ]);
  const isSot = g.node('Equal', [ids, g.i64([pacing.sot], [])]);
  const asChannel = (b: string): string =>
    g.node('Unsqueeze', [g.node('Cast', [b], { to: attr.int(1) }), g.i64([2])]);
  const signal = g.node('Concat', [asChannel(g.node('Not', [special])), asChannel(isSot)], {
    axis: attr.int(2),
  });
  return { signal, channels: 2 };
}

/** Decoder, layer 0 cross-attention value slot: the encoder's extent channel. */
export function extentFromEncoder(g: Graph, d: number): ChannelSignal {
  const signal = g.node('Slice', ['encoder_hidden_states', g.i64([d - 1]), g.i64([d]), g.i64([2])]);
  return { signal, channels: 1 };
}

/** [B,H,L,dh] -> [B,L]: the last head's dimension dh - back. */
function slot(g: Graph, x: string, n: Net, back: number): string {
  const head = g.node('Gather', [x, g.i64([n.spec.heads - 1], [])], { axis: attr.int(1) });
  return g.node('Gather', [head, g.i64([n.headDim - back], [])], { axis: attr.int(2) });
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
  const axis1 = g.i64([1], []);
  // Text and timestamp tokens from <|startoftranscript|> on, counted up to each position of this step.
  const started = g.node('CumSum', [slot(g, io.selfKey, n, 1), axis1]);
  const counted = g.node('Mul', [started, slot(g, io.selfKey, n, 2)]);
  const decodedUpTo = g.node('CumSum', [counted, axis1]);
  const decoded = g.node('Gather', [decodedUpTo, io.positions], { axis: attr.int(1) });
  const extent = slot(g, io.crossValue, n, 1);
  const seconds = g.node('Mul', [
    g.node('ReduceSum', [extent, g.i64([1])], { keepdims: attr.int(1) }),
    g.f32(ENCODER_FRAME_SECONDS),
  ]);
  const expectedEnd = g.node('Mul', [seconds, g.f32(TOKENS_PER_SECOND)]);
  const ramp = g.node('Mul', [g.node('Sub', [decoded, expectedEnd]), g.f32(SLOPE)]);
  const bias = g.node('Clip', [ramp, g.f32(-BOUND), g.f32(BOUND)]);
  const eotColumn = g.initOnce('synth.eot_column', 'float32', [n.spec.vocabSize], () => {
    const col = new Float32Array(n.spec.vocabSize);
    col[io.eot] = 1;
    return col;
  });
  const eotBias = g.node('Mul', [g.node('Unsqueeze', [bias, g.i64([2])]), eotColumn]);
  return g.node('Add', [io.logits, eotBias], {}, out);
}
