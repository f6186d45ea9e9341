/**
 * The independent reference for speaker embeddings: sherpa-onnx (npm sherpa-onnx-node, its own C++ front end and
 * its own onnxruntime) run in a child process, since it ends the whole process (_Exit) on a model it refuses and
 * brings a second onnxruntime library. Each WAV file is read by sherpa-onnx's readWave and embedded as its offline
 * diarization does (whole clip, input finished); a file at another rate goes through sherpa-onnx's own resampler.
 *
 * As a child: `node --import tsx test/helpers/sherpa-reference.ts MODEL FILE...` prints one JSON line
 * {dim, embeddings: number[][]}.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);

/** sherpa-onnx-node's version when it is installed (a devDependency), else undefined; its addon is not loaded. */
export function sherpaVersion(): string | undefined {
  try {
    return (createRequire(import.meta.url)('sherpa-onnx-node/package.json') as { version: string }).version;
  } catch {
    return undefined;
  }
}

/** sherpa-onnx's embeddings of `files` (not normalised: sherpa-onnx returns the model's output as is). */
export function sherpaEmbeddings(model: string, files: string[]): Promise<Float32Array[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', SELF, model, ...files], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`sherpa-onnx failed (exit ${code}): ${err.trim()}`));
      const { embeddings } = JSON.parse(out) as { embeddings: number[][] };
      resolve(embeddings.map((e) => Float32Array.from(e)));
    });
  });
}

async function child(model: string, files: string[]): Promise<void> {
  const sherpa = (await import('sherpa-onnx-node')).default;
  const extractor = new sherpa.SpeakerEmbeddingExtractor({ model, numThreads: 1, debug: false });
  const embeddings = files.map((file) => {
    const wave = sherpa.readWave(file);
    const stream = extractor.createStream();
    stream.acceptWaveform({ sampleRate: wave.sampleRate, samples: wave.samples });
    stream.inputFinished();
    if (!extractor.isReady(stream)) throw new Error(`${file}: too short for sherpa-onnx`);
    return Array.from(extractor.compute(stream, false));
  });
  process.stdout.write(`${JSON.stringify({ dim: extractor.dim, embeddings })}\n`);
}

if (process.argv[1] === SELF) await child(process.argv[2], process.argv.slice(3));
