/**
 * Parity with sherpa-onnx, the independent reference (npm sherpa-onnx-node: its own C++ fbank, resampler and
 * onnxruntime, run in a child process): random-weight models in the WeSpeaker, 3D-Speaker and NeMo layouts, with
 * the metadata sherpa-onnx's export scripts write, non-linear in the features (TDNN + ReLU + statistics pooling),
 * must give the same embedding in earshot (loadSpeakerClip + OnnxEmbedder, what `earshot speakers embed` runs) as in
 * sherpa-onnx: cosine >= 0.999 for clips of 0.5 s to 30 s, silence-padded, at 16, 8 and 44.1 kHz. Voices: generated
 * ones and real LibriSpeech readers carried in test/fixtures/speaker (up to a 28 s two-reader conversation).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAudioFile } from '../../../audio/load.js';
import { loadSpeakerClip } from '../../../models/speaker/clip.js';
import { cosine } from '../../../models/speaker/embedding.js';
import { loadOnnxEmbedder } from '../../../models/speaker/onnx.js';
import { concat, encode, voice, wavHeader } from '../../helpers/audio.js';
import { sherpaEmbeddings, sherpaVersion } from '../../helpers/sherpa-reference.js';
import { type SpeakerModelOptions, writeSpeakerModel } from '../../helpers/speaker-model.js';

const SR = 16000;
const RATES = [16000, 8000, 44100];
const FIXTURE = fileURLToPath(new URL('../../fixtures/speaker/librispeech-two-men.wav', import.meta.url));
/** Two whole LibriSpeech recordings carried for the voiceprint test: a woman (587) and a man (8838). */
const READERS = ['librispeech-587-41611-0000.wav', 'librispeech-8838-298545-0000.wav'].map((f) =>
  fileURLToPath(new URL(`../../fixtures/speaker/${f}`, import.meta.url)),
);
const MIN_COSINE = 0.999;

const MODELS: Record<string, SpeakerModelOptions> = {
  wespeaker: { kind: 'wespeaker', channels: 64, dim: 64, seed: 3 },
  '3d-speaker': { kind: '3d-speaker', channels: 64, dim: 48, seed: 4 },
  nemo: { kind: 'nemo', channels: 64, dim: 32, seed: 5 },
};

interface Clip {
  name: string;
  /** 16 kHz speech, before padding. */
  speech: Float32Array;
}

const silence = (seconds: number): Float32Array => new Float32Array(Math.round(seconds * SR));

/** Deterministic noise under the generated voices, so no frame is digital silence inside the speech. */
function hiss(n: number, seed: number, amp = 0.003): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    out[i] = (seed / 2 ** 32 - 0.5) * amp;
  }
  return out;
}

function generated(seconds: number, f0: number, formants: [number, number], seed: number): Float32Array {
  const v = voice(f0, formants, seconds, seed);
  const h = hiss(v.length, seed);
  return v.map((x, i) => x + h[i]);
}

describe(
  'speaker embeddings agree with sherpa-onnx',
  { skip: sherpaVersion() ? false : 'sherpa-onnx-node is not installed' },
  () => {
    let dir: string;
    const clips: Clip[] = [];
    const files: { clip: string; rate: number; path: string }[] = [];
    const rows: string[] = [];

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'earshot-parity-'));
      for (const [name, opts] of Object.entries(MODELS)) writeSpeakerModel(join(dir, `${name}.onnx`), opts);
      clips.push(
        { name: 'generated 0.5 s', speech: generated(0.5, 120, [700, 1200], 1) },
        { name: 'generated 2 s', speech: generated(2, 210, [500, 1800], 2) },
        { name: 'generated 30 s', speech: generated(30, 150, [600, 1500], 3) },
      );
      const fixture = (await loadAudioFile(FIXTURE)).samples16k;
      clips.push(
        { name: 'real 0.5 s', speech: fixture.subarray(SR, SR + SR / 2) },
        { name: 'real 3 s (two readers)', speech: fixture.subarray(2 * SR, 5 * SR) },
        { name: 'real 8 s', speech: fixture },
      );
      // A 28 s conversation of two readers, and one whole 14 s recording.
      const [woman, man] = await Promise.all(READERS.map(async (f) => (await loadAudioFile(f)).samples16k));
      clips.push(
        { name: 'real 28 s (woman, man)', speech: concat([woman, silence(0.3), man]) },
        { name: 'real 14 s (woman)', speech: woman },
      );
      clips.forEach((c, i) => {
        const padded = concat([silence(0.25 + 0.25 * (i % 3)), c.speech, silence(0.5)]);
        for (const rate of RATES) {
          const pcm = encode(padded, 'linear16', rate);
          const path = join(dir, `clip${i}-${rate}.wav`);
          writeFileSync(path, Buffer.concat([wavHeader(pcm.length, rate), pcm]));
          files.push({ clip: c.name, rate, path });
        }
      });
    });

    after(() => {
      console.log(
        `# cosine(earshot, sherpa-onnx ${sherpaVersion()}) per model, clip and input rate\n${rows.join('\n')}`,
      );
      rmSync(dir, { recursive: true, force: true });
    });

    for (const name of Object.keys(MODELS)) {
      test(`${name} layout: cosine >= ${MIN_COSINE} at 16, 8 and 44.1 kHz, 0.5 s to 30 s`, async () => {
        const model = join(dir, `${name}.onnx`);
        const reference = await sherpaEmbeddings(
          model,
          files.map((f) => f.path),
        );
        const e = await loadOnnxEmbedder(model);
        try {
          const bad: string[] = [];
          for (let i = 0; i < files.length; i++) {
            const [mine] = await e.embed([await loadSpeakerClip(files[i].path)]);
            const c = cosine(mine, reference[i]);
            rows.push(
              `${name.padEnd(10)} ${files[i].clip.padEnd(28)} ${String(files[i].rate).padStart(5)} Hz  ${c.toFixed(6)}  (1 - cos = ${(1 - c).toExponential(1)})`,
            );
            if (!(c >= MIN_COSINE)) bad.push(`${files[i].clip} at ${files[i].rate} Hz: ${c.toFixed(6)}`);
          }
          assert.deepEqual(bad, [], `cosine below ${MIN_COSINE}`);
        } finally {
          await e.release();
        }
      });
    }

    test('the check has teeth: the same model read with [-1, 1] samples gives sherpa-onnx another embedding', async () => {
      // A model blind to the features' scale and offset would agree with whatever earshot computed.
      const unit = join(dir, 'wespeaker-unit.onnx');
      writeSpeakerModel(unit, { ...MODELS.wespeaker, metadata: { normalize_samples: '1' } });
      const paths = files.filter((f) => f.rate === SR).map((f) => f.path);
      const [int16, float] = await Promise.all([
        sherpaEmbeddings(join(dir, 'wespeaker.onnx'), paths),
        sherpaEmbeddings(unit, paths),
      ]);
      const cosines = paths.map((_, i) => cosine(int16[i], float[i]));
      assert.ok(Math.max(...cosines) < 0.99, `cosines ${cosines.map((c) => c.toFixed(3)).join(', ')}`);
    });
  },
);
