import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { detectLanguage, promptFor } from '../../../models/whisper/decode.js';
import { decodeWindows, pooledLanguage, transcribe } from '../../../models/whisper/transcribe.js';
import { WhisperModel } from '../../../models/whisper/runtime.js';
import { canTranslate, checkTask, UnsupportedTaskError } from '../../../models/whisper/tasks.js';
import { synthModel } from '../../helpers/models.js';
import { recordPrompts } from '../../helpers/prompts.js';

/** The task token of a prompt row: which of <|translate|> and <|transcribe|> it holds. */
function taskOf(model: WhisperModel, row: readonly number[]): string {
  const t = row.includes(model.ids.translate!);
  const c = row.includes(model.ids.transcribe!);
  return t && !c ? 'translate' : c && !t ? 'transcribe' : `neither or both (${row.join(' ')})`;
}

describe('tasks: what a request may ask', () => {
  test('absent or empty is transcribe; transcribe and translate pass; anything else names task', () => {
    assert.equal(checkTask(undefined), 'transcribe');
    assert.equal(checkTask(''), 'transcribe');
    assert.equal(checkTask('translate'), 'translate');
    assert.equal(checkTask('transcribe', 'tiny.en'), 'transcribe');
    assert.throws(
      () => checkTask('dance'),
      (e: unknown) =>
        e instanceof UnsupportedTaskError && /^task must be transcribe or translate/.test(e.message),
    );
    assert.throws(
      () => checkTask('translate', 'tiny.en'),
      (e: unknown) =>
        e instanceof UnsupportedTaskError && /the model tiny\.en is English-only/.test(e.message),
    );
  });
});

describe('tasks in the decoder', () => {
  let multi: WhisperModel;
  let english: WhisperModel;
  before(async () => {
    multi = await WhisperModel.load(await synthModel({ seed: 5 }));
    english = await WhisperModel.load(await synthModel({ seed: 5, multilingual: false }));
  });
  after(async () => {
    await multi.release();
    await english.release();
  });
  const audio = Float32Array.from({ length: 16000 * 2 }, (_, i) => 0.2 * Math.sin(i / 7));

  test('the prompt carries the task token; an English-only model refuses translate', () => {
    assert.equal(canTranslate(multi.ids), true);
    assert.equal(canTranslate(english.ids), false);
    const translate = promptFor(multi, { language: 'de', task: 'translate' }).tokens;
    assert.deepEqual(translate, [multi.ids.sot, multi.ids.languages.get('de'), multi.ids.translate]);
    assert.equal(taskOf(multi, promptFor(multi, { language: 'de' }).tokens), 'transcribe');
    assert.throws(() => promptFor(english, { task: 'translate' }), UnsupportedTaskError);
    assert.deepEqual(promptFor(english, {}).tokens, [english.ids.sot]);
  });

  test('one batch mixing translate and transcribe windows: each row decodes with its own task', async () => {
    const prompts = recordPrompts(multi);
    const tasks = ['translate', 'transcribe', 'translate', 'transcribe'] as const;
    const windows = tasks.map((task, i) => ({ audio, offset: i, language: 'en', task }));
    await decodeWindows(multi, windows, { temperatures: [0], maxNewTokens: 4 });
    assert.equal(prompts.batches.length, 1, 'one decoder batch for the four windows');
    assert.deepEqual(
      prompts.batches[0].map((row) => taskOf(multi, row)),
      [...tasks],
    );
    // The options' task is the default of windows that name none.
    prompts.clear();
    await decodeWindows(multi, [{ audio, offset: 0, language: 'en' }, windows[1]], {
      task: 'translate',
      temperatures: [0],
      maxNewTokens: 4,
    });
    assert.deepEqual(
      prompts.batches[0].map((row) => taskOf(multi, row)),
      ['translate', 'transcribe'],
    );
  });

  test('transcribe() translates every window, sequential and batched', async () => {
    const long = Float32Array.from({ length: 16000 * 40 }, (_, i) => 0.2 * Math.sin(i / 7));
    for (const batchSize of [1, 4]) {
      const prompts = recordPrompts(multi);
      await transcribe(multi, long, { language: 'en', task: 'translate', batchSize, maxNewTokens: 4 });
      const rows = prompts.rows();
      assert.ok(rows.length >= 2, `batchSize ${batchSize}: ${rows.length} decodes`);
      assert.ok(
        rows.every((r) => taskOf(multi, r) === 'translate'),
        `batchSize ${batchSize}`,
      );
    }
    await assert.rejects(transcribe(english, long, { task: 'translate' }), UnsupportedTaskError);
  });

  test('language detection: a distribution over the model languages, the chosen one its largest', async () => {
    const [found] = await detectLanguage(multi, await multi.encode([multi.features(audio)]));
    const total = [...found.probabilities.values()].reduce((s, p) => s + p, 0);
    assert.ok(Math.abs(total - 1) < 1e-4, `sums to ${total}`);
    assert.equal(found.probabilities.size, multi.ids.languages.size);
    assert.equal(found.probability, Math.max(...found.probabilities.values()));
    assert.equal(found.probabilities.get(found.language), found.probability);
    const t = await transcribe(multi, audio, { maxNewTokens: 4 });
    assert.equal(t.language, found.language);
    assert.ok(Math.abs(t.languageProbability! - found.probability) < 1e-6);
    const given = await transcribe(multi, audio, { language: 'de', maxNewTokens: 4 });
    assert.equal(given.languageProbability, undefined, 'no probability when the language was given');
  });

  test('pooled over windows: the length-weighted mean distribution decides', () => {
    const d = (en: number, de: number) => ({
      language: en >= de ? 'en' : 'de',
      probability: Math.max(en, de),
      probabilities: new Map([
        ['en', en],
        ['de', de],
      ]),
    });
    const pooled = pooledLanguage([
      { detected: d(0.2, 0.8), seconds: 2 },
      { detected: d(0.9, 0.1), seconds: 10 },
      { seconds: 30 }, // given, not detected: no evidence
    ]);
    assert.equal(pooled?.language, 'en');
    assert.ok(Math.abs(pooled!.probability - (0.2 * 2 + 0.9 * 10) / 12) < 1e-9);
    assert.equal(pooledLanguage([{ seconds: 3 }]), undefined);
  });
});
