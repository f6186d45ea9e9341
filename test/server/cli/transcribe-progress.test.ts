import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { FIXTURES } from '../../helpers/audio.js';
import { synthModel } from '../../helpers/models.js';
import { progressBar } from '../../../server/cli/progress.js';
import { runCli as run } from '../../helpers/cli.js';

describe('earshot transcribe: progress and --diarize', () => {
  test('piped: no progress bar on stderr; --diarize puts speakers in the SRT', async () => {
    const model = await synthModel({ script: '<|0.00|> hello world<|1.00|>', timestamped: true });
    const r = await run([
      'transcribe',
      `${FIXTURES}vad/two-speakers-10s.wav`,
      '--model',
      model,
      '--language',
      'en',
      '--format',
      'srt',
      '--diarize',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^1\n00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}\n\[Speaker \d+\] hello world\n/);
    assert.doesNotMatch(r.stderr, /\r|%|#{3}/, 'a progress bar was drawn into a pipe');
  });

  test('on a terminal the bar is drawn in place and ends with a newline', () => {
    const out = Object.assign(new PassThrough(), { isTTY: true }) as unknown as NodeJS.WriteStream;
    let text = '';
    (out as unknown as PassThrough).on('data', (d: Buffer) => (text += d));
    const bar = progressBar(out, 'a.wav')!;
    bar.update(0.5);
    bar.done();
    assert.equal(text.split('\r').length - 1, 3);
    assert.match(text, /\ra\.wav \[#{15}\.{15}\]  50%/);
    assert.ok(text.endsWith('100%\n'));
    const piped = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
    assert.equal(progressBar(piped, 'a.wav'), undefined);
  });
});
