import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { FIXTURES } from '../helpers/audio.js';
import { synthModel } from '../helpers/models.js';
import { startTestServer } from '../helpers/server.js';

/**
 * The captions page as a person uses it: Debian's Chromium, its fake microphone playing the speech fixture,
 * the page streaming to earshot and showing one caption per utterance.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM)
  ? false
  : `SKIPPED LOUDLY: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH); .ci/run installs it`;

describe('live captions page in Chromium', { skip }, () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;
  before(async () => {
    const model = await synthModel({ script: '<|0.00|> hello world<|1.00|>', timestamped: true });
    server = await startTestServer({ model, admissionTarget: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-audio-capture=${FIXTURES}vad/two-speakers-10s.wav`,
      ],
    });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('microphone to captions, then the SRT download link', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}/`);
    await page.click('#start');
    // The fake microphone loops the 10.6 s file: wait for the three utterances of its first pass.
    await page.waitForFunction("document.querySelectorAll('#captions .final').length >= 3", undefined, {
      timeout: 30_000,
    });
    await page.click('#stop');
    await page.waitForFunction("document.getElementById('status').textContent.startsWith('closed')");
    const finals = await page.$$eval('#captions .final', (els) => els.map((e) => e.textContent));
    assert.ok(
      finals.slice(0, 3).every((t) => /^\d\d:\d\d ?hello world$/.test(t!)),
      finals.join(' | '),
    );
    assert.equal(await page.textContent('#status'), 'closed 1000 ');
    const href = await page.getAttribute('#srt', 'href');
    const srt = await (await fetch(new URL(href!, server.url))).text();
    assert.ok((srt.match(/ --> /g) ?? []).length >= 3, srt);
    assert.deepEqual(errors, []);
  });
});
