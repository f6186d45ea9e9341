import type { WhisperModel } from '../../models/whisper/runtime.js';

/** The prompt rows a decoder batch started with: one entry per engine decode (and per language pass). */
export interface PromptLog {
  /** Each decoder batch's first step, one token row per sequence. */
  batches: number[][][];
  /** Every decode prompt row (language passes, a lone <|startoftranscript|>, left out). */
  rows(): number[][];
  clear(): void;
}

/** Records the prompts every decoder batch of `model` is started with, from now on (the model is not copied). */
export function recordPrompts(model: WhisperModel): PromptLog {
  const log: PromptLog = {
    batches: [],
    rows: () => log.batches.flat().filter((r) => r.length > 1),
    clear: () => void log.batches.splice(0),
  };
  const start = model.startDecoding.bind(model);
  model.startDecoding = (hidden) => {
    const batch = start(hidden);
    const run = batch.run.bind(batch);
    let first = true;
    batch.run = (ids) => {
      if (first) log.batches.push(ids.map((r) => [...r]));
      first = false;
      return run(ids);
    };
    return batch;
  };
  return log;
}
