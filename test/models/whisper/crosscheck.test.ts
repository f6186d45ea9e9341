import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  AutoProcessor,
  WhisperForConditionalGeneration,
  env,
  pipeline,
  Tensor,
} from '@huggingface/transformers';
import { decodeBatch } from '../../../models/whisper/decode.js';
import { decodeWindows, transcribe } from '../../../models/whisper/transcribe.js';
import { WhisperModel } from '../../../models/whisper/runtime.js';
import { synthModel } from '../../helpers/models.js';

/**
 * Cross-checks against an independent implementation: transformers.js loads the same synthetic directory offline.
 * Random models check the numerics (greedy ids must match token for token); scripted models check timestamps.
 */

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.useFSCache = false;

function signal(seed: number, seconds: number): Float32Array {
  const x = new Float32Array(Math.round(16000 * seconds));
  let a = seed;
  for (let i = 0; i < x.length; i++) {
    a = (a * 1103515245 + 12345) & 0x7fffffff;
    x[i] = 0.3 * Math.sin((2 * Math.PI * (200 + seed * 37) * i) / 16000) + 0.1 * (a / 0x7fffffff - 0.5);
  }
  return x;
}

describe('random model: greedy ids equal transformers.js generate()', () => {
  let dir: string;
  let model: WhisperModel;
  before(async () => {
    dir = await synthModel({ seed: 11 });
    model = await WhisperModel.load(dir);
  });
  after(() => model.release());

  test('token for token on several inputs, and batched = unbatched', async () => {
    const tjs = await WhisperForConditionalGeneration.from_pretrained(dir, {
      dtype: 'fp32',
      device: 'cpu',
      local_files_only: true,
    });
    const processor = await AutoProcessor.from_pretrained(dir, { local_files_only: true });
    const inputs = [signal(1, 3), signal(2, 7.5), signal(3, 12), signal(4, 1)];
    const expected: number[][] = [];
    for (const audio of inputs) {
      const { input_features } = (await processor(audio)) as { input_features: Tensor };
      const out = (await tjs.generate({
        inputs: input_features,
        max_new_tokens: 24,
        language: 'en',
        task: 'transcribe',
      } as never)) as Tensor;
      expected.push(Array.from(out.tolist()[0] as bigint[], Number));
    }
    await tjs.dispose();
    const requests = inputs.map(() => ({ language: 'en', timestamps: false, maxNewTokens: 24 }));
    const hidden = await model.encode(inputs.map((a) => model.features(a)));
    const batched = await decodeBatch(model, hidden, requests);
    const prompt = [
      model.ids.sot,
      model.ids.languages.get('en')!,
      model.ids.transcribe!,
      model.ids.noTimestamps,
    ];
    batched.forEach((r, i) => {
      const ours = [...prompt, ...r.tokens, ...(r.finished ? [model.ids.eot] : [])];
      assert.deepEqual(ours, expected[i], `input ${i}`);
      assert.ok(r.tokens.length > 3, 'a random model says something');
    });
    for (let i = 0; i < inputs.length; i++) {
      const one = await decodeBatch(model, await model.encode([model.features(inputs[i])]), [requests[i]]);
      assert.deepEqual(one[0].tokens, batched[i].tokens, `batch row ${i} equals batch-1`);
      assert.ok(Math.abs(one[0].sumLogprob - batched[i].sumLogprob) < 1e-3);
    }
  });

  test('previous-text prompt (<|startofprev|>) equals transformers.js with the same decoder_input_ids', async () => {
    const tjs = await WhisperForConditionalGeneration.from_pretrained(dir, {
      dtype: 'fp32',
      device: 'cpu',
      local_files_only: true,
    });
    const processor = await AutoProcessor.from_pretrained(dir, { local_files_only: true });
    const audio = signal(9, 5);
    const promptTokens = model.tokenizer.encode(' hello world the');
    const init = [
      model.ids.prevSot,
      ...promptTokens,
      model.ids.sot,
      model.ids.languages.get('en')!,
      model.ids.transcribe!,
      model.ids.noTimestamps,
    ];
    const { input_features } = (await processor(audio)) as { input_features: Tensor };
    const out = (await tjs.generate({
      inputs: input_features,
      max_new_tokens: 16,
      decoder_input_ids: init,
    } as never)) as Tensor;
    await tjs.dispose();
    const [r] = await decodeBatch(model, await model.encode([model.features(audio)]), [
      { language: 'en', timestamps: false, maxNewTokens: 16, promptTokens },
    ]);
    assert.deepEqual(
      [...init, ...r.tokens, ...(r.finished ? [model.ids.eot] : [])],
      Array.from(out.tolist()[0] as bigint[], Number),
    );
  });
});

describe('scripted model: text and timestamps', () => {
  const script = '<|0.00|> hello world<|1.00|><|1.00|> good morning<|2.50|>';
  let dir: string;
  let model: WhisperModel;
  before(async () => {
    dir = await synthModel({ script, timestamped: true });
    model = await WhisperModel.load(dir);
  });
  after(() => model.release());

  test('transformers.js pipeline and earshot agree on the chunks', async () => {
    const asr = await pipeline('automatic-speech-recognition', dir, {
      dtype: 'fp32',
      device: 'cpu',
      local_files_only: true,
    });
    const audio = signal(5, 4);
    const theirs = (await asr(audio, { language: 'en', return_timestamps: true } as never)) as {
      chunks: { text: string; timestamp: [number, number] }[];
    };
    await asr.dispose();
    const [ours] = await decodeWindows(model, [{ audio, offset: 0 }], { language: 'en', temperatures: [0] });
    assert.deepEqual(
      ours.segments.map((s) => [s.text, s.start, s.end]),
      theirs.chunks.map((c) => [c.text, c.timestamp[0], c.timestamp[1]]),
    );
    assert.deepEqual(
      ours.segments.map((s) => [s.text, s.start, s.end]),
      [
        [' hello world', 0, 1],
        [' good morning', 1, 2.5],
      ],
    );
  });

  test('word timestamps from cross-attention: inside their segment, in order', async () => {
    const [r] = await decodeWindows(model, [{ audio: signal(6, 4), offset: 10 }], {
      language: 'en',
      wordTimestamps: true,
      temperatures: [0],
    });
    const words = r.segments.flatMap((s) => s.words!.map((w) => ({ ...w, seg: s })));
    assert.deepEqual(
      words.map((w) => w.word),
      ['hello', 'world', 'good', 'morning'],
    );
    for (const w of words) {
      assert.ok(w.start >= w.seg.start - 1e-9 && w.end <= w.seg.end + 1e-9, `${w.word} outside its segment`);
      assert.ok(w.end >= w.start);
      assert.equal(w.estimated, undefined);
    }
    for (let i = 1; i < words.length; i++) assert.ok(words[i].start >= words[i - 1].start);
  });

  test('long-form seek: one window per 30 s, offsets continue', async () => {
    // A scripted model says its script at fixed positions, so previous-text conditioning would shift it.
    const t = await transcribe(model, signal(7, 65), {
      language: 'en',
      temperatures: [0],
      conditionOnPreviousText: false,
    });
    assert.deepEqual(
      t.segments.map((s) => [s.start, s.end]),
      [
        [0, 1],
        [1, 2.5],
        [30, 31],
        [31, 32.5],
        [60, 61],
        [61, 62.5],
      ],
    );
    assert.equal(t.text, ' hello world good morning'.repeat(3));
    assert.equal(t.duration, 65);
  });

  test('a window shorter than its script clips segment ends to the audio', async () => {
    const [r] = await decodeWindows(model, [{ audio: signal(8, 2), offset: 0 }], {
      language: 'en',
      temperatures: [0],
    });
    assert.ok(r.segments.every((s) => s.end <= 2));
  });
});
