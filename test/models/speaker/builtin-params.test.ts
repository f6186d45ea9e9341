import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBuiltinParams, parseBuiltinParams } from '../../../models/speaker/builtin-params.js';
import { STATS_DIM } from '../../../models/speaker/voice-stats.js';

const SHIPPED = new URL('../../../models/speaker/builtin-voice.json', import.meta.url);
const shipped = (): Record<string, unknown> =>
  JSON.parse(readFileSync(SHIPPED, 'utf8')) as Record<string, unknown>;

describe('built-in speaker parameters', () => {
  test('the shipped file loads, with its shapes and a calibrated threshold inside (-1, 1)', () => {
    const p = loadBuiltinParams();
    assert.equal(p.statsDim, STATS_DIM);
    assert.equal(p.mean.length, STATS_DIM);
    assert.equal(p.projection.length, STATS_DIM * p.dim);
    const threshold = -p.calibration.offset / p.calibration.slope;
    assert.ok(threshold > -1 && threshold < 1, `threshold ${threshold}`);
    // Pieces of one voice closer than pieces of two (1 - cosine), both inside (0, 2).
    assert.ok(p.spread.within > 0 && p.spread.within + p.spread.between < 2, JSON.stringify(p.spread));
  });

  test('a damaged file is an error that says what is wrong', () => {
    const dir = mkdtempSync(join(tmpdir(), 'earshot-speaker-'));
    const cut = join(dir, 'cut.json');
    writeFileSync(cut, readFileSync(SHIPPED, 'utf8').slice(0, 5000));
    assert.throws(() => loadBuiltinParams(cut), /cut\.json is not valid JSON/);
    assert.throws(() => loadBuiltinParams(join(dir, 'missing.json')), /cannot read/);

    const p = shipped();
    assert.throws(
      () => parseBuiltinParams({ ...p, projection: (p.projection as number[]).slice(1) }),
      /"projection" must be \d+ finite numbers, got \d+ values/,
    );
    assert.throws(
      () => parseBuiltinParams({ ...p, mean: [...(p.mean as number[]).slice(1), null] }),
      /"mean"/,
    );
    assert.throws(() => parseBuiltinParams({ ...p, statsDim: 41 }), /retrain/);
    assert.throws(() => parseBuiltinParams({ ...p, format: 'other' }), /format/);
    assert.throws(() => parseBuiltinParams({ ...p, calibration: { slope: -1, offset: 0 } }), /calibration/);
    assert.throws(() => parseBuiltinParams({ ...p, spread: { within: 0.3 } }), /"spread" must be/);
    assert.throws(() => parseBuiltinParams([]), /not a JSON object/);
  });
});
