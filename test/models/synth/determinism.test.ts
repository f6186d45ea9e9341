import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { synthesizeWhisper, type SynthOptions } from '../../../models/synth/index.js';
import { tempDir } from './helpers.js';

function files(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const f of readdirSync(dir, { recursive: true }) as string[]) {
    if (f.endsWith('.json') || f.endsWith('.onnx')) out.set(f, readFileSync(join(dir, f)));
  }
  return out;
}

test('the same seed gives byte-identical files; another seed changes every .onnx', async (t) => {
  const root = tempDir(t);
  const opts: SynthOptions = { size: 'micro', timestamped: true, dtypes: ['fp32', 'q8', 'fp16'] };
  await synthesizeWhisper(join(root, 'a'), { ...opts, seed: 7 });
  await synthesizeWhisper(join(root, 'b'), { ...opts, seed: 7 });
  await synthesizeWhisper(join(root, 'c'), { ...opts, seed: 8 });
  const [a, b, c] = ['a', 'b', 'c'].map((d) => files(join(root, d)));
  assert.equal(a.size, 11);
  for (const [name, bytes] of a) assert.ok(bytes.equals(b.get(name)!), `${name} is reproducible`);
  for (const [name, bytes] of a) {
    if (name.endsWith('.onnx')) assert.ok(!bytes.equals(c.get(name)!), `${name} depends on the seed`);
  }
  assert.ok(
    a.get('tokenizer.json')!.equals(c.get('tokenizer.json')!),
    'the vocabulary does not depend on the seed',
  );
});

test('the default seed is 1 and a script changes the weights', async (t) => {
  const root = tempDir(t);
  await synthesizeWhisper(join(root, 'default'), { size: 'micro' });
  await synthesizeWhisper(join(root, 'one'), { size: 'micro', seed: 1 });
  await synthesizeWhisper(join(root, 'script'), { size: 'micro', seed: 1, script: ' hello world' });
  const dec = (d: string): Buffer => readFileSync(join(root, d, 'onnx', 'decoder_model_merged.onnx'));
  assert.ok(dec('default').equals(dec('one')));
  assert.ok(!dec('default').equals(dec('script')));
});
