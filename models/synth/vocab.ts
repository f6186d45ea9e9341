// The synthetic Whisper vocabulary: GPT-2 byte-level BPE tokens (256 bytes + merged words), then Whisper's special
// tokens in openai's order, then 1501 timestamp tokens. 'real' pads the BPE part to the real size so that every
// special id equals the real model's (openai whisper/tokenizer.py get_encoding).
import { SynthError } from './errors.js';
import { SYNTH_FRAGMENTS, SYNTH_WORDS } from './words.js';

/** openai LANGUAGES order; large-v3 (128 mels) adds 'yue' as the 100th. */
export const WHISPER_LANGUAGES: readonly string[] = (
  'en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur hr bg lt la mi ' +
  'ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn yo so af oc ka be tg sd ' +
  'gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su yue'
).split(' ');

export const TIMESTAMP_COUNT = 1501;

export interface VocabOptions {
  kind: 'small' | 'real';
  multilingual: boolean;
  /** large-v3 layout: 100 languages and `<|nospeech|>`. */
  v3: boolean;
}

export interface SynthVocab {
  /** Token string by id: byte-level unicode for BPE tokens, literal text for specials. */
  tokens: string[];
  merges: [string, string][];
  /** Ids below this are BPE tokens; it is also the id of `<|endoftext|>`. */
  bpeCount: number;
  eot: number;
  sot: number;
  /** Language codes; `<|code|>` has id `sot + 1 + index`. */
  languages: string[];
  translate: number;
  transcribe: number;
  startoflm: number;
  startofprev: number;
  nospeech: number;
  notimestamps: number;
  timestampBegin: number;
  size: number;
  multilingual: boolean;
}

/** GPT-2's reversible byte -> printable-unicode map (space -> 'Ġ', id 220). */
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const map: string[] = new Array(256);
  bs.forEach((b, i) => (map[b] = String.fromCodePoint(cs[i])));
  return map;
}

export const BYTE_TO_UNICODE: readonly string[] = bytesToUnicode();
const UNICODE_TO_BYTE = new Map(BYTE_TO_UNICODE.map((c, b) => [c, b]));
/** Vocabulary order of the 256 byte tokens (GPT-2 order: printable bytes first). */
const BYTE_TOKEN_ORDER: string[] = (() => {
  const printable = [...BYTE_TO_UNICODE.entries()].filter(([, c]) => c.codePointAt(0)! < 256);
  const rest = [...BYTE_TO_UNICODE.entries()].filter(([, c]) => c.codePointAt(0)! >= 256);
  return [...printable.map(([, c]) => c), ...rest.map(([, c]) => c)];
})();

function byteLevel(text: string): string {
  let s = '';
  for (const b of new TextEncoder().encode(text)) s += BYTE_TO_UNICODE[b];
  return s;
}

export function timestampToken(index: number): string {
  return `<|${(index * 0.02).toFixed(2)}|>`;
}

export function buildVocab(opts: VocabOptions): SynthVocab {
  const tokens: string[] = [...BYTE_TOKEN_ORDER];
  const ids = new Map(tokens.map((t, i) => [t, i]));
  const merges: [string, string][] = [];
  // Left-to-right merge chains: every prefix of a word becomes a token, so each word ends as one token.
  const addWord = (word: string): void => {
    const chars = [...byteLevel(word)];
    let acc = chars[0];
    for (const c of chars.slice(1)) {
      const next = acc + c;
      if (!ids.has(next)) {
        ids.set(next, tokens.length);
        tokens.push(next);
        merges.push([acc, c]);
      }
      acc = next;
    }
  };
  for (const w of SYNTH_WORDS) addWord(` ${w}`);
  for (const f of SYNTH_FRAGMENTS) addWord(f);

  if (opts.kind === 'real') {
    const target = opts.multilingual ? 50257 : 50256;
    if (tokens.length > target) throw new Error('internal: synthetic BPE vocabulary exceeds the real size');
    // Unreachable filler tokens that still decode to plain text.
    for (let i = 0; tokens.length < target; i++) {
      let s = '';
      for (let n = i; ; n = Math.floor(n / 26) - 1) {
        s = String.fromCharCode(97 + (n % 26)) + s;
        if (n < 26) break;
      }
      const tok = `Ġzz${s}`;
      if (ids.has(tok)) continue;
      ids.set(tok, tokens.length);
      tokens.push(tok);
    }
  }

  const bpeCount = tokens.length;
  const languages = WHISPER_LANGUAGES.slice(0, opts.v3 ? 100 : 99);
  const specials = [
    '<|endoftext|>',
    '<|startoftranscript|>',
    ...languages.map((l) => `<|${l}|>`),
    '<|translate|>',
    '<|transcribe|>',
    '<|startoflm|>',
    '<|startofprev|>',
    opts.v3 ? '<|nospeech|>' : '<|nocaptions|>',
    '<|notimestamps|>',
  ];
  tokens.push(...specials);
  for (let i = 0; i < TIMESTAMP_COUNT; i++) tokens.push(timestampToken(i));
  const translate = bpeCount + 2 + languages.length;
  return {
    tokens,
    merges,
    bpeCount,
    eot: bpeCount,
    sot: bpeCount + 1,
    languages,
    translate,
    transcribe: translate + 1,
    startoflm: translate + 2,
    startofprev: translate + 3,
    nospeech: translate + 4,
    notimestamps: translate + 5,
    timestampBegin: translate + 6,
    size: tokens.length,
    multilingual: opts.multilingual,
  };
}

// GPT-2 pre-tokenizer pattern (the ByteLevel pre-tokenizer with use_regex).
const PRETOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Byte-level BPE encoder/decoder over a synthetic vocabulary (same result as tokenizer.json in transformers.js). */
export class BpeTokenizer {
  private readonly ranks = new Map<string, number>();
  private readonly ids = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();

  constructor(readonly vocab: SynthVocab) {
    vocab.merges.forEach(([a, b], i) => this.ranks.set(`${a} ${b}`, i));
    for (let i = 0; i < vocab.bpeCount; i++) this.ids.set(vocab.tokens[i], i);
  }

  private bpe(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    let parts = [...word];
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < parts.length - 1; i++) {
        const r = this.ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), parts[best] + parts[best + 1], ...parts.slice(best + 2)];
    }
    const out = parts.map((p) => this.ids.get(p)!);
    this.cache.set(word, out);
    return out;
  }

  /** Plain text to BPE ids (no special tokens). */
  encode(text: string): number[] {
    const out: number[] = [];
    for (const m of text.matchAll(PRETOKENIZE)) out.push(...this.bpe(byteLevel(m[0])));
    return out;
  }

  /** Ids to text; special and timestamp tokens are rendered literally. */
  decode(ids: readonly number[]): string {
    let text = '';
    let bytes: number[] = [];
    const flush = (): void => {
      text += new TextDecoder().decode(Uint8Array.from(bytes));
      bytes = [];
    };
    for (const id of ids) {
      const tok = this.vocab.tokens[id];
      if (tok === undefined) throw new RangeError(`token id ${id} is outside the vocabulary`);
      if (id >= this.vocab.bpeCount) {
        flush();
        text += tok;
      } else {
        for (const c of tok) bytes.push(UNICODE_TO_BYTE.get(c)!);
      }
    }
    flush();
    return text;
  }

  /** openai whisper/tokenizer.py non_speech_tokens: symbols a transcript should never contain. */
  nonSpeechTokens(): number[] {
    const symbols = [...'"#()*+/:;<=>@[\\]^_`{|}~「」『』'];
    symbols.push(...'<< >> <<< >>> -- --- -( -[ (\' (" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪'.split(' '));
    const misc = new Set([...'♩♪♫♬♭♮♯']);
    const result = new Set([this.encode(' -')[0], this.encode(" '")[0]]);
    for (const s of [...symbols, ...misc]) {
      for (const toks of [this.encode(s), this.encode(` ${s}`)]) {
        if (toks.length === 1 || misc.has(s)) result.add(toks[0]);
      }
    }
    return [...result].sort((a, b) => a - b);
  }
}

export interface ScriptTokens {
  /** Script tokens followed by `<|endoftext|>`. */
  tokens: number[];
  timestamped: boolean;
}

/**
 * Tokenizes a script such as "<|0.00|> hello world<|1.00|>", and checks it can be produced under openai's
 * timestamp rules: first token a timestamp, timestamps paired between segments, monotonic, non-empty segments.
 */
export function tokenizeScript(tok: BpeTokenizer, script: string): ScriptTokens {
  const v = tok.vocab;
  const tokens: number[] = [];
  let timestamped = false;
  const re = /<\|([^|]*)\|>/g;
  let last = 0;
  for (const m of script.matchAll(re)) {
    tokens.push(...tok.encode(script.slice(last, m.index)));
    last = m.index! + m[0].length;
    const t = /^\d+\.\d\d$/.test(m[1]) ? Number(m[1]) : NaN;
    const k = Math.round(t / 0.02);
    if (!(k >= 0 && k < TIMESTAMP_COUNT && Math.abs(k * 0.02 - t) < 1e-6)) {
      throw new SynthError(
        `script token ${m[0]} is not a timestamp; only <|0.00|> .. <|30.00|> in 0.02 s steps may appear in a script`,
      );
    }
    tokens.push(v.timestampBegin + k);
    timestamped = true;
  }
  tokens.push(...tok.encode(script.slice(last)));
  if (!tokens.some((t) => t < v.bpeCount)) {
    throw new SynthError('script has no text; give at least one word, e.g. "<|0.00|> hello<|1.00|>"');
  }
  if (timestamped) checkTimestampRules(tokens, v);
  tokens.push(v.eot);
  return { tokens, timestamped };
}

function checkTimestampRules(tokens: number[], v: SynthVocab): void {
  const isTs = (t: number): boolean => t >= v.timestampBegin;
  const fail = (why: string): never => {
    throw new SynthError(`script breaks Whisper's timestamp rules: ${why}`);
  };
  if (!isTs(tokens[0])) fail('it must start with a timestamp such as <|0.00|>');
  if (tokens[0] - v.timestampBegin > 50) fail('the first timestamp must be at most <|1.00|>');
  let lastTs = -1;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const prevTs = i >= 1 && isTs(tokens[i - 1]);
    const prev2Ts = i < 2 || isTs(tokens[i - 2]);
    if (!isTs(t)) {
      if (prevTs && !prev2Ts)
        fail(
          'text follows a closing timestamp; open the next segment with one, e.g. "<|1.00|><|1.00|> more"',
        );
      continue;
    }
    if (i >= 1 && prevTs && prev2Ts) fail('three timestamps in a row (a segment has no text)');
    // After "text <|t|>" the next segment may start at t; otherwise a timestamp must move forward.
    const closingBefore = prevTs && !prev2Ts;
    if (lastTs >= 0 && (closingBefore ? t < lastTs : t <= lastTs)) {
      fail(`timestamp ${v.tokens[t]} does not move forward`);
    }
    lastTs = t;
  }
}
