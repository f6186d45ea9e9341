import ort from 'onnxruntime-node';
import { float32ToFloat16Bits, halfToFloat } from './float16.js';

export { halfToFloat };

export function toFloat32(t: ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') {
    const src = t.data as Uint16Array;
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]);
    return out;
  }
  throw new Error(`expected a float tensor, got ${t.type}`);
}

/** A float tensor of the type a graph declares for an input, converting from float32 when it wants float16. */
export function floatTensor(type: string, data: Float32Array, dims: readonly number[]): ort.Tensor {
  if (type === 'float16') {
    const half = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) half[i] = float32ToFloat16Bits(data[i]);
    return new ort.Tensor('float16', half, dims);
  }
  return new ort.Tensor('float32', data, dims);
}

export function emptyTensor(type: string, dims: readonly number[]): ort.Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  if (type === 'float16') return new ort.Tensor('float16', new Uint16Array(n), dims);
  if (type === 'float32') return new ort.Tensor('float32', new Float32Array(n), dims);
  throw new Error(`unsupported cache type ${type}`);
}

/** Keeps the given rows (axis 0) of a tensor, in the given order. */
export function selectRows(t: ort.Tensor, rows: readonly number[]): ort.Tensor {
  const b = t.dims[0];
  const data = t.data as Float32Array | Uint16Array;
  const rowSize = b === 0 ? 0 : data.length / b;
  const Ctor = data.constructor as Float32ArrayConstructor | Uint16ArrayConstructor;
  const out = new Ctor(rowSize * rows.length);
  rows.forEach((r, i) => out.set(data.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize));
  return new ort.Tensor(t.type as 'float32', out as Float32Array, [rows.length, ...t.dims.slice(1)]);
}

/** Stacks same-shaped tensors along a new leading batch axis (each input's leading axis is 1 or absent). */
export function stackRows(parts: readonly Float32Array[], dims: readonly number[]): ort.Tensor {
  const size = parts[0]?.length ?? 0;
  const out = new Float32Array(size * parts.length);
  parts.forEach((p, i) => out.set(p, i * size));
  return new ort.Tensor('float32', out, [parts.length, ...dims]);
}

/** Concatenates float32 tensors along axis 0. */
export function concatRows(parts: readonly ort.Tensor[]): ort.Tensor {
  const total = parts.reduce((n, p) => n + (p.data as Float32Array).length, 0);
  const out = new Float32Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p.data as Float32Array, o);
    o += (p.data as Float32Array).length;
  }
  return new ort.Tensor('float32', out, [
    parts.reduce((n, p) => n + p.dims[0], 0),
    ...parts[0].dims.slice(1),
  ]);
}
