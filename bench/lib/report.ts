import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';

export const OUT_DIR = new URL('../out/', import.meta.url).pathname;

export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
}

export function machine() {
  return {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    node: process.version,
    date: new Date().toISOString(),
  };
}

/** Writes bench/out/<name>-<stamp>.json and <name>-latest.json. */
export function writeReport(name: string, data: unknown): string {
  mkdirSync(OUT_DIR, { recursive: true });
  const body = JSON.stringify({ machine: machine(), ...(data as object) }, null, 2);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(`${OUT_DIR}${name}-${stamp}.json`, body);
  writeFileSync(`${OUT_DIR}${name}-latest.json`, body);
  return `${OUT_DIR}${name}-latest.json`;
}

export function table(rows: Record<string, string | number>[]): string {
  if (rows.length === 0) return '';
  // Every row's columns (a side-by-side run may add some, e.g. labelling cost with diarize on), first seen first.
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: string | number | undefined) =>
    v === undefined ? '-' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : v;
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(width[i])).join('  ');
  return [
    line(cols),
    line(width.map((w) => '-'.repeat(w))),
    ...rows.map((r) => line(cols.map((c) => cell(r[c])))),
  ].join('\n');
}
