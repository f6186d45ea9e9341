import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { FIXTURES } from '../../helpers/audio.js';
import { synthModel } from '../../helpers/models.js';
import { startTestServer } from '../../helpers/server.js';

/**
 * The captions page as a person uses it: Debian's Chromium, its fake microphone playing the speech fixture,
 * the page streaming to earshot and showing one caption per utterance.
 */

/** C0 and C1 control characters other than \t and \n. */
// Names the page-side callbacks use: page.evaluate sends the function's source to Chromium, where these are the
// browser's own globals; here they only need a type (the project does not compile against the DOM library).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const window: any, document: any, MutationObserver: any, AudioContext: any;

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

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

  test('microphone at 16 kHz to grey interims, captions, lag, then the SRT download link', async () => {
    const page = await browser.newPage({ bypassCSP: true }); // the test drives the page with eval; the CSP forbids that
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // Between the page and the server: note the socket's URL, and put control characters into every transcript
    // (a model can say them) to see that none reaches the DOM.
    const sockets: string[] = [];
    await page.routeWebSocket(/\/v1\/listen/, (ws) => {
      sockets.push(ws.url());
      const upstream = ws.connectToServer();
      upstream.onMessage((m) => {
        if (typeof m !== 'string') return ws.send(m);
        const msg = JSON.parse(m) as { type: string; channel?: { alternatives: { transcript: string }[] } };
        const alt = msg.type === 'Results' ? msg.channel!.alternatives[0] : undefined;
        if (alt) alt.transcript = alt.transcript.replace(' world', '\u0007 \u0000world\u0085\u001b');
        ws.send(JSON.stringify(msg));
      });
    });
    await page.goto(`${server.url}/`);
    // Every text the grey interim line shows, before finals replace it.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { interims: string[] }).interims = seen;
      new MutationObserver(() => {
        const t = document.querySelector('#captions .interim')?.textContent;
        if (t) seen.push(t);
      }).observe(document.getElementById('captions')!, {
        subtree: true,
        childList: true,
        characterData: true,
      });
    });
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
    const interims = await page.evaluate(() => (window as unknown as { interims: string[] }).interims);
    assert.ok(
      interims.some((t) => /hello/.test(t)),
      `interim text shown: ${JSON.stringify(interims)}`,
    );
    assert.ok(!interims.some((t) => CONTROL.test(t)), JSON.stringify(interims));
    const dom = await page.evaluate(() => document.body.innerText + document.body.textContent);
    assert.ok(!CONTROL.test(dom.replace(/[\t\n]/g, '')), 'no control character in the DOM');
    assert.match((await page.textContent('#lag'))!, /^lag \d+\.\d s$/);
    // The worklet resamples the device rate (Chromium: 48 kHz) to 16 kHz and says so.
    assert.equal(sockets.length, 1);
    assert.equal(new URL(sockets[0]).searchParams.get('sample_rate'), '16000');
    assert.equal(await page.evaluate(() => new AudioContext().sampleRate !== 16000), true);
    const href = await page.getAttribute('#srt', 'href');
    const srt = await (await fetch(new URL(href!, server.url))).text();
    assert.ok((srt.match(/ --> /g) ?? []).length >= 3, srt);
    assert.deepEqual(errors, []);
  });
});
