// Whisper's tokenizer: GPT-2 style byte-level BPE read from a Hugging Face tokenizer.json.
// Only what transcription needs: encode prompt text, decode generated ids, map ids to raw bytes.
import { readFileSync } from 'node:fs';

export class TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerError';
  }
}

// The GPT-2 pre-tokenizer pattern, as used by HF tokenizers' ByteLevel pre-tokenizer (and transformers.js).
const PRETOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100.. so that every byte is a
// visible, non-space character and BPE never sees whitespace or control characters.
const BYTE_TO_CHAR: string[] = (() => {
  const table = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : next++);
  }
  return table;
})();
const CHAR_TO_BYTE = new Map<string, number>(BYTE_TO_CHAR.map((c, b) => [c, b]));

const BPE_CACHE_LIMIT = 20_000;

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Unambiguous key for a merge pair even if tokens contained spaces.
function pairKey(a: string, b: string): string {
  return `${a.length}:${a}${b}`;
}

export class WhisperTokenizer {
  readonly vocabSize: number;
  private readonly tokenToId = new Map<string, number>();
  private readonly idToToken: (string | undefined)[] = [];
  // Raw bytes per BPE token id (undefined for added tokens and holes), built once for fast streaming decode.
  private readonly idToBytes: (Uint8Array | undefined)[] = [];
  private readonly added = new Map<number, AddedToken>();
  private readonly ranks = new Map<string, number>();
  private readonly bpeCache = new Map<string, number[]>();
  private readonly utf8 = new TextEncoder();
  // fatal:false gives U+FFFD for invalid sequences like HF; ignoreBOM keeps a leading U+FEFF as transformers.js does.
  private readonly textDecoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  private constructor(vocab: Map<string, number>, merges: [string, string][], added: AddedToken[]) {
    let maxId = -1;
    for (const [tok, id] of vocab) {
      this.tokenToId.set(tok, id);
      this.idToToken[id] = tok;
      this.idToBytes[id] = tokenStringToBytes(tok);
      if (id > maxId) maxId = id;
    }
    merges.forEach(([a, b], rank) => {
      const key = pairKey(a, b);
      // First occurrence wins, as with a rank map built in order.
      if (!this.ranks.has(key)) this.ranks.set(key, rank);
    });
    for (const t of added) {
      this.added.set(t.id, t);
      this.tokenToId.set(t.content, t.id);
      this.idToToken[t.id] = t.content;
      this.idToBytes[t.id] = undefined;
      if (t.id > maxId) maxId = t.id;
    }
    this.vocabSize = maxId + 1;
  }

  static fromFile(tokenizerJsonPath: string): WhisperTokenizer {
    let text: string;
    try {
      text = readFileSync(tokenizerJsonPath, 'utf8');
    } catch (err) {
      throw new TokenizerError(
        `cannot read tokenizer file ${tokenizerJsonPath} (${(err as NodeJS.ErrnoException).code ?? String(err)}); ` +
          'check that the model directory contains tokenizer.json',
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new TokenizerError(
        `${tokenizerJsonPath} is not valid JSON (${(err as Error).message}); re-download the model`,
      );
    }
    return WhisperTokenizer.fromJSON(json);
  }

  static fromJSON(json: unknown): WhisperTokenizer {
    const bad = (what: string): TokenizerError =>
      new TokenizerError(`unsupported tokenizer.json: ${what}; expected a Whisper byte-level BPE tokenizer`);
    if (!isRecord(json) || !isRecord(json.model)) throw bad('no "model" object');
    const model = json.model;
    if (model.type !== undefined && model.type !== 'BPE') throw bad(`model.type is ${String(model.type)}`);
    if (!isRecord(model.vocab)) throw bad('no model.vocab');

    const vocab = new Map<string, number>();
    for (const [tok, id] of Object.entries(model.vocab)) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw bad(`bad id for token ${tok}`);
      vocab.set(tok, id);
    }

    const merges: [string, string][] = [];
    const rawMerges = model.merges ?? [];
    if (!Array.isArray(rawMerges)) throw bad('model.merges is not a list');
    for (const m of rawMerges) {
      if (typeof m === 'string') {
        // Legacy "a b" form; byte-level tokens never contain a literal space.
        const sp = m.indexOf(' ');
        if (sp <= 0) throw bad(`merge "${m}" is not "a b"`);
        merges.push([m.slice(0, sp), m.slice(sp + 1)]);
      } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
        merges.push([m[0], m[1]]);
      } else {
        throw bad('a merge is neither "a b" nor ["a","b"]');
      }
    }

    const added: AddedToken[] = [];
    const rawAdded = json.added_tokens ?? [];
    if (!Array.isArray(rawAdded)) throw bad('added_tokens is not a list');
    for (const t of rawAdded) {
      if (!isRecord(t) || typeof t.id !== 'number' || typeof t.content !== 'string') {
        throw bad('an added token lacks id/content');
      }
      added.push({ id: t.id, content: t.content, special: t.special === true });
    }
    return new WhisperTokenizer(vocab, merges, added);
  }

  id(token: string): number | undefined {
    return this.tokenToId.get(token);
  }

  token(id: number): string | undefined {
    return this.idToToken[id];
  }

  isSpecial(id: number): boolean {
    return this.added.get(id)?.special === true;
  }

  /** Byte-level BPE of plain text; no special tokens are added and `<|...|>` in the text is not recognised. */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const match of text.matchAll(PRETOKENIZE)) {
      const piece = match[0];
      let pieceIds = this.bpeCache.get(piece);
      if (pieceIds === undefined) {
        pieceIds = this.bpe(piece);
        // Bounded, not LRU: prompts are short and repetitive; a full reset is cheap and rare.
        if (this.bpeCache.size >= BPE_CACHE_LIMIT) this.bpeCache.clear();
        this.bpeCache.set(piece, pieceIds);
      }
      for (const id of pieceIds) ids.push(id);
    }
    return ids;
  }

  /**
   * Byte-level decode. Added tokens (specials and timestamps) are emitted verbatim and split the byte stream,
   * like HF's ByteLevel decoder; ids outside the vocabulary are ignored.
   */
  decode(ids: number[], opts?: { skipSpecial?: boolean }): string {
    const skipSpecial = opts?.skipSpecial === true;
    let out = '';
    let buf = new Uint8Array(64);
    let len = 0;
    for (const id of ids) {
      const bytes = this.idToBytes[id];
      if (bytes !== undefined) {
        if (len + bytes.length > buf.length) {
          const grown = new Uint8Array(Math.max(buf.length * 2, len + bytes.length));
          grown.set(buf.subarray(0, len));
          buf = grown;
        }
        buf.set(bytes, len);
        len += bytes.length;
        continue;
      }
      const added = this.added.get(id);
      if (added === undefined || (skipSpecial && added.special)) continue;
      if (len > 0) {
        out += this.textDecoder.decode(buf.subarray(0, len));
        len = 0;
      }
      out += added.content;
    }
    if (len > 0) out += this.textDecoder.decode(buf.subarray(0, len));
    return out;
  }

  /**
   * Transcript text of generated ids: what a person may read. Added tokens (specials, timestamps) are skipped
   * without splitting the byte stream, a character split over several tokens comes out whole, and what is not
   * text is dropped: invalid or unfinished UTF-8 (no U+FFFD) and control characters (whitespace ones become a
   * space). `decode` stays the exact HF decode.
   */
  decodeText(ids: readonly number[]): string {
    const stream = this.textStream();
    let out = '';
    for (const id of ids) out += stream.push(id);
    return out + stream.end();
  }

  /** decodeText one token at a time: an unfinished character is held until the token that completes it. */
  textStream(): TextStream {
    const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
    return {
      push: (id) => {
        const bytes = this.idToBytes[id];
        return bytes === undefined ? '' : cleanText(decoder.decode(bytes, { stream: true }));
      },
      end: () => cleanText(decoder.decode()),
    };
  }

  /** The raw bytes of a BPE token; for added tokens the UTF-8 of their content; empty for unknown ids. */
  tokenBytes(id: number): Uint8Array {
    const bytes = this.idToBytes[id];
    if (bytes !== undefined) return bytes;
    const added = this.added.get(id);
    return added !== undefined ? this.utf8.encode(added.content) : new Uint8Array(0);
  }

  private bpe(piece: string): number[] {
    const bytes = this.utf8.encode(piece);
    let parts: string[] = new Array<string>(bytes.length);
    for (let i = 0; i < bytes.length; i++) parts[i] = BYTE_TO_CHAR[bytes[i]];

    // Repeatedly merge the lowest-ranked adjacent pair (leftmost on ties). Pieces are words, so the
    // quadratic scan is cheaper in practice than a heap.
    while (parts.length > 1) {
      let best = Infinity;
      let bestAt = -1;
      for (let i = 0; i < parts.length - 1; i++) {
        const r = this.ranks.get(pairKey(parts[i], parts[i + 1]));
        if (r !== undefined && r < best) {
          best = r;
          bestAt = i;
        }
      }
      if (bestAt < 0) break;
      const a = parts[bestAt];
      const b = parts[bestAt + 1];
      // Merge every non-overlapping occurrence of the best pair left to right, as GPT-2 does.
      const merged: string[] = [];
      for (let i = 0; i < parts.length;) {
        if (i < parts.length - 1 && parts[i] === a && parts[i + 1] === b) {
          merged.push(a + b);
          i += 2;
        } else {
          merged.push(parts[i]);
          i += 1;
        }
      }
      parts = merged;
    }

    const ids: number[] = [];
    for (const p of parts) {
      const id = this.tokenToId.get(p);
      // Not in the vocabulary and no unk token: dropped, like HF with unk_token null.
      if (id !== undefined && !this.added.has(id)) ids.push(id);
    }
    return ids;
  }
}

export interface TextStream {
  /** The text this token completes (possibly empty). */
  push(id: number): string;
  /** Ends the stream; an unfinished character is dropped. */
  end(): string;
}

// Whitespace controls separate words, so they become a space; other controls and the replacement character that
// stands for invalid bytes carry no text.
const WHITESPACE_CONTROL = /[\t\n\v\f\r\x85]/g;
const NOT_TEXT = /[\p{Cc}\uFFFD]/gu;

function cleanText(s: string): string {
  return s.replace(WHITESPACE_CONTROL, ' ').replace(NOT_TEXT, '');
}

function tokenStringToBytes(token: string): Uint8Array {
  const out: number[] = [];
  for (const ch of token) {
    const b = CHAR_TO_BYTE.get(ch);
    // Outside the byte alphabet: HF falls back to the token's own UTF-8 for the whole token.
    if (b === undefined) return new TextEncoder().encode(token);
    out.push(b);
  }
  return Uint8Array.from(out);
}
