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
  if (!timestamped) targets[promptTokens(v, true).length - 1] = v.timestampBegin;
  return { tokens, timestamped, prompt, targets };
}
