import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { concat, FIXTURES, speechFixture, wav16 } from '../../helpers/audio.js';
import { synthModel } from '../../helpers/models.js';
import { recordPrompts } from '../../helpers/prompts.js';
import { startTestServer } from '../../helpers/server.js';

/**
 * The captions page as a person uses it: Debian's Chromium, its fake microphone playing the two-voice speech
 * fixture, the page streaming to earshot and showing one caption per utterance, speakers in colours, the level
 * meter, and a file dropped on it transcribed with progress (stream=true).
 */

// Names the page-side callbacks use: page.evaluate sends the function's source to Chromium, where these are the
// browser's own globals; here they only need a type (the project does not compile against the DOM library).
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const window: any, document: any, MutationObserver: any, AudioContext: any, DataTransfer: any;
declare const File: any, getComputedStyle: any, atob: (s: string) => string;
/* eslint-enable @typescript-eslint/no-explicit-any */

/** C0 and C1 control characters other than \t and \n. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM)
  ? false
  : `SKIPPED LOUDLY: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH); .ci/run installs it`;

const ARTIFACTS = new URL('../../../test-artifacts/', import.meta.url).pathname;

/** Records in window.seen[name] every value `read` gives whenever the element `selector` (or its subtree) changes. */
async function record(page: Page, name: string, selector: string, read: string): Promise<void> {
  await page.evaluate(
    ([name, selector, read]) => {
      window.seen ??= {};
      const values: unknown[] = (window.seen[name] = []);
      const el = document.querySelector(selector);
      const take = new Function('el', `return ${read}`);
      new MutationObserver(() => values.push(take(el))).observe(el, {
        subtree: true,
        childList: true,
        characterData: true,
        attributes: true,
      });
    },
    [name, selector, read],
  );
}
/** Drags a file onto the drop zone, as a person dropping it from their file manager. */
async function dropFile(page: Page, bytes: Buffer, name: string): Promise<void> {
  const transfer = await page.evaluateHandle(
    ([b64, name]) => {
      const dt = new DataTransfer();
      const bin = atob(b64);
      dt.items.add(
        new File([Uint8Array.from(bin, (c: string) => c.charCodeAt(0))], name, { type: 'audio/wav' }),
      );
      return dt;
    },
    [bytes.toString('base64'), name],
  );
  await page.dispatchEvent('#drop', 'dragover', { dataTransfer: transfer });
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: transfer });
}
const seen = (page: Page, name: string) => page.evaluate((n) => window.seen[n] as unknown[], name);

/** The finals shown: each line's speaker label (if any), colour and text without its time. */
function captions(page: Page, selector: string) {
  return page.$$eval(selector, (lines) =>
    lines.map((line) => ({
      text: line.textContent,
      turns: [...line.querySelectorAll('.turn')].map((t) => ({
        who: t.querySelector('.who').textContent,
        colour: getComputedStyle(t).color,
      })),
    })),
  );
}

describe('live captions page in Chromium', { skip }, () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;
  let model: string;
  before(async () => {
    model = await synthModel({ script: '<|0.00|> hello world<|1.00|>', timestamped: true });
    // The model on the test's thread: the translate test reads the prompts its decoder is started with.
    server = await startTestServer({ model, admissionTarget: 0 }, { inlineModel: true });
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
        // Two voices: spk1, spk0, spk1 (see its .json).
        `--use-file-for-fake-audio-capture=${FIXTURES}vad/two-speakers-10s.wav`,
      ],
    });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('microphone at 16 kHz to grey interims, captions, lag, a moving level meter, then the SRT link', async () => {
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
    await record(page, 'interims', '#captions', "el.querySelector('.interim')?.textContent");
    await record(page, 'levels', '#level', 'el.value');
    await page.click('#start');
    // The fake microphone loops the 10.6 s file: wait for the three utterances of its first pass.
    await page.waitForFunction("document.querySelectorAll('#captions .final').length >= 3", undefined, {
      timeout: 30_000,
    });
    await page.click('#stop');
    await page.waitForFunction("document.getElementById('status').textContent.startsWith('closed')");
    const finals = await captions(page, '#captions .final');
    assert.ok(
      finals.slice(0, 3).every((f) => /^\d\d:\d\d ?hello world$/.test(f.text) && f.turns.length === 0),
      JSON.stringify(finals),
    );
    assert.equal(await page.textContent('#status'), 'closed 1000 ');
    const interims = (await seen(page, 'interims')) as (string | undefined)[];
    assert.ok(
      interims.some((t) => t && /hello/.test(t)),
      `interim text shown: ${JSON.stringify(interims)}`,
    );
    assert.ok(!interims.some((t) => t && CONTROL.test(t)), JSON.stringify(interims));
    const dom = await page.evaluate(() => document.body.innerText + document.body.textContent);
    assert.ok(!CONTROL.test(dom.replace(/[\t\n]/g, '')), 'no control character in the DOM');
    assert.match((await page.textContent('#lag'))!, /^lag \d+\.\d s$/);
    // The level meter follows the speech: loud words, quiet pauses, and rests at 0 once stopped.
    const levels = (await seen(page, 'levels')) as number[];
    const distinct = new Set(levels.map((l) => Math.round(l * 20)));
    assert.ok(distinct.size >= 5, `meter values: ${levels.slice(0, 40).join(' ')}`);
    assert.ok(Math.max(...levels) > 0.5, `loudest ${Math.max(...levels)}`);
    assert.equal(await page.evaluate(() => document.getElementById('level').value), 0);
    // The worklet resamples the device rate (Chromium: 48 kHz) to 16 kHz and says so; the switch is off.
    assert.equal(sockets.length, 1);
    const query = new URL(sockets[0]).searchParams;
    assert.equal(query.get('sample_rate'), '16000');
    assert.equal(query.get('diarize'), null);
    assert.equal(await page.evaluate(() => new AudioContext().sampleRate !== 16000), true);
    const href = await page.getAttribute('#srt', 'href');
    const srt = await (await fetch(new URL(href!, server.url))).text();
    assert.ok((srt.match(/ --> /g) ?? []).length >= 3, srt);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('the diarize switch: diarize=true on the socket, every final named by its speaker (real server)', async (t) => {
    const page = await browser.newPage({ bypassCSP: true });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await page.goto(`${server.url}/`);
    await page.check('#diarize');
    await page.click('#start');
    await page.waitForFunction("document.querySelectorAll('#captions .final').length >= 3", undefined, {
      timeout: 30_000,
    });
    await page.click('#stop');
    await page.waitForFunction("document.getElementById('status').textContent.startsWith('closed')");
    assert.equal(new URL(sockets[0]).searchParams.get('diarize'), 'true');
    const finals = await captions(page, '#captions .final');
    // Which label each voice gets is the built-in embedding's call (measured in bench/diarization.ts; here it
    // gives spk1's two utterances different labels); the page must name every final's speaker.
    t.diagnostic(
      `labels (truth: spk1 spk0 spk1): ${finals.map((f) => f.turns.map((x) => x.who)).join(' | ')}`,
    );
    for (const f of finals.slice(0, 3)) {
      assert.ok(f.turns.length >= 1, JSON.stringify(f));
      assert.ok(
        f.turns.every((t) => /^Speaker \d+$/.test(t.who)),
        JSON.stringify(f),
      );
      assert.match(f.text!, /^\d\d:\d\d ?Speaker \d+ ?hello world$/);
    }
    // Two voices: at least two names in two colours (the page logic for exact labels is tested below).
    const turns = finals.slice(0, 3).flatMap((f) => f.turns);
    assert.ok(new Set(turns.map((x) => x.who)).size >= 2, JSON.stringify(turns));
    assert.ok(new Set(turns.map((x) => x.colour)).size >= 2, JSON.stringify(turns));
    assert.deepEqual(errors, []);
    await page.close();
  });
  test('the translate switch: task=translate on the socket, a file to /v1/audio/translations, both translated', async () => {
    const page = await browser.newPage({ bypassCSP: true });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    const posts: string[] = [];
    page.on('request', (r) => r.method() === 'POST' && posts.push(new URL(r.url()).pathname));
    const prompts = recordPrompts(server.model!);
    await page.goto(`${server.url}/?translate=1`);
    assert.equal(await page.isChecked('#translate'), true, '?translate=1 presets the switch');
    await page.click('#start');
    await page.waitForFunction("document.querySelectorAll('#captions .final').length >= 1", undefined, {
      timeout: 30_000,
    });
    await page.click('#stop');
    await page.waitForFunction("document.getElementById('status').textContent.startsWith('closed')");
    assert.equal(new URL(sockets[0]).searchParams.get('task'), 'translate');
    await page.setInputFiles('#file', {
      name: 'one.wav',
      mimeType: 'audio/wav',
      buffer: wav16(speechFixture().samples),
    });
    await page.waitForFunction("document.getElementById('file-status').textContent === '100%, done'");
    assert.deepEqual(posts, ['/v1/audio/translations']);
    assert.match((await page.textContent('#file-text'))!, /hello world/);
    const { translate, transcribe } = server.model!.ids;
    const rows = prompts.rows();
    assert.ok(rows.length > 0 && rows.every((r) => r.includes(translate!) && !r.includes(transcribe!)));
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('page logic: speakers in colours and names, a turn change inside a final, a dropped file with speakers', async (t) => {
    const page = await browser.newPage({ bypassCSP: true });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // The socket answered here: exact speakers, whatever the embedding would say.
    const results = (isFinal: boolean, start: number, words: [string, number?][], lag = 0.2) => ({
      type: 'Results',
      is_final: isFinal,
      speech_final: isFinal,
      start,
      duration: words.length * 0.4,
      lag,
      channel: {
        alternatives: [
          {
            transcript: words.map(([w]) => w).join(' '),
            confidence: 0.9,
            words: words.map(([w, speaker], i) => ({
              word: w.toLowerCase().replace(/\W/g, ''),
              punctuated_word: w,
              start: start + i * 0.4,
              end: start + i * 0.4 + 0.3,
              confidence: 0.9,
              ...(speaker === undefined ? {} : { speaker, speaker_confidence: 0.8 }),
            })),
          },
        ],
      },
    });
    await page.routeWebSocket(/\/v1\/listen/, (ws) => {
      let sent = false;
      ws.onMessage((m) => {
        if (sent || typeof m === 'string') return;
        sent = true;
        ws.send(JSON.stringify({ type: 'Metadata', request_id: 'r-1' }));
        ws.send(JSON.stringify(results(false, 0.8, [['good'], ['morn']])));
        ws.send(
          JSON.stringify(
            results(true, 0.8, [
              ['Good', 0],
              ['morning.', 0],
            ]),
          ),
        );
        ws.send(
          JSON.stringify(
            results(true, 3, [
              ['Hi', 1],
              ['there.', 1],
            ]),
          ),
        );
        ws.send(
          JSON.stringify(
            results(
              true,
              5,
              [
                ['Yes.', 0],
                ['No.', 1],
              ],
              0.4,
            ),
          ),
        );
      });
    });
    await page.goto(`${server.url}/`);
    await page.check('#diarize');
    await page.click('#start');
    await page.waitForFunction("document.querySelectorAll('#captions .final').length === 3");
    const finals = await captions(page, '#captions .final');
    assert.deepEqual(
      finals.map((f) => [f.text, f.turns.map((x) => x.who)]),
      [
        ['00:00Speaker 0Good morning.', ['Speaker 0']],
        ['00:03Speaker 1Hi there.', ['Speaker 1']],
        ['00:05Speaker 0Yes. Speaker 1No.', ['Speaker 0', 'Speaker 1']],
      ],
    );
    const [one, two, both] = finals.map((f) => f.turns.map((x) => x.colour));
    assert.notEqual(one[0], two[0]);
    assert.deepEqual(both, [one[0], two[0]]);
    assert.equal(await page.textContent('#captions .interim'), '');
    assert.equal(await page.textContent('#lag'), 'lag 0.4 s');
    await page.click('#stop');
    assert.equal(await page.textContent('#status'), 'finishing');
    assert.equal(await page.evaluate(() => document.getElementById('level').value), 0);

    // A dropped file, the server's events canned: deltas with progress, each followed by its speaker.
    const forms: string[] = [];
    const sse = (events: object[]) => events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('');
    const delta = (i: number, text: string, progress: number) => ({
      type: 'transcript.text.delta',
      delta: ` ${text}`,
      segment_id: `seg_${i}`,
      start: i * 3,
      end: i * 3 + 2,
      progress,
    });
    const segment = (i: number, text: string, speaker: string) => ({
      type: 'transcript.text.segment',
      id: `seg_${i}`,
      start: i * 3,
      end: i * 3 + 2,
      text,
      speaker,
    });
    await page.route('**/v1/audio/transcriptions', (route) => {
      forms.push(route.request().postData() ?? '');
      return route.fulfill({
        status: 200,
        contentType: 'text/event-stream',
        body: sse([
          delta(0, 'hello there', 0.333),
          segment(0, 'hello there', 'A'),
          delta(1, 'good morning', 0.667),
          segment(1, 'good morning', 'B'),
          delta(2, 'see you', 1),
          segment(2, 'see you', 'A'),
          { type: 'transcript.text.done', text: 'hello there good morning see you' },
        ]),
      });
    });
    await dropFile(page, wav16(new Float32Array(16000)), 'talk.wav');
    await page.waitForFunction("document.getElementById('file-status').textContent === '100%, done'");
    assert.match(forms[0], /name="stream"\r\n\r\ntrue\r\n/);
    assert.match(forms[0], /name="response_format"\r\n\r\ndiarized_json\r\n/);
    assert.match(forms[0], /name="file"; filename="talk.wav"/);
    const lines = await captions(page, '#file-text .final');
    assert.deepEqual(
      lines.map((f) => [f.text, f.turns.map((x) => x.who)]),
      [
        ['00:00Speaker 0hello there', ['Speaker 0']],
        ['00:03Speaker 1good morning', ['Speaker 1']],
        ['00:06Speaker 0see you', ['Speaker 0']],
      ],
    );
    const colours = lines.map((f) => f.turns[0].colour);
    assert.notEqual(colours[0], colours[1]);
    assert.equal(colours[0], colours[2]);
    assert.equal(await page.evaluate(() => document.getElementById('progress').value), 1);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}page.png`, fullPage: true });
    t.diagnostic(`screenshot: ${ARTIFACTS}page.png`);

    // A failure mid-stream is shown as such; the text so far stays.
    await page.unrouteAll();
    await page.route('**/v1/audio/transcriptions', (route) =>
      route.fulfill({
        status: 200,
        contentType: 'text/event-stream',
        body: sse([
          delta(0, 'hello there', 0.5),
          { type: 'error', error: { message: 'engine fell over', type: 'server_error' } },
        ]),
      }),
    );
    await page.setInputFiles('#file', {
      name: 'b.wav',
      mimeType: 'audio/wav',
      buffer: wav16(new Float32Array(1)),
    });
    await page.waitForFunction("document.getElementById('file-status').textContent.startsWith('failed')");
    assert.equal(await page.textContent('#file-status'), 'failed: engine fell over');
    assert.equal(await page.textContent('#file-text'), '00:00hello there');
    assert.equal(await page.isDisabled('#file'), false);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a file picked and transcribed by the server: progress to 100%, text per segment, speakers', async (t) => {
    const page = await browser.newPage({ bypassCSP: true });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}/`);
    await record(page, 'progress', '#files', "document.getElementById('progress').value");
    await record(page, 'lines', '#files', "document.querySelectorAll('#file-text .final').length");
    await page.check('#diarize');
    // Three passes of the two-voice fixture, 32 s: more than one 30-s window, so progress comes in steps.
    const { samples } = speechFixture();
    await page.setInputFiles('#file', {
      name: 'three.wav',
      mimeType: 'audio/wav',
      buffer: wav16(concat([samples, samples, samples])),
    });
    await page.waitForFunction(
      "document.getElementById('file-status').textContent === '100%, done'",
      undefined,
      {
        timeout: 60_000,
      },
    );
    const progress = (await seen(page, 'progress')) as number[];
    const lines = (await seen(page, 'lines')) as number[];
    // The bar moved before the end, with the text: the first line appeared with part of the file decoded.
    const firstText = lines.findIndex((n) => n > 0);
    assert.ok(progress[firstText] > 0 && progress[firstText] < 1, JSON.stringify({ progress, lines }));
    assert.equal(progress.at(-1), 1);
    t.diagnostic(
      `progress as lines appeared: ${JSON.stringify(progress.filter((_, i) => lines[i] !== lines[i - 1]))}`,
    );
    const text = await captions(page, '#file-text .final');
    assert.ok(text.length >= 2, JSON.stringify(text));
    assert.ok(
      text.every(
        (f) => /hello world$/.test(f.text!) && f.turns.length === 1 && /^Speaker \d+$/.test(f.turns[0].who),
      ),
      JSON.stringify(text),
    );
    assert.deepEqual(errors, []);
    await page.close();
  });
  test('with ?token= (auth on): the socket and the SRT download carry it in headers, never in a URL', async () => {
    const KEY = 'page-secret-key';
    const keyed = await startTestServer({ model, admissionTarget: 0, apiKeys: `page:${KEY}` });
    const page = await browser.newPage(); // CSP enforced: the blob download must work under it
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    const urls: string[] = [];
    const authorization: (string | undefined)[] = [];
    page.on('request', (r) => {
      urls.push(r.url());
      if (r.url().includes('/transcript')) authorization.push(r.headers()['authorization']);
    });
    page.on('websocket', (ws) => urls.push(ws.url()));
    await page.goto(`${keyed.url}/?token=${KEY}`);
    await page.click('#start');
    await page.locator('#captions .final').first().waitFor({ timeout: 30_000 });
    await page.click('#stop');
    await page.locator('#status', { hasText: 'closed 1000' }).waitFor({ timeout: 30_000 });
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#srt')]);
    const srt = readFileSync((await download.path())!, 'utf8');
    assert.match(srt, /^1\n\d\d:\d\d:\d\d,\d{3} --> .*\nhello world\n/);
    assert.match(download.suggestedFilename(), /\.srt$/);
    assert.deepEqual(authorization, [`Bearer ${KEY}`]);
    // The page's own address has the token (the user typed it); no request the page makes may.
    assert.deepEqual(
      urls.slice(1).filter((u) => u.includes(KEY)),
      [],
    );
    assert.doesNotMatch((await page.getAttribute('#srt', 'href'))!, /token/);
    assert.deepEqual(problems, []);
    await page.close();
    await keyed.stop();
  });

  test('under its own Content-Security-Policy: microphone, meter and a file run with no violation', async () => {
    const page = await browser.newPage(); // CSP enforced: the test only clicks and reads
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    const response = await page.goto(`${server.url}/`);
    assert.match(response!.headers()['content-security-policy'], /default-src 'none'/);
    await page.click('#start');
    await page.locator('#status', { hasText: 'listening' }).waitFor();
    // The meter reads the microphone (fake: speech from 0.8 s).
    for (let level = 0; level === 0;) {
      await new Promise((r) => setTimeout(r, 100));
      level = Number(await page.getAttribute('#level', 'value'));
    }
    await page.click('#stop');
    await page.locator('#status', { hasText: 'closed 1000' }).waitFor({ timeout: 30_000 });
    await page.setInputFiles('#file', {
      name: 'a.wav',
      mimeType: 'audio/wav',
      buffer: wav16(speechFixture().samples),
    });
    await page.locator('#file-status', { hasText: '100%, done' }).waitFor({ timeout: 60_000 });
    assert.match((await page.textContent('#file-text'))!, /hello world/);
    assert.deepEqual(problems, []);
    await page.close();
  });
});
