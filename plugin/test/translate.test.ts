import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dispose } from '@livekit/rtc-node';
import { STT } from '../src/index.js';
import { recordPrompts, type PromptLog } from '../../test/helpers/prompts.js';
import { fixture, finals, SCRIPT, startEarshot, streamTurns, toFrames, type Earshot } from './helpers.js';

/** task: 'translate' reaches the server's decoder (its prompts carry <|translate|>), streaming and recognize(). */

const fx = fixture();
let server: Earshot;
let prompts: PromptLog;
before(async () => {
  // The model on the test's thread: what proves the task is the prompt its decoder is started with.
  server = await startEarshot({}, { inlineModel: true });
  prompts = recordPrompts(server.model!);
});
after(async () => {
  await server.stop();
  await dispose();
});

/** The task tokens of the decodes since the last look. */
function tasks(): Set<string> {
  const { translate, transcribe } = server.model!.ids;
  const seen = new Set(
    prompts
      .rows()
      .map((r) => (r.includes(translate!) ? 'translate' : r.includes(transcribe!) ? 'transcribe' : '?')),
  );
  prompts.clear();
  return seen;
}

test("stream() with task 'translate': every decode translates; the finals' language is the text's (English)", async () => {
  const stt = new STT({ url: server.url, language: 'de', task: 'translate' });
  const { evs } = await streamTurns(stt.stream(), fx.samples);
  const fs = finals(evs);
  assert.equal(fs.length, fx.segments.length);
  assert.ok(
    fs.every((f) => f.text === SCRIPT && f.language === 'en'),
    JSON.stringify(fs),
  );
  assert.deepEqual(tasks(), new Set(['translate']));
  // Without the option the same stream transcribes, in the language asked for.
  const plain = finals(
    (await streamTurns(new STT({ url: server.url, language: 'de' }).stream(), fx.samples)).evs,
  );
  assert.ok(plain.every((f) => f.language === 'de'));
  assert.deepEqual(tasks(), new Set(['transcribe']));
});

test("recognize() with task 'translate' translates", async () => {
  const stt = new STT({ url: server.url, task: 'translate' });
  const ev = await stt.recognize(toFrames(fx.samples.subarray(0, 16000 * 4), 16000));
  assert.equal(ev.alternatives![0].text, SCRIPT);
  assert.equal(ev.alternatives![0].language, 'en');
  assert.deepEqual(tasks(), new Set(['translate']));
});

test('a task that is not one is refused when the STT is made', () => {
  assert.throws(
    () => new STT({ url: server.url, task: 'dance' as never }),
    /task must be 'transcribe' or 'translate'/,
  );
});
