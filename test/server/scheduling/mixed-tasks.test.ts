import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WhisperModel } from '../../../models/whisper/runtime.js';
import { decodeWindows } from '../../../models/whisper/transcribe.js';
import { InferenceScheduler, type BatchInfo } from '../../../server/scheduling/scheduler.js';
import type { Task } from '../../../models/whisper/tasks.js';
import { synthModel } from '../../helpers/models.js';
import { recordPrompts } from '../../helpers/prompts.js';

let model: WhisperModel;
before(async () => {
  model = await WhisperModel.load(await synthModel({ seed: 9 }));
});
after(() => model.release());

test('streams that translate and streams that transcribe share a batch, each row with its own task token', async () => {
  const batches: BatchInfo[] = [];
  const scheduler = new InferenceScheduler(
    { decodeWindows: (w, o) => decodeWindows(model, w, o) },
    { maxBatch: 8, batchWindowMs: 20, onBatch: (b) => batches.push(b) },
  );
  const prompts = recordPrompts(model);
  const audio = Float32Array.from({ length: 16000 }, (_, i) => 0.2 * Math.sin(i / 5));
  // As a live stream builds its jobs (server/stream/jobs.ts): the task rides on the window, the options agree.
  const sessions: [string, Task][] = [
    ['a', 'translate'],
    ['b', 'transcribe'],
    ['c', 'translate'],
  ];
  await Promise.all(
    sessions.map(([session, task], i) =>
      scheduler.submit({
        session,
        kind: 'final',
        window: { audio, offset: i, language: 'de', task },
        options: { wordTimestamps: true, temperatures: [0], maxNewTokens: 4 },
      }),
    ),
  );
  assert.deepEqual(
    batches.map((b) => b.size),
    [3],
    'one engine call for the three streams',
  );
  const { translate, transcribe } = model.ids;
  assert.deepEqual(
    prompts.batches[0].map((row) => [row.includes(translate!), row.includes(transcribe!)]),
    [
      [true, false],
      [false, true],
      [true, false],
    ],
  );
});
