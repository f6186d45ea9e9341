// Deterministic pseudo-random weights. Every tensor is generated from (seed, tensor name) alone, so the encoder,
// the decoder and their fp16/q8 variants can be produced in any order, lazily, and always byte-identically.

/** What a weight is for; decides its scale (and, for scripted models, its special construction). */
export type WeightRole =
  | 'conv'
  | 'convBias'
  | 'linear'
  | 'bias'
  /** Projections that write into the residual stream (attention out_proj, fc2). */
  | 'residualLinear'
  | 'residualBias'
  /** Decoder cross-attention (encoder_attn) query/key projections: scripted models aim them at audio times. */
  | 'crossQuery'
  | 'crossQueryBias'
  | 'crossKey'
  | 'lnWeight'
  | 'lnBias'
  | 'finalLnWeight'
  | 'finalLnBias'
  | 'encoderPositions'
  | 'decoderPositions'
  | 'tokenEmbedding'
  | 'lmHead';

/** Produces the float32 data of a named weight; called lazily, at write time. */
export type WeightSource = (name: string, dims: readonly number[], role: WeightRole) => Float32Array;

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Uniform noise with standard deviation `std` (mulberry32 stream keyed by seed and name). */
export function uniformNoise(seed: number, name: string, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  let a = fnv1a(`${seed >>> 0}:${name}`) | 0;
  // Uniform on [-sqrt(3)·std, sqrt(3)·std) has standard deviation std.
  const scale = (2 * Math.sqrt(3) * std) / 4294967296;
  const shift = Math.sqrt(3) * std;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = ((t ^ (t >>> 14)) >>> 0) * scale - shift;
  }
  return out;
}

/** Whisper's fixed sinusoidal encoder position table (openai whisper/model.py sinusoids). */
export function sinusoids(length: number, channels: number): Float32Array {
  const out = new Float32Array(length * channels);
  const half = channels / 2;
  const inc = Math.log(10000) / (half - 1);
  for (let t = 0; t < length; t++) {
    for (let i = 0; i < half; i++) {
      const x = t * Math.exp(-inc * i);
      out[t * channels + i] = Math.sin(x);
      out[t * channels + half + i] = Math.cos(x);
    }
  }
  return out;
}

function fill(n: number, v: number): Float32Array {
  return new Float32Array(n).fill(v);
}

/**
 * Plain random model: fan-in scaled weights keep activations O(1) through the pre-LN stack, and an untied LM
 * head gives logits with spread (a tied random head would just echo the input token).
 */
export function randomWeights(seed: number): WeightSource {
  return (name, dims, role) => {
    const n = dims.reduce((a, b) => a * b, 1);
    switch (role) {
      case 'conv':
        return uniformNoise(seed, name, n, 1 / Math.sqrt(dims[1] * dims[2]));
      case 'linear':
      case 'residualLinear':
      case 'crossQuery':
      case 'crossKey':
      case 'lmHead':
        return uniformNoise(seed, name, n, 1 / Math.sqrt(dims[0]));
      case 'convBias':
      case 'bias':
      case 'residualBias':
      case 'crossQueryBias':
      case 'lnBias':
      case 'finalLnBias':
        return uniformNoise(seed, name, n, 0.05);
      case 'lnWeight':
      case 'finalLnWeight': {
        const w = uniformNoise(seed, name, n, 0.1);
        for (let i = 0; i < n; i++) w[i] += 1;
        return w;
      }
      case 'encoderPositions':
        return sinusoids(dims[0], dims[1]);
      case 'decoderPositions':
        return uniformNoise(seed, name, n, 0.5);
      case 'tokenEmbedding':
        return uniformNoise(seed, name, n, 1);
    }
  };
}

/** Peak cross-attention logit of a scripted model: a sharp peak, yet no probability underflows to 0. */
const CROSS_ATTENTION_SHARPNESS = 40;
/** Time-code frequencies (rad per encoder frame): the lowest spans the 1500 frames once, the highest sharpens. */
const TIME_CODE_MIN = Math.PI / 2 / 1500;
const TIME_CODE_MAX = 0.2;

function timeCodeFrequencies(pairs: number): number[] {
  const ratio = (TIME_CODE_MAX / TIME_CODE_MIN) ** (1 / Math.max(1, pairs - 1));
  return Array.from({ length: pairs }, (_, j) => TIME_CODE_MIN * ratio ** j);
}

/**
 * Scripted model (reference design §6.3): decoder position p carries a large direction u_p that dominates the
 * residual stream, every residual branch and the token embeddings are scaled down, and the LM head column of the
 * token wanted after position p is 5·u_p/|u_p|. The final LayerNorm maps the stream to ≈ √d·u_p/|u_p|, so
 * position p predicts its target with a logit ≈ 5√d whatever the audio and the earlier tokens.
 *
 * Word timing: the encoder output is made audio-independent too (convs and residual branches scaled down) and
 * dominated by a time code, J sine/cosine pairs of frame t at geometric frequencies ω_j. Every cross-attention
 * head scores frame t for position p as A·mean_j cos(ω_j (t − f(p))), a kernel that peaks sharply at frame
 * f(p), the time of the token p predicts: DTW over these rows recovers the script's timing.
 *
 * `targets[p]` is the token to predict at decoder position p (-1 for none); `frames[p]` the encoder frame its
 * cross-attention should peak at (undefined: attend evenly).
 */
export function scriptedWeights(
  seed: number,
  targets: readonly number[],
  frames: readonly (number | undefined)[],
  arch: { dModel: number; heads: number; maxTargetPositions: number },
): WeightSource {
  const maxPositions = arch.maxTargetPositions;
  if (targets.length > maxPositions) throw new Error('internal: script longer than the decoder context');
  const base = randomWeights(seed);
  let positions: Float32Array | undefined;
  const positionTable = (d: number): Float32Array => {
    positions ??= directions(seed, 'script-directions', maxPositions, d);
    return positions;
  };
  const dh = arch.dModel / arch.heads;
  const omega = timeCodeFrequencies(Math.min(8, dh / 2));
  const J = omega.length;
  // Orthonormal, zero-mean axes of the encoder's time code: rows 2j and 2j+1 carry cos(ω_j t) and sin(ω_j t).
  let axes: Float32Array | undefined;
  const timeAxes = (d: number): Float32Array => {
    axes ??= directions(seed, 'encoder-time-code', 2 * J, d);
    return axes;
  };
  const scaled = (name: string, dims: readonly number[], role: WeightRole, k: number): Float32Array => {
    const w = base(name, dims, role);
    for (let i = 0; i < w.length; i++) w[i] *= k;
    return w;
  };
  return (name, dims, role) => {
    const n = dims.reduce((a, b) => a * b, 1);
    switch (role) {
      case 'decoderPositions': {
        const [rows, d] = dims;
        if (rows !== maxPositions) throw new Error('internal: position table size mismatch');
        const unit = positionTable(d);
        const radius = 10 * Math.sqrt(d);
        return unit.map((x) => x * radius);
      }
      case 'encoderPositions': {
        // Constant norm (Σ cos² + sin² = J), so the encoder's final LayerNorm maps it to √d·code_t/|code_t|.
        const [rows, d] = dims;
        const ax = timeAxes(d);
        const radius = (10 * Math.sqrt(d)) / Math.sqrt(J);
        const out = new Float32Array(n);
        for (let t = 0; t < rows; t++) {
          for (let j = 0; j < J; j++) {
            const c = Math.cos(omega[j] * t) * radius;
            const s = Math.sin(omega[j] * t) * radius;
            for (let i = 0; i < d; i++) out[t * d + i] += c * ax[2 * j * d + i] + s * ax[(2 * j + 1) * d + i];
          }
        }
        return out;
      }
      case 'tokenEmbedding':
        return uniformNoise(seed, name, n, 0.02);
      case 'conv':
      case 'convBias':
      case 'residualLinear':
      case 'residualBias':
        return scaled(name, dims, role, 0.01);
      case 'finalLnWeight':
        return fill(n, 1);
      case 'finalLnBias':
      case 'crossQueryBias':
        return fill(n, 0);
      case 'crossKey': {
        // Key dims 2j, 2j+1 of every head read the time code: √d/√J·(cos ω_j t, sin ω_j t).
        const [d, out] = dims;
        const w = scaled(name, dims, role, 0.01);
        const ax = timeAxes(d);
        for (let h = 0; h < arch.heads; h++) {
          for (let k = 0; k < 2 * J; k++) {
            for (let i = 0; i < d; i++) w[i * out + h * dh + k] += ax[k * d + i];
          }
        }
        return w;
      }
      case 'crossQuery': {
        // Position p (≈ √d·u_p after LayerNorm) queries g·(cos ω_j f, sin ω_j f) in every head; with the
        // dh^-0.5 scaling the score is A/J·Σ_j cos(ω_j (t − f)).
        const [d, out] = dims;
        const w = scaled(name, dims, role, 0.01);
        const unit = positionTable(d);
        const gain = (CROSS_ATTENTION_SHARPNESS * Math.sqrt(dh)) / (d * Math.sqrt(J));
        frames.forEach((f, p) => {
          if (f === undefined) return;
          for (let j = 0; j < J; j++) {
            const c = Math.cos(omega[j] * f) * gain;
            const s = Math.sin(omega[j] * f) * gain;
            for (let h = 0; h < arch.heads; h++) {
              for (let i = 0; i < d; i++) {
                w[i * out + h * dh + 2 * j] += c * unit[p * d + i];
                w[i * out + h * dh + 2 * j + 1] += s * unit[p * d + i];
              }
            }
          }
        });
        return w;
      }
      case 'lmHead': {
        const [d, vocab] = dims;
        const w = uniformNoise(seed, name, n, 0.02);
        const unit = positionTable(d);
        targets.forEach((tok, p) => {
          if (tok < 0) return;
          for (let i = 0; i < d; i++) w[i * vocab + tok] += 5 * unit[p * d + i];
        });
        return w;
      }
      default:
        return base(name, dims, role);
    }
  };
}

/**
 * Unit vectors, one per row, orthogonal to the all-ones vector (so LayerNorm's mean subtraction leaves them
 * unchanged). The first d-1 rows are mutually orthogonal too, so short scripts have no cross-talk at all.
 */
function directions(seed: number, name: string, rows: number, d: number): Float32Array {
  const raw = uniformNoise(seed, `${name}#directions`, rows * d, 1);
  const out = new Float32Array(rows * d);
  const basis: Float64Array[] = [new Float64Array(d).fill(1 / Math.sqrt(d))];
  for (let r = 0; r < rows; r++) {
    const v = Float64Array.from(raw.subarray(r * d, (r + 1) * d));
    const against = basis.length < d ? basis : basis.slice(0, 1);
    for (const b of against) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += v[i] * b[i];
      for (let i = 0; i < d; i++) v[i] -= dot * b[i];
    }
    let norm = 0;
    for (let i = 0; i < d; i++) norm += v[i] * v[i];
    norm = Math.sqrt(norm);
    for (let i = 0; i < d; i++) v[i] /= norm;
    if (basis.length < d) basis.push(v);
    out.set(v, r * d);
  }
  return out;
}
