/**
 * A turn's speaker confidence: its speaker's share among the speakers it could have been given and someone else.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { turnConfidence } from '../../../models/speaker/segment.js';

const spread = { within: 0.3, between: 0.6 };
/** A unit vector at `degrees` in the plane. */
const at = (degrees: number): Float32Array =>
  Float32Array.of(Math.cos((degrees * Math.PI) / 180), Math.sin((degrees * Math.PI) / 180));

describe('turn confidence', () => {
  test('one speaker: 0.5 exactly at the same-speaker threshold, more above it, less below', () => {
    const threshold = Math.cos((40 * Math.PI) / 180);
    assert.ok(Math.abs(turnConfidence(at(40), [at(0)], 0, threshold, spread) - 0.5) < 1e-6);
    assert.ok(turnConfidence(at(10), [at(0)], 0, threshold, spread) > 0.5);
    assert.ok(turnConfidence(at(70), [at(0)], 0, threshold, spread) < 0.5);
  });

  test('as close to its speaker, a turn another speaker would have fitted nearly as well is less sure', () => {
    const threshold = 0.5;
    const alone = turnConfidence(at(10), [at(0), at(120)], 0, threshold, spread);
    const between = turnConfidence(at(10), [at(0), at(25)], 0, threshold, spread);
    assert.ok(between < alone - 0.2, `${between} vs ${alone}`);
    // The same cosine to its own speaker gave both the same confidence before.
  });

  test("the shares of every speaker and of someone else add up to one; a voice's own spread sets how sharp", () => {
    const speakers = [at(0), at(30), at(75)];
    const turn = at(20);
    const threshold = 0.6;
    const shares = speakers.map((_, k) => turnConfidence(turn, speakers, k, threshold, spread));
    const own = Math.cos((20 * Math.PI) / 180);
    const someoneElse = shares[0] * Math.exp((threshold - own) / spread.within);
    assert.ok(Math.abs(shares.reduce((a, b) => a + b, 0) + someoneElse - 1) < 1e-6);
    // Voices whose pieces stray less (a smaller spread within one voice) make the same margin surer.
    const tight = turnConfidence(turn, speakers, 1, threshold, { within: 0.1, between: 0.6 });
    assert.ok(tight > shares[1], `${tight} vs ${shares[1]}`);
  });
});
