import type { SessionRecord, StoredFinal } from '../../server/store/types.js';

/** A live session record as a stream opens it. */
export const record = (id: string): SessionRecord => ({
  id,
  subject: 'alice',
  created: new Date(0).toISOString(),
  status: 'live',
  duration: 0,
  committed: 0,
  lastSeq: 0,
  params: { language: 'en', interim: true },
});

/** Final number `seq`: one word at [seq, seq + 0.5]. */
export const final = (seq: number): StoredFinal => ({
  seq,
  start: seq,
  end: seq + 0.5,
  transcript: `word${seq}`,
  words: [{ word: `word${seq}`, start: seq, end: seq + 0.5, confidence: 0.9, punctuated_word: `word${seq}` }],
  speech_final: true,
  from_finalize: false,
});
