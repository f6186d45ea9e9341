// Which token a scripted model predicts at each decoder position.
import { SynthError } from './errors.js';
import { type BpeTokenizer, type SynthVocab, tokenizeScript } from './vocab.js';

export interface ScriptPlan {
  /** Script tokens with `<|endoftext|>` appended. */
  tokens: number[];
  timestamped: boolean;
  /** The decoder prompt the script follows. */
  prompt: number[];
  /** targets[p] = token predicted by the logits at decoder position p. */
  targets: number[];
  /** Centre time (s) of each script token: text spread evenly over its segment, timestamps at their value. */
  times: number[];
  /** frames[p] = encoder frame (20 ms) that position p's cross-attention peaks at; undefined in the prompt. */
  frames: (number | undefined)[];
}

/** Speaking rate assumed for text that no timestamp bounds (plain scripts, or text after the last timestamp). */
const SECONDS_PER_UNTIMED_TOKEN = 0.4;
const FRAME_SECONDS = 0.02;

function tokenTimes(tokens: readonly number[], v: SynthVocab): number[] {
  const times = new Array<number>(tokens.length).fill(0);
  let segStart = 0;
  let pending: number[] = [];
  tokens.forEach((t, j) => {
    if (t >= v.timestampBegin) {
      const at = (t - v.timestampBegin) * FRAME_SECONDS;
      pending.forEach((k, i) => (times[k] = segStart + ((at - segStart) * (i + 0.5)) / pending.length));
      pending = [];
      times[j] = at;
      segStart = at;
    } else if (t === v.eot) {
      pending.forEach((k, i) => (times[k] = segStart + SECONDS_PER_UNTIMED_TOKEN * (i + 0.5)));
      times[j] = segStart + SECONDS_PER_UNTIMED_TOKEN * pending.length;
      pending = [];
    } else {
      pending.push(j);
    }
  });
  return times;
}

/** `<|startoftranscript|> [<|en|> <|transcribe|>]`, plus `<|notimestamps|>` unless timestamps are wanted. */
export function promptTokens(v: SynthVocab, timestamps: boolean): number[] {
  const p = v.multilingual ? [v.sot, v.sot + 1, v.transcribe] : [v.sot];
  if (!timestamps) p.push(v.notimestamps);
  return p;
}

/**
 * Positions count the prompt, so a timestamped script starts right after the timestamp prompt and a plain one
 * right after `<|notimestamps|>`. Both layouts put the first text token at the same position (the opening
 * timestamp takes the place of `<|notimestamps|>`), so either kind of script also reads correctly as text when
 * decoded with the other prompt; a plain script decoded with timestamps opens with `<|0.00|>`.
 */
export function planScript(tok: BpeTokenizer, script: string, maxPositions: number): ScriptPlan {
  const v = tok.vocab;
  const { tokens, timestamped } = tokenizeScript(tok, script);
  const prompt = promptTokens(v, timestamped);
  const full = [...prompt, ...tokens];
  if (full.length > maxPositions) {
    throw new SynthError(
      `script is ${tokens.length} tokens long but the decoder holds ${maxPositions - prompt.length}; shorten it`,
    );
  }
  const targets = full.slice(1);
  const times = tokenTimes(tokens, v);
  const lastFrame = 1499;
  const frames: (number | undefined)[] = targets.map((_, p) => {
    const j = p - (prompt.length - 1);
    return j < 0 ? undefined : Math.min(lastFrame, times[j] / FRAME_SECONDS);
  });
  if (!timestamped) {
    const at = promptTokens(v, true).length - 1;
    targets[at] = v.timestampBegin;
    frames[at] = 0;
  }
  return { tokens, timestamped, prompt, targets, times, frames };
}
