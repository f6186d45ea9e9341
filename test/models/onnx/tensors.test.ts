import assert from 'node:assert/strict';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import { float32ToFloat16Bits, halfToFloat } from '../../../models/onnx/float16.js';
import { floatTensor, selectRows, toFloat32 } from '../../../models/onnx/tensors.js';

test('float16 round-trips within half precision', () => {
  for (const v of [0, 1, -1, 0.5, 65504, -2.5e-5, 3.14159, 1e-8, 7e4]) {
    const back = halfToFloat(float32ToFloat16Bits(v));
    if (Math.abs(v) <= 65504) assert.ok(Math.abs(back - v) <= Math.abs(v) * 1e-3 + 6e-8, `${v} -> ${back}`);
    else assert.equal(back, Infinity);
  }
});

test('float16 logits and caches become float32; float16 inputs are fed as float16', () => {
  const half = floatTensor('float16', new Float32Array([1.5, -2, 0.25]), [1, 3]);
  assert.equal(half.type, 'float16');
  assert.deepEqual(Array.from(toFloat32(half)), [1.5, -2, 0.25]);
  const rows = selectRows(
    new ort.Tensor(
      'float32',
      Float32Array.from({ length: 6 }, (_, i) => i),
      [3, 2],
    ),
    [2, 0],
  );
  assert.deepEqual(rows.dims, [2, 2]);
  assert.deepEqual(Array.from(rows.data as Float32Array), [4, 5, 0, 1]);
});
