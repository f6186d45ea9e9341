/**
 * Which embedding space a speaker embedding lives in: voiceprints are stored with it, because a vector of one
 * model means nothing to another. The built-in embedding's id follows its learnt parameters (a retrained
 * builtin-voice.json is another space); a model file's id follows its bytes.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadBuiltinParams, type BuiltinParams } from './builtin-params.js';

const short = (h: ReturnType<typeof createHash>) => h.digest('hex').slice(0, 12);

/** `builtin-<hash of its parameters>`. */
export function builtinModelId(params: BuiltinParams = loadBuiltinParams()): string {
  const { provenance: _, ...numbers } = params;
  return `builtin-${short(createHash('sha256').update(JSON.stringify(numbers)))}`;
}

/** `<file name>-<hash of its bytes>` for a speaker model file, or a directory holding it (model.onnx first). */
export function modelFileId(path: string): string {
  let files = [path];
  if (statSync(path).isDirectory()) {
    files = existsSync(join(path, 'model.onnx'))
      ? [join(path, 'model.onnx')]
      : readdirSync(path)
          .filter((f) => f.endsWith('.onnx'))
          .sort()
          .map((f) => join(path, f));
  }
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(f));
  return `${basename(path)}-${short(h)}`;
}

let builtin: string | undefined;

/** The id of a running embedder: the built-in's from its shipped parameters, else its name (a file's id is modelFileId). */
export function speakerModelId(e: { name: string }): string {
  if (e.name !== 'builtin') return e.name;
  return (builtin ??= builtinModelId());
}
