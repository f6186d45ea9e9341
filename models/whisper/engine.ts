/**
 * What a server needs of a Whisper model: its vocabulary and decodes of windows. Two kinds: the model in this
 * thread (tools, tests that look inside the model), or on a thread of its own (thread.ts, the server), because
 * onnxruntime-node runs a graph synchronously on the calling thread: an encoder call of a few hundred ms would
 * otherwise stop every socket, VAD and timer of the process for as long.
 */
import type { Device } from '../onnx/session.js';
import type { ModelDir } from './model-dir.js';
import type { WhisperModel } from './runtime.js';
import type { WhisperTokenizer } from './tokenizer.js';
import { decodeWindows, type DecodeOptions, type WindowInput, type WindowResult } from './transcribe.js';

export type TimingObserver = (stage: 'encoder' | 'decoder_step', ms: number, rows: number) => void;

export interface WhisperEngine {
  readonly files: ModelDir;
  readonly tokenizer: WhisperTokenizer;
  /** Where the graphs run (cuda falls back to cpu when the GPU cannot be used). */
  readonly device: Device;
  /** Observes each encoder call and decoder step (metrics); must be cheap. */
  onTiming?: TimingObserver;
  decodeWindows(windows: readonly WindowInput[], opts: DecodeOptions): Promise<WindowResult[]>;
  release(): Promise<void>;
}

/** The model on the calling thread. */
export function inlineEngine(model: WhisperModel): WhisperEngine & { model: WhisperModel } {
  return {
    model,
    files: model.files,
    tokenizer: model.tokenizer,
    device: model.device,
    set onTiming(f: TimingObserver | undefined) {
      model.onTiming = f;
    },
    get onTiming() {
      return model.onTiming;
    },
    decodeWindows: (w, o) => decodeWindows(model, w, o),
    release: () => model.release(),
  };
}
