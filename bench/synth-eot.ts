// Where a random synthetic model ends its windows: tokens decoded (greedy, with timestamps, as the server decodes)
// for windows holding 1..30 s of the two-speaker fixture, and the wall time of each window.
//   node --import tsx bench/synth-eot.ts [micro|tiny|base] [seed]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesizeWhisper, type SynthSize } from '../models/synth/index.js';
import { decodeWindows } from '../models/whisper/transcribe.js';
import { WhisperModel } from '../models/whisper/runtime.js';
import { speechFixture } from '../test/helpers/audio.js';

const size = (process.argv[2] ?? 'micro') as SynthSize;
const seed = Number(process.argv[3] ?? 1);
const dir = mkdtempSync(join(tmpdir(), 'earshot-synth-eot-'));
try {
  await synthesizeWhisper(dir, { size, seed });
  const model = await WhisperModel.load(dir, {});
  const speech = speechFixture().samples;
  // Loop the 10.6-s fixture for longer windows.
  const audio = new Float32Array(30 * 16000).map((_, i) => speech[i % speech.length]);
  console.log(`synthetic:${size} seed ${seed}`);
  console.log('seconds  tokens  tokens/s  finished  ms');
  for (const seconds of [0, 1, 2, 3, 5, 8, 10, 15, 20, 30]) {
    const window = seconds === 0 ? new Float32Array(16000) : audio.subarray(0, seconds * 16000);
    const t0 = performance.now();
    const [r] = await decodeWindows(model, [{ audio: window, offset: 0 }], {
      temperatures: [0],
      language: 'en',
    });
    const ms = Math.round(performance.now() - t0);
    const n = r.decode.tokens.length;
    const rate = seconds > 0 ? (n / seconds).toFixed(1) : '-';
    console.log(
      `${String(seconds).padStart(7)}  ${String(n).padStart(6)}  ${rate.padStart(8)}  ${String(r.decode.finished).padStart(8)}  ${ms}`,
    );
  }
  await model.release();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
