import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadAudioFile } from '../../../audio/load.js';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import type { EarshotApp } from '../../../server/app.js';
import { MemoryStore } from '../../../server/store/memory.js';
import { concat, encode, wav16 } from '../../helpers/audio.js';
import { FakeEngine } from '../../helpers/fake-engine.js';
import { sharedVad } from '../../helpers/models.js';
import { collect, connect, sendPaced, startAppWithEngine } from '../../helpers/server.js';
import { finals, wordsOf, type Msg } from '../../helpers/session-harness.js';

/**
 * The done-when of named voiceprints: two real readers (LibriSpeech, a woman and a man) enrolled with
 * POST /v1/speakers from the end of their recordings, then a live stream of the start of the same recordings,
 * turn by turn, with diarize=true&known_speakers=all: its finals carry both names, each on its reader's turns.
 * Built-in speaker embedding, real Silero VAD, the engine double for words.
 */

const SR = 16000;
/** Carried (test/fixtures/speaker/README.md): 587 F (Joy Scaglione), 8838 M (Kevin Owens); 14.6 s and 13.9 s. */
const FIXTURES = new URL('../../fixtures/speaker/', import.meta.url).pathname;
const READERS = { joy: 'librispeech-587-41611-0000.wav', kevin: 'librispeech-8838-298545-0000.wav' };
/** The first STREAMED seconds of each recording are streamed; the rest enrols. */
const STREAMED = 9;
const seconds = (s: number) => Math.round(s * SR);
const pause = (s: number) => new Float32Array(seconds(s));

describe('known_speakers=all on a live stream names two real voices', () => {
  const vad = sharedVad();
  let app: EarshotApp;
  let ws: string;
  let http: string;
  const audio: Record<string, Float32Array> = {};

  before(async () => {
    for (const [name, file] of Object.entries(READERS)) {
      audio[name] = (await loadAudioFile(FIXTURES + file)).samples16k;
    }
    ({ app, base: ws } = await startAppWithEngine({
      vad: vad(),
      engine: new FakeEngine(),
      store: new MemoryStore(),
      speakerEmbedder: new BuiltinEmbedder(),
    }));
    http = ws.replace(/^ws/, 'http').replace('/v1/listen', '');
  });
  after(async () => {
    await app?.close();
  });

  test('both voices enrolled, then named in the finals of their turns', async () => {
    // Joy enrols with two clips (multipart files[]), Kevin with one (JSON, a data URL).
    const joyRest = audio.joy.subarray(seconds(STREAMED));
    const half = Math.floor(joyRest.length / 2);
    const form = new FormData();
    form.append('name', 'Joy');
    form.append('files[]', new Blob([wav16(joyRest.subarray(0, half))], { type: 'audio/wav' }), 'a.wav');
    form.append('files[]', new Blob([wav16(joyRest.subarray(half))], { type: 'audio/wav' }), 'b.wav');
    const joy = await fetch(`${http}/v1/speakers`, { method: 'POST', body: form });
    assert.equal(joy.status, 201, await joy.clone().text());
    assert.equal(((await joy.json()) as { clips: number }).clips, 2);
    const kevinClip = wav16(audio.kevin.subarray(seconds(STREAMED)));
    const kevin = await fetch(`${http}/v1/speakers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'Kevin',
        files: [`data:audio/wav;base64,${kevinClip.toString('base64')}`],
      }),
    });
    assert.equal(kevin.status, 201, await kevin.clone().text());

    const { results, named, session } = await stream('known_speakers=all');
    const names = new Set(results.map((f) => f.speaker_name));
    assert.ok(names.has('Joy') && names.has('Kevin'), `finals named ${[...names].join(', ')}`);
    for (const who of ['Joy', 'Kevin']) {
      const n = named.get(who)!;
      const share = n.right / n.all;
      console.log(`${who}: ${share.toFixed(2)} of ${n.all.toFixed(1)} word-seconds named`);
      assert.ok(share >= 0.8, `${who}: ${n.right.toFixed(1)} of ${n.all.toFixed(1)} word-seconds named`);
    }
    // The stored transcript's exports carry the names too.
    const srt = await (await fetch(`${http}/v1/sessions/${session}/transcript?format=srt`)).text();
    assert.match(srt, /\[Joy\] w0/);
    assert.match(srt, /\[Kevin\] w0/);
    const text = await (await fetch(`${http}/v1/sessions/${session}/transcript?format=text`)).text();
    assert.match(text, /^Joy: w0/m);
  });

  test('a voice that is not listed never takes a listed name', async () => {
    const { results, named, words } = await stream('known_speakers=Joy');
    assert.ok(named.get('Joy')!.right / named.get('Joy')!.all >= 0.8, 'Joy is named');
    assert.equal(named.get('Kevin')!.right, 0);
    const onKevin = words.filter((w) => w.who === 'Kevin' && w.name !== undefined);
    assert.deepEqual(onKevin, [], "no word of Kevin's turns is named");
    assert.ok(results.every((f) => f.speaker_name === undefined || f.speaker_name === 'Joy'));
  });

  /** Streams the four turns with diarize=true and `qs`; what was named on whose turn. */
  async function stream(qs: string) {
    // Turns: Joy, Kevin, Joy, Kevin (4.5 s each), a second apart.
    const turns: { who: string; start: number; end: number }[] = [];
    const parts: Float32Array[] = [];
    let t = 0;
    for (const [who, from] of [
      ['Joy', 0],
      ['Kevin', 0],
      ['Joy', 4.5],
      ['Kevin', 4.5],
    ] as const) {
      const piece = audio[who === 'Joy' ? 'joy' : 'kevin'].subarray(seconds(from), seconds(from + 4.5));
      turns.push({ who, start: t, end: t + piece.length / SR });
      parts.push(piece, pause(1));
      t += piece.length / SR + 1;
    }
    const pcm = encode(concat(parts), 'linear16');
    const conn = await connect(
      `${ws}?encoding=linear16&sample_rate=16000&diarize=true&endpointing=300&${qs}`,
    );
    const done = collect(conn);
    const frames = Array.from({ length: Math.ceil(pcm.length / 3200) }, (_, i) =>
      pcm.subarray(i * 3200, (i + 1) * 3200),
    );
    await sendPaced(conn, frames, SR * 2, 20);
    conn.send(JSON.stringify({ type: 'CloseStream' }));
    const { messages } = await done;
    const results = finals(messages as unknown as Msg[]) as (Msg & { speaker_name?: string })[];
    const session = (messages.find((m) => m.type === 'Metadata') as { request_id: string }).request_id;
    // Word-seconds named right, per reader.
    const named = new Map<string, { right: number; all: number }>();
    const words: { who: string; name?: string }[] = [];
    for (const f of results) {
      for (const w of wordsOf(f) as unknown as { start: number; end: number; speaker_name?: string }[]) {
        const mid = (w.start + w.end) / 2;
        const turn = turns.find((x) => mid >= x.start - 0.3 && mid <= x.end + 0.3);
        if (!turn) continue;
        words.push({ who: turn.who, name: w.speaker_name });
        const n = named.get(turn.who) ?? { right: 0, all: 0 };
        n.all += w.end - w.start;
        if (w.speaker_name === turn.who) n.right += w.end - w.start;
        named.set(turn.who, n);
      }
    }
    return { results, named, words, session };
  }
});
