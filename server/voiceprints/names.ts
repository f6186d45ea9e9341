// Voiceprint names: client text that ends up in captions, URLs and a comma-separated query parameter.

export const MAX_NAME_CHARS = 64;

/** What is wrong with a voiceprint name, or undefined when it is fine. */
export function nameProblem(name: string): string | undefined {
  const chars = [...name].length;
  if (chars === 0 || chars > MAX_NAME_CHARS) return `must be 1-${MAX_NAME_CHARS} characters, got ${chars}`;
  // Control characters (line breaks, escapes) and Unicode line separators would forge caption lines or logs.
  if (/[\p{Cc}\u2028\u2029]/u.test(name)) return 'must not contain control characters or line breaks';
  if (name !== name.trim()) return 'must not start or end with a space';
  if (name.includes(',')) return 'must not contain a comma (known_speakers lists names with commas)';
  if (name.toLowerCase() === 'all') return '"all" is reserved (known_speakers=all names every voiceprint)';
  return undefined;
}

/** known_speakers: every voiceprint of the subject, or these names. */
export type KnownSpeakersRequest = 'all' | string[];

/** Parses `alice,bob` or `all`; throws `fail(message)` for a bad name. Empty: undefined. */
export function parseKnownSpeakers(
  value: string | null,
  fail: (message: string) => Error,
): KnownSpeakersRequest | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (value.trim().toLowerCase() === 'all') return 'all';
  const names = [...new Set(value.split(',').map((n) => n.trim()))].filter(Boolean);
  for (const n of names) {
    const problem = nameProblem(n);
    if (problem) throw fail(`known_speakers: the name "${n.slice(0, 80)}" ${problem}`);
  }
  return names;
}
