/**
 * The built-in speaker embedding's learned parameters (builtin-voice.json, made by `npm run train:speaker` from
 * LibriSpeech readers): how to standardise the voice statistics, the projection that keeps what differs between
 * voices and drops what varies inside one (LDA, within-speaker whitened), the calibration of the embedding's cosine
 * scores into a same-speaker probability, and how far apart its pieces lie within one voice and between two (the
 * clustering's model of a speaker). Checked on load: a damaged file is an error that says what is wrong, never a
 * silently wrong embedding.
 */
import { readFileSync } from 'node:fs';
import { STATS_DIM } from './voice-stats.js';
import { SpeakerEmbeddingError, type SpeakerSpread } from './embedding.js';
import shipped from './builtin-voice.json' with { type: 'json' };

export const BUILTIN_PARAMS_FORMAT = 'earshot-builtin-speaker/2';

export interface BuiltinParams {
  format: typeof BUILTIN_PARAMS_FORMAT;
  /** Length of the statistics vector the parameters were fitted on (STATS_DIM). */
  statsDim: number;
  /** Embedding size. */
  dim: number;
  /** Standardisation: (x - mean) / scale, per statistic. */
  mean: number[];
  scale: number[];
  /** statsDim × dim, row-major: embedding = standardised statistics × projection. */
  projection: number[];
  /**
   * Same-speaker log-odds of the embedding's cosine score: slope × cosine + offset (logistic regression on
   * cross-validated readers' pairs of 1.5-3 s pieces, equal priors).
   */
  calibration: { slope: number; offset: number };
  /**
   * 1 - cosine between two 2.5 s pieces of one reader (within), and how much more between two readers (between),
   * averaged over cross-validated pairs: the clustering's model of a speaker (cluster.ts).
   */
  spread: SpeakerSpread;
  /** Where the numbers came from: readers, command, figures. Not used at run time. */
  provenance?: unknown;
}

function numbers(o: Record<string, unknown>, key: string, length: number, where: string): number[] {
  const v = o[key];
  if (
    !Array.isArray(v) ||
    v.length !== length ||
    !v.every((x) => typeof x === 'number' && Number.isFinite(x))
  ) {
    throw new SpeakerEmbeddingError(
      `${where}: "${key}" must be ${length} finite numbers, got ${Array.isArray(v) ? `${v.length} values` : typeof v}`,
    );
  }
  return v as number[];
}

/** Checks the shape of parsed parameters; `where` names the source in errors. */
export function parseBuiltinParams(json: unknown, where = 'built-in speaker parameters'): BuiltinParams {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SpeakerEmbeddingError(`${where}: not a JSON object`);
  }
  const o = json as Record<string, unknown>;
  if (o.format !== BUILTIN_PARAMS_FORMAT) {
    throw new SpeakerEmbeddingError(
      `${where}: format is ${JSON.stringify(o.format)}, expected ${BUILTIN_PARAMS_FORMAT}`,
    );
  }
  if (o.statsDim !== STATS_DIM) {
    throw new SpeakerEmbeddingError(
      `${where}: fitted on ${String(o.statsDim)} statistics, this version computes ${STATS_DIM}: retrain it`,
    );
  }
  const dim = o.dim;
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1 || dim > STATS_DIM) {
    throw new SpeakerEmbeddingError(`${where}: "dim" must be an integer 1..${STATS_DIM}, got ${String(dim)}`);
  }
  const scale = numbers(o, 'scale', STATS_DIM, where);
  if (!scale.every((s) => s > 0)) throw new SpeakerEmbeddingError(`${where}: "scale" must be positive`);
  const cal = o.calibration as Record<string, unknown> | undefined;
  if (
    typeof cal !== 'object' ||
    cal === null ||
    !(typeof cal.slope === 'number' && cal.slope > 0) ||
    !(typeof cal.offset === 'number' && Number.isFinite(cal.offset))
  ) {
    throw new SpeakerEmbeddingError(`${where}: "calibration" must be { slope > 0, offset }`);
  }
  const spread = o.spread as Record<string, unknown> | undefined;
  if (
    typeof spread !== 'object' ||
    spread === null ||
    !(typeof spread.within === 'number' && spread.within > 0) ||
    !(typeof spread.between === 'number' && spread.between > 0)
  ) {
    throw new SpeakerEmbeddingError(`${where}: "spread" must be { within > 0, between > 0 }`);
  }
  return {
    format: BUILTIN_PARAMS_FORMAT,
    statsDim: STATS_DIM,
    dim,
    mean: numbers(o, 'mean', STATS_DIM, where),
    scale,
    projection: numbers(o, 'projection', STATS_DIM * dim, where),
    calibration: { slope: cal.slope, offset: cal.offset },
    spread: { within: spread.within, between: spread.between },
    provenance: o.provenance,
  };
}

/** Parameters from a JSON file (default: the ones shipped with earshot). */
export function loadBuiltinParams(path?: string): BuiltinParams {
  if (path === undefined) return parseBuiltinParams(shipped, 'models/speaker/builtin-voice.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SpeakerEmbeddingError(
      `cannot read built-in speaker parameters ${path}: ${(err as Error).message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SpeakerEmbeddingError(`${path} is not valid JSON (damaged?): ${(err as Error).message}`);
  }
  return parseBuiltinParams(json, path);
}
