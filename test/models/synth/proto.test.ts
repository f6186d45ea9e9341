import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ProtoMessage } from '../../../models/onnx/proto.js';
import { Graph, attr, writeModel, encodeModel } from '../../../models/onnx/graph.js';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../../models/synth/variants.js';
import { modelSummary, readFields, readVarint } from './protoreader.js';
import { tempDir } from './helpers.js';

describe('protobuf writer', () => {
  test('varints, negative int64, fixed32 floats and nested messages encode per the wire format', () => {
    const inner = new ProtoMessage().varint(1, 300).string(2, 'hé');
    const m = new ProtoMessage()
      .varint(1, 0)
      .varint(2, -1)
      .float(3, 1.5)
      .message(4, inner)
      .packedVarints(5, [1, -2]);
    const b = m.toBytes();
    assert.equal(b.length, m.size);
    assert.deepEqual([...b.subarray(0, 2)], [0x08, 0x00]);
    // -1 as int64: ten bytes of two's complement.
    assert.deepEqual(
      [...b.subarray(2, 13)],
      [0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    );
    const fields = readFields(b);
    assert.deepEqual(
      fields.map((f) => f.field),
      [1, 2, 3, 4, 5],
    );
    const f3 = fields[2] as { bytes: Uint8Array };
    assert.equal(new DataView(f3.bytes.buffer, f3.bytes.byteOffset).getFloat32(0, true), 1.5);
    const innerFields = readFields((fields[3] as { bytes: Uint8Array }).bytes);
    assert.equal((innerFields[0] as { value: bigint }).value, 300n);
    assert.equal(new TextDecoder().decode((innerFields[1] as { bytes: Uint8Array }).bytes), 'hé');
    const packed = (fields[4] as { bytes: Uint8Array }).bytes;
    const [first, p] = readVarint(packed, 0);
    const [second] = readVarint(packed, p);
    assert.equal(first, 1n);
    assert.equal(BigInt.asIntN(64, second), -2n);
  });

  test('lazy fields are produced at write time and checked against their declared size', () => {
    let calls = 0;
    const m = new ProtoMessage().lazyBytes(9, 3, () => {
      calls++;
      return Uint8Array.of(7, 8, 9);
    });
    assert.equal(m.size, 5);
    assert.equal(calls, 0);
    assert.deepEqual([...m.toBytes()], [0x4a, 3, 7, 8, 9]);
    assert.equal(calls, 1);
    const bad = new ProtoMessage().lazyBytes(9, 4, () => Uint8Array.of(1));
    assert.throws(() => bad.toBytes(), /declared 4/);
  });

  test('writeFile streams the same bytes as toBytes and leaves no temp file', (t) => {
    const dir = tempDir(t);
    const big = new Uint8Array(5_000_000).map((_, i) => i % 251);
    const m = new ProtoMessage()
      .string(1, 'x')
      .lazyBytes(2, big.length, () => big)
      .varint(3, 42);
    const path = join(dir, 'm.bin');
    m.writeFile(path);
    assert.deepEqual(readFileSync(path), Buffer.from(m.toBytes()));
    assert.deepEqual(readdirSync(dir), ['m.bin']);
  });
});

describe('float16 conversion', () => {
  test('exact values, rounding to nearest even, subnormals, overflow and NaN', () => {
    assert.equal(float32ToFloat16Bits(1), 0x3c00);
    assert.equal(float32ToFloat16Bits(-2), 0xc000);
    assert.equal(float32ToFloat16Bits(65504), 0x7bff);
    assert.equal(float32ToFloat16Bits(1e6), 0x7c00);
    assert.equal(float32ToFloat16Bits(2 ** -24), 0x0001);
    assert.equal(float32ToFloat16Bits(2 ** -26), 0);
    assert.equal(float32ToFloat16Bits(1 + 2 ** -11), 0x3c00); // tie -> even
    assert.equal(float32ToFloat16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie -> even (up)
    assert.ok(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(NaN))));
    for (const x of [0.1, -3.14159, 1234.5, 6.1e-5, 1e-7]) {
      const y = float16BitsToFloat32(float32ToFloat16Bits(x));
      assert.ok(Math.abs(y - x) <= Math.abs(x) * 2 ** -10 + 2 ** -25, `${x} -> ${y}`);
    }
  });
});

describe('graph builder', () => {
  test('a built graph runs in onnxruntime, with If subgraphs reading outer-scope initializers', async (t) => {
    const g = new Graph('main_graph');
    g.input('x', 'float32', ['batch_size', 3]);
    g.input('flag', 'bool', [1]);
    const w = g.init('w', 'float32', [3, 2], () => Float32Array.of(1, 2, 3, 4, 5, 6));
    g.init('unused', 'float32', [2], () => Float32Array.of(9, 9));
    const thenG = g.subgraph('then');
    thenG.output(thenG.node('MatMul', ['x', w]), 'float32');
    const elseG = g.subgraph('else');
    elseG.output(elseG.node('Mul', [elseG.node('MatMul', ['x', w]), elseG.f32(-1)]), 'float32');
    g.nodeN('If', ['flag'], ['y'], {
      then_branch: { type: 'subgraph', value: thenG },
      else_branch: { type: 'subgraph', value: elseG },
    });
    g.node('Transpose', ['y'], { perm: attr.ints([1, 0]) }, 'yt');
    g.output('y', 'float32', ['batch_size', 2]);
    g.output('yt', 'float32', [2, 'batch_size']);

    const path = join(tempDir(t), 'g.onnx');
    writeModel(path, g);
    const summary = modelSummary(readFileSync(path));
    assert.equal(summary.irVersion, 8n);
    assert.deepEqual(summary.opsets, [{ domain: '', version: 17n }]);
    assert.ok(!summary.initializers.includes('unused'), 'unused initializers are pruned');
    assert.ok(summary.initializers.includes('w'));
    assert.deepEqual(readFileSync(path), Buffer.from(encodeModel(g).toBytes()));

    const s = await ort.InferenceSession.create(path);
    const x = new ort.Tensor('float32', Float32Array.of(1, 0, -1, 2, 1, 0), [2, 3]);
    const on = await s.run({ x, flag: new ort.Tensor('bool', [true], [1]) });
    assert.deepEqual([...(on.y.data as Float32Array)], [-4, -4, 5, 8]);
    assert.deepEqual(on.yt.dims, [2, 2]);
    const off = await s.run({ x, flag: new ort.Tensor('bool', [false], [1]) });
    assert.deepEqual([...(off.y.data as Float32Array)], [4, 4, -5, -8]);
    await s.release();
  });
});
