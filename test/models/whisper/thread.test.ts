import assert from 'node:assert/strict';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { performance } from 'node:perf_hooks';
import { ModelLoadError } from '../../../models/errors.js';
import { WhisperModel } from '../../../models/whisper/runtime.js';
import { WhisperThread } from '../../../models/whisper/thread.js';
import { decodeWindows, type WindowInput } from '../../../models/whisper/transcribe.js';
import { brokenModel, editJson, synthModel } from '../../helpers/models.js';

/**
 * The server's engine: the model on a thread of its own gives what the model gives on this one, keeps this
 * thread's event loop free while it decodes, and crosses load and decode errors back as they were.
 */

let random: string;
let scripted: string;
let thread: WhisperThread;
let model: WhisperModel;
before(async () => {
  // Random weights: every window decodes differently, so a result mapped to the wrong window shows.
  random = await synthModel({ timestamped: true });
  scripted = await synthModel({ script: '<|0.00|> hello world<|1.00|>' });
  thread = await WhisperThread.start(random);
  model = await WhisperModel.load(random);
});
after(async () => {
  await thread.release();
  await model.release();
});

/** Noise windows of different lengths, some of them views into one longer buffer (as a file's windows are). */
function windows(): WindowInput[] {
  let seed = 7;
  const long = Float32Array.from({ length: 16000 * 40 }, () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return (seed / 2 ** 31 - 0.5) * 0.2;
  });
  return [
    { audio: long.subarray(0, 16000 * 3), offset: 0 },
    { audio: long.subarray(16000 * 5, 16000 * 12), offset: 5 },
    { audio: long.slice(16000 * 20, 16000 * 21), offset: 20, language: 'de' },
  ];
}

const opts = { temperatures: [0, 0.4], wordTimestamps: true, maxNewTokens: 12 };

test('decodes on the thread equal decodes on this thread, window for window', async () => {
  const here = await decodeWindows(model, windows(), opts);
  const there = await thread.decodeWindows(windows(), opts);
  assert.equal(there.length, 3);
  assert.deepEqual(there, here);
  assert.ok(
    there.some((r) => r.segments.length > 0),
    'something was decoded',
  );
});

test("the caller's audio is left as it was (only copies cross)", async () => {
  const w = windows();
  const before = w.map((x) => x.audio.slice());
  await thread.decodeWindows(w, opts);
  w.forEach((x, i) => assert.deepEqual(x.audio, before[i]));
});

test("this thread's event loop stays free while the thread decodes (it is busy while this thread's model does)", async () => {
  const busy = async (decode: () => Promise<unknown>) => {
    const start = performance.eventLoopUtilization();
    await decode();
    return performance.eventLoopUtilization(start).utilization;
  };
  const ws = Array.from({ length: 4 }, () => windows()[1]);
  const inline = await busy(() => decodeWindows(model, ws, opts));
  const threaded = await busy(() => thread.decodeWindows(ws, opts));
  // onnxruntime-node runs a graph synchronously on its caller: inline, the loop is busy throughout.
  assert.ok(inline > 0.8, `inline utilisation ${inline.toFixed(2)}`);
  assert.ok(threaded < 0.5, `threaded utilisation ${threaded.toFixed(2)}`);
});

test('the timing of each encoder call and decoder step reaches onTiming', async () => {
  const seen: string[] = [];
  thread.onTiming = (stage, ms, rows) => {
    assert.ok(ms >= 0 && rows >= 1);
    seen.push(stage);
  };
  await thread.decodeWindows(windows().slice(0, 2), { ...opts, temperatures: [0] });
  thread.onTiming = undefined;
  assert.ok(seen.includes('encoder') && seen.includes('decoder_step'), seen.join());
});

test('a decode that fails rejects with its message, and the thread goes on', async () => {
  await assert.rejects(
    thread.decodeWindows([{ audio: new Float32Array(16000 * 31), offset: 0 }], opts),
    /a window holds at most 30 s, got 31 s/,
  );
  const [r] = await thread.decodeWindows(windows().slice(0, 1), opts);
  assert.ok(r.language);
});

test('a thread that dies fails what it held, warns, and starts again with the next decode', async () => {
  const warnings: string[] = [];
  const t = await WhisperThread.start(scripted, { warn: (m) => warnings.push(m) });
  try {
    const held = t.decodeWindows(windows(), opts);
    await (t as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await assert.rejects(held, /the inference thread exited/);
    assert.match(warnings.join('\n'), /exited .*starts again/);
    const [r] = await t.decodeWindows([{ audio: new Float32Array(32000), offset: 0 }], {
      temperatures: [0],
      language: 'en',
    });
    assert.equal(r.segments.map((s) => s.text).join(''), ' hello world');
  } finally {
    await t.release();
  }
  await assert.rejects(t.decodeWindows(windows(), opts), /released/);
});

test('cuda requested without a GPU: the thread warns once and runs on CPU', async () => {
  const warnings: string[] = [];
  const t = await WhisperThread.start(scripted, { device: 'cuda', warn: (m) => warnings.push(m) });
  try {
    assert.equal(t.device, 'cpu');
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /CUDA requested but unavailable.*running on CPU/);
  } finally {
    await t.release();
  }
});

describe('a model that cannot load fails start() with the ModelLoadError the model gives', () => {
  const cases: [string, (dir: string) => void, RegExp][] = [
    // Found on this thread (the directory and tokenizer) ...
    ['tokenizer.json garbage', (d) => writeFileSync(join(d, 'tokenizer.json'), '{"model": 3}'), /tokenizer/],
    // ... and on the new one (the graphs).
    [
      'truncated decoder',
      (d) => truncateSync(join(d, 'onnx/decoder_model_merged.onnx'), 5000),
      /cannot load .*decoder_model_merged\.onnx/,
    ],
    [
      'config says more decoder layers',
      (d) => editJson(join(d, 'config.json'), (j) => (j.decoder_layers = 3)),
      /lacks input past_key_values\.2/,
    ],
  ];
  for (const [name, edit, message] of cases) {
    test(name, async () => {
      await assert.rejects(WhisperThread.start(brokenModel(scripted, edit)), (e: unknown) => {
        assert.ok(e instanceof ModelLoadError, `${name}: got ${(e as Error).stack}`);
        assert.match(e.message, message);
        return true;
      });
    });
  }
});
