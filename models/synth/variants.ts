// Graph rewrites that turn an fp32 model into the onnx-community dtype variants:
//  - q8 (`_quantized`): what onnxruntime's quantize_dynamic emits for MatMul weights: int8 weights with a
//    per-tensor scale, DynamicQuantizeLinear on the activation, MatMulInteger, Cast, Mul (ORT fuses the four
//    into DynamicQuantizeMatMul).
//  - fp16 (`_fp16`): fp16 initializers behind Cast nodes, float32 inputs/outputs (keep_io_types=True).
import { type Graph, type Initializer, type NodeDef, attr, numel } from '../onnx/graph.js';
import { TensorDataType } from '../onnx/proto.js';
import { float32ToFloat16Bits } from '../onnx/float16.js';

export { float32ToFloat16Bits };

export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function toFloat16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = float32ToFloat16Bits(src[i]);
  return out;
}

/** Stores every float32 weight (not the few scalar constants) as float16 and casts it back at load time. */
export function convertToFp16(root: Graph): void {
  const casts: Graph['nodes'] = [];
  for (const t of [...root.initializers.values()]) {
    if (t.type !== 'float32' || numel(t.dims) < 16) continue;
    const name16 = root.freshName(`${t.name}_fp16`);
    const gen = t.data;
    root.initializers.delete(t.name);
    root.init(name16, 'float16', t.dims, () => toFloat16(gen() as Float32Array));
    casts.push({
      op: 'Cast',
      name: root.freshName(`${t.name}_cast`),
      inputs: [name16],
      outputs: [t.name],
      attrs: { to: attr.int(TensorDataType.FLOAT) },
    });
  }
  root.nodes.unshift(...casts);
}

interface Quantized {
  q?: Int8Array;
  scale?: number;
}

/**
 * Symmetric per-tensor int8 (zero point 0), onnxruntime's QInt8 weight scheme with its reduce_range: 7-bit weights.
 * x86 CPUs without VNNI (AVX2) multiply u8 activations by s8 weights with an instruction that saturates pairs of
 * products at int16; full-range weights then lose the outputs (correlation with fp32 0.96 on such a machine).
 */
function quantizeInt8(w: Float32Array): { q: Int8Array; scale: number } {
  const LEVELS = 63;
  let maxAbs = 0;
  for (let i = 0; i < w.length; i++) maxAbs = Math.max(maxAbs, Math.abs(w[i]));
  const scale = maxAbs > 0 ? maxAbs / LEVELS : 1;
  const q = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) q[i] = Math.max(-LEVELS, Math.min(LEVELS, Math.round(w[i] / scale)));
  return { q, scale: Math.fround(scale) };
}

/** Rewrites every MatMul whose right operand is a 2-D float32 weight into the dynamic-quantization pattern. */
export function quantizeMatMulsQ8(root: Graph): void {
  const done = new Map<string, { q: string; scale: string; zp: string }>();
  const weightOf = (name: string): Initializer | undefined => {
    const t = root.initializers.get(name);
    return t && t.type === 'float32' && t.dims.length === 2 ? t : undefined;
  };
  const quantInits = (t: Initializer): { q: string; scale: string; zp: string } => {
    let names = done.get(t.name);
    if (names) return names;
    const memo: Quantized = {};
    const compute = (): { q: Int8Array; scale: number } => quantizeInt8(t.data() as Float32Array);
    // Weights are produced lazily at write time; share one quantization between the int8 data and its scale.
    const q = root.init(root.freshName(`${t.name}_quantized`), 'int8', t.dims, () => {
      const r = compute();
      memo.scale = r.scale;
      return r.q;
    });
    const scale = root.init(root.freshName(`${t.name}_scale`), 'float32', [], () => {
      const s = memo.scale ?? compute().scale;
      memo.scale = undefined;
      return Float32Array.of(s);
    });
    const zp = root.init(root.freshName(`${t.name}_zero_point`), 'int8', [], () => Int8Array.of(0));
    names = { q, scale, zp };
    done.set(t.name, names);
    return names;
  };

  for (const g of root.allGraphs()) {
    const rewritten: Graph['nodes'] = [];
    for (const n of g.nodes) {
      const t = n.op === 'MatMul' ? weightOf(n.inputs[1]) : undefined;
      if (!t) {
        rewritten.push(n);
        continue;
      }
      const w = quantInits(t);
      const a = n.inputs[0];
      const base = n.name;
      const aq = g.freshName(`${a}_quantized`);
      const aScale = g.freshName(`${a}_scale`);
      const aZp = g.freshName(`${a}_zero_point`);
      const scales = g.freshName(`${base}_scales_mul`);
      const acc = g.freshName(`${base}_output_quantized`);
      const accF = g.freshName(`${base}_output_quantized_cast`);
      rewritten.push(
        {
          op: 'DynamicQuantizeLinear',
          name: g.freshName(`${a}_QuantizeLinear`),
          inputs: [a],
          outputs: [aq, aScale, aZp],
          attrs: {},
        },
        {
          op: 'Mul',
          name: g.freshName(`${base}_scales_mul`),
          inputs: [aScale, w.scale],
          outputs: [scales],
          attrs: {},
        },
        {
          op: 'MatMulInteger',
          name: g.freshName(`${base}_quant`),
          inputs: [aq, w.q, aZp, w.zp],
          outputs: [acc],
          attrs: {},
        },
        {
          op: 'Cast',
          name: g.freshName(`${base}_cast`),
          inputs: [acc],
          outputs: [accF],
          attrs: { to: attr.int(TensorDataType.FLOAT) },
        },
        {
          op: 'Mul',
          name: g.freshName(`${base}_mul`),
          inputs: [accF, scales],
          outputs: n.outputs,
          attrs: {},
        },
      );
    }
    g.nodes.splice(0, g.nodes.length, ...rewritten);
  }
}

/**
 * float16 graph IO (exports made without keep_io_types): the named inputs are declared float16 and cast to float32
 * on entry, the named outputs are computed in float32 and cast to float16 on exit. Runtimes must read IO types from
 * the session and convert; the float32 math inside keeps results comparable with the fp32 file.
 */
export function float16Io(g: Graph, io: { inputs: readonly string[]; outputs: readonly string[] }): void {
  const all = g.allGraphs();
  const casts: NodeDef[] = [];
  for (const name of io.inputs) {
    const decl = g.inputs.find((i) => i.name === name);
    if (!decl) throw new Error(`internal: no graph input ${name}`);
    decl.type = 'float16';
    const inner = g.freshName(`${name}/float32`);
    for (const sub of all)
      for (const n of sub.nodes) n.inputs = n.inputs.map((x) => (x === name ? inner : x));
    casts.push({
      op: 'Cast',
      name: g.freshName(`${name}/cast`),
      inputs: [name],
      outputs: [inner],
      attrs: { to: attr.int(1) },
    });
  }
  g.nodes.unshift(...casts);
  for (const name of io.outputs) {
    const decl = g.outputs.find((o) => o.name === name);
    const producer = g.nodes.find((n) => n.outputs.includes(name));
    if (!decl || !producer) throw new Error(`internal: no graph output ${name}`);
    decl.type = 'float16';
    const inner = g.freshName(`${name}/float32`);
    producer.outputs = producer.outputs.map((x) => (x === name ? inner : x));
    g.nodes.push({
      op: 'Cast',
      name: g.freshName(`${name}/cast`),
      inputs: [inner],
      outputs: [name],
      attrs: { to: attr.int(10) },
    });
  }
}
