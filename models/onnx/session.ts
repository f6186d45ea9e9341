import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import ort from 'onnxruntime-node';
import { ModelLoadError } from '../errors.js';

export type Device = 'cpu' | 'cuda';

export interface SessionOptions {
  device?: Device;
  /** Intra-op threads; 0 = one per core. */
  threads?: number;
  warn?: (msg: string) => void;
}

export interface LoadedSession {
  session: ort.InferenceSession;
  device: Device;
}

const cudaFailures = new Set<string>();

/**
 * Creates a session on the requested device. CUDA that cannot load (no GPU, no CUDA provider binaries) falls back
 * to CPU with one warning per process, so one config file serves GPU and CPU hosts.
 */
export async function createSession(path: string, opts: SessionOptions = {}): Promise<LoadedSession> {
  if (!existsSync(path)) throw new ModelLoadError(`${path} does not exist`, path);
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    // An explicit count measured ~10% faster than onnxruntime's own choice (0) on the decoder's small steps.
    intraOpNumThreads: opts.threads || availableParallelism(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
    // Idle pool threads sleep instead of spinning: on a CPU the sockets, VAD and labels share these cores, and the
    // spinning took their time (bench:stream 4 streams: server CPU 156 -> 130 %, engine call -26 ms, final p95
    // -60 ms) for nothing measurable alone (a call of 1 or 4 windows: 242 / 244, 719 / 700 ms).
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  if (opts.device === 'cuda' && cudaFailures.size === 0) {
    try {
      const session = await ort.InferenceSession.create(path, {
        ...base,
        executionProviders: ['cuda', 'cpu'],
      });
      return { session, device: 'cuda' };
    } catch (err) {
      const why = firstLine((err as Error).message);
      cudaFailures.add(why);
      (opts.warn ?? console.warn)(
        `CUDA requested but unavailable (${why}); running on CPU. See README "GPU" to install onnxruntime-node's CUDA binaries.`,
      );
    }
  }
  try {
    const session = await ort.InferenceSession.create(path, { ...base, executionProviders: ['cpu'] });
    return { session, device: 'cpu' };
  } catch (err) {
    throw new ModelLoadError(
      `cannot load ${path}: ${firstLine((err as Error).message)} (the file is truncated or not an ONNX graph: re-download or re-synthesize the model)`,
      path,
    );
  }
}

function firstLine(s: string): string {
  const line = s.split('\n')[0].replace(/\x1b\[[0-9;]*m/g, '');
  return line.length > 240 ? `${line.slice(0, 240)}...` : line;
}
