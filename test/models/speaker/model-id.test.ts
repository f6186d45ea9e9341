import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadBuiltinParams } from '../../../models/speaker/builtin-params.js';
import { builtinModelId, modelFileId, speakerModelId } from '../../../models/speaker/model-id.js';

/** Model ids decide whether a stored voiceprint can be compared with this server's embeddings. */

const dir = mkdtempSync(join(tmpdir(), 'earshot-model-id-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the built-in id follows its parameters, not their provenance', () => {
  const p = loadBuiltinParams();
  assert.equal(builtinModelId(p), builtinModelId());
  assert.equal(builtinModelId({ ...p, provenance: 'retold' }), builtinModelId(p));
  const retrained = { ...p, projection: p.projection.map((x, i) => (i === 0 ? x + 1e-6 : x)) };
  assert.notEqual(builtinModelId(retrained), builtinModelId(p));
  assert.equal(speakerModelId({ name: 'builtin' }), builtinModelId());
});

test("a model file's id follows its bytes; a directory's, its model.onnx", () => {
  writeFileSync(join(dir, 'a.onnx'), 'one');
  writeFileSync(join(dir, 'b.onnx'), 'one');
  writeFileSync(join(dir, 'c.onnx'), 'two');
  const [a, b, c] = ['a', 'b', 'c'].map((f) => modelFileId(join(dir, `${f}.onnx`)));
  assert.match(a, /^a\.onnx-[0-9a-f]{12}$/);
  assert.equal(a.slice(-12), b.slice(-12), 'same bytes, same hash');
  assert.notEqual(a.slice(-12), c.slice(-12));
  mkdirSync(join(dir, 'm'));
  writeFileSync(join(dir, 'm', 'model.onnx'), 'two');
  assert.equal(modelFileId(join(dir, 'm')).slice(-12), c.slice(-12));
});
