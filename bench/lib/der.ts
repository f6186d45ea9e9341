/**
 * Diarization error rate, the standard (NIST md-eval) definition:
 *   DER = (missed speech + false alarm + speaker confusion) / reference speech,
 * all in seconds, counting overlapped speech once per speaker, with a no-score collar of ±collar seconds around
 * every reference segment boundary and the one-to-one hypothesis→reference speaker mapping that maximises the
 * matched time (Hungarian algorithm).
 */

export interface Turn {
  start: number;
  end: number;
  speaker: string;
  /** A hypothesis turn's confidence (0..1), when the diarizer gives one. */
  confidence?: number;
}

export interface DerResult {
  der: number;
  missed: number;
  falseAlarm: number;
  confusion: number;
  /** Scored reference speech, seconds (the denominator). */
  total: number;
  /** Hypothesis label → reference label for the mapped pairs. */
  mapping: Record<string, string>;
  refSpeakers: number;
  hypSpeakers: number;
}

/** `SPEAKER <file> <chan> <start> <dur> <NA> <NA> <speaker> <NA> <NA>` lines; other lines are ignored. */
export function parseRttm(text: string): Turn[] {
  const turns: Turn[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    const f = line.trim().split(/\s+/);
    if (f[0] !== 'SPEAKER') continue;
    const start = Number(f[3]);
    const dur = Number(f[4]);
    if (!Number.isFinite(start) || !(dur >= 0) || !f[7]) {
      throw new Error(`RTTM line ${i + 1} is not SPEAKER file chan start dur _ _ speaker: ${line}`);
    }
    turns.push({ start, end: start + dur, speaker: f[7] });
  }
  return turns;
}

export function toRttm(turns: readonly Turn[], file: string): string {
  return turns
    .map(
      (t) =>
        `SPEAKER ${file} 1 ${t.start.toFixed(3)} ${(t.end - t.start).toFixed(3)} <NA> <NA> ${t.speaker} <NA> <NA>\n`,
    )
    .join('');
}

/** Maximum-weight one-to-one assignment of rows to columns (Hungarian algorithm on a padded square matrix). */
export function maxAssignment(weights: readonly (readonly number[])[]): number[] {
  const rows = weights.length;
  const cols = rows === 0 ? 0 : weights[0].length;
  const n = Math.max(rows, cols);
  if (n === 0) return [];
  let maxW = 0;
  for (const r of weights) for (const w of r) maxW = Math.max(maxW, w);
  // cost[i][j] (1-based below) = maxW - weight; padding costs maxW (worth nothing).
  const cost = (i: number, j: number): number => (i < rows && j < cols ? maxW - weights[i][j] : maxW);
  const u = new Float64Array(n + 1);
  const v = new Float64Array(n + 1);
  const p = new Int32Array(n + 1); // column j is assigned to row p[j]
  const way = new Int32Array(n + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(n + 1).fill(Infinity);
    const used = new Uint8Array(n + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const rowToCol = new Array<number>(rows).fill(-1);
  for (let j = 1; j <= n; j++) if (p[j] - 1 < rows && j - 1 < cols) rowToCol[p[j] - 1] = j - 1;
  return rowToCol;
}

interface Piece {
  dur: number;
  ref: number[];
  hyp: number[];
}

export function diarizationError(
  ref: readonly Turn[],
  hyp: readonly Turn[],
  opts: { collar?: number } = {},
): DerResult {
  const collar = opts.collar ?? 0.25;
  const refNames = [...new Set(ref.map((t) => t.speaker))];
  const hypNames = [...new Set(hyp.map((t) => t.speaker))];
  const noScore: [number, number][] = [];
  if (collar > 0) {
    for (const t of ref) {
      noScore.push([t.start - collar, t.start + collar], [t.end - collar, t.end + collar]);
    }
  }
  const cuts = new Set<number>();
  for (const t of [...ref, ...hyp]) cuts.add(t.start).add(t.end);
  for (const [a, b] of noScore) cuts.add(a).add(b);
  const times = [...cuts].sort((a, b) => a - b);
  const active = (turns: readonly Turn[], names: string[], m: number): number[] => [
    ...new Set(turns.filter((t) => t.start <= m && m < t.end).map((t) => names.indexOf(t.speaker))),
  ];
  const pieces: Piece[] = [];
  for (let k = 0; k + 1 < times.length; k++) {
    const dur = times[k + 1] - times[k];
    if (dur <= 0) continue;
    const m = (times[k] + times[k + 1]) / 2;
    if (noScore.some(([a, b]) => a <= m && m < b)) continue;
    const r = active(ref, refNames, m);
    const h = active(hyp, hypNames, m);
    if (r.length > 0 || h.length > 0) pieces.push({ dur, ref: r, hyp: h });
  }
  const overlap = hypNames.map(() => refNames.map(() => 0));
  for (const p of pieces) for (const h of p.hyp) for (const r of p.ref) overlap[h][r] += p.dur;
  const assign = maxAssignment(overlap);
  const mapping: Record<string, string> = {};
  assign.forEach((r, h) => {
    if (r >= 0 && overlap[h][r] > 0) mapping[hypNames[h]] = refNames[r];
  });
  let missed = 0;
  let falseAlarm = 0;
  let confusion = 0;
  let total = 0;
  for (const p of pieces) {
    const nr = p.ref.length;
    const nh = p.hyp.length;
    const correct = p.hyp.filter((h) => assign[h] >= 0 && p.ref.includes(assign[h])).length;
    total += nr * p.dur;
    missed += Math.max(0, nr - nh) * p.dur;
    falseAlarm += Math.max(0, nh - nr) * p.dur;
    confusion += (Math.min(nr, nh) - correct) * p.dur;
  }
  const der = total > 0 ? (missed + falseAlarm + confusion) / total : falseAlarm > 0 ? Infinity : 0;
  return {
    der,
    missed,
    falseAlarm,
    confusion,
    total,
    mapping,
    refSpeakers: refNames.length,
    hypSpeakers: hypNames.length,
  };
}

/**
 * Each hypothesis turn with a confidence that overlaps the reference, and whether it was labelled right: its label
 * maps (DerResult.mapping) to the reference speaker it overlaps most.
 */
export function judgedTurns(
  ref: readonly Turn[],
  hyp: readonly Turn[],
  mapping: Record<string, string>,
): { confidence: number; right: boolean }[] {
  return hyp.flatMap((h) => {
    if (h.confidence === undefined) return [];
    const overlap = new Map<string, number>();
    for (const r of ref) {
      const o = Math.min(h.end, r.end) - Math.max(h.start, r.start);
      if (o > 0) overlap.set(r.speaker, (overlap.get(r.speaker) ?? 0) + o);
    }
    const most = [...overlap].sort((a, b) => b[1] - a[1])[0];
    return most ? [{ confidence: h.confidence, right: mapping[h.speaker] === most[0] }] : [];
  });
}

/**
 * How well confidences rank wrong turns below right ones: the chance that a wrong turn's confidence is lower than a
 * right one's, ties counting half (the area under the ROC curve; 0.5 is chance). NaN without both kinds.
 */
export function wrongRankedBelow(turns: readonly { confidence: number; right: boolean }[]): number {
  const right = turns.filter((t) => t.right).map((t) => t.confidence);
  const wrong = turns.filter((t) => !t.right).map((t) => t.confidence);
  if (right.length === 0 || wrong.length === 0) return NaN;
  let score = 0;
  for (const w of wrong) for (const r of right) score += w < r ? 1 : w === r ? 0.5 : 0;
  return score / (right.length * wrong.length);
}
