import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sharedVad } from '../../helpers/models.js';
import { FakeEngine, sayUtterances } from '../../helpers/fake-engine.js';
import { finals, streamHarness, wordsOf, type Msg } from '../../helpers/session-harness.js';
import { interleave, randomFrames, stereoFixture } from '../../helpers/audio.js';
import { PcmSplitter } from '../../../audio/pcm.js';

/**
 * A multichannel stream on the session pipeline: real PCM, Silero VAD and utterances per channel; an engine double
 * that says each fixture utterance's own words where it is, so a channel's transcript shows what audio it heard.
 */

const vad = sharedVad();
const fx = stereoFixture();
const QS = 'encoding=linear16&sample_rate=16000&multichannel=true&channels=2&vad_events=true';

function harness(qs = QS) {
  const engine = new FakeEngine();
  engine.words = sayUtterances(fx.segments);
  return streamHarness(vad(), qs, { engine });
}

const text = (m: Msg) => m.channel!.alternatives[0].transcript;
const of = (m: readonly Msg[], channel: number) => finals(m).filter((f) => f.channel_index![0] === channel);
const spoken = (i: number) => fx.segments[i].text.toLowerCase().replace(/[^a-z ]/g, '');

describe('multichannel stream (one session per channel)', () => {
  test('each channel transcribes its own audio: channel_index [i, 2], one Metadata each way, 1000', async () => {
    const h = harness();
    for (const f of randomFrames(interleave(fx.channels), 7)) h.session.onAudio(f);
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    const metadata = h.messages.filter((m) => m.type === 'Metadata');
    assert.equal(metadata.length, 2);
    assert.equal(h.messages[0].type, 'Metadata');
    assert.equal(h.messages.at(-1)!.type, 'Metadata');
    assert.ok(metadata.every((m) => m.channels === 2));
    assert.deepEqual(h.closes, [{ code: 1000, reason: '' }]);
    for (const channel of [0, 1]) {
      const f = of(h.messages, channel);
      assert.equal(f.length, 1, `channel ${channel}: ${JSON.stringify(f.map(text))}`);
      assert.deepEqual(f[0].channel_index, [channel, 2]);
      assert.equal(text(f[0]), spoken(channel));
      // Words of the other channel's utterance never appear, nor do its times.
      const other = fx.segments[1 - channel];
      assert.ok(wordsOf(f[0]).every((w) => w.end <= other.start || w.start >= other.end));
    }
    // Every Results is one channel's; SpeechStarted says its channel too.
    assert.ok(h.messages.filter((m) => m.type === 'Results').every((m) => m.channel_index![1] === 2));
    const started = h.messages.filter((m) => m.type === 'SpeechStarted') as { channel?: number[] }[];
    assert.deepEqual(started.map((m) => m.channel![0]).sort(), [0, 1]);
    // One seq counter for the stream; the store has each final with its channel.
    const seqs = finals(h.messages).map((m) => m.seq!);
    assert.equal(new Set(seqs).size, seqs.length);
    const stored = await h.store.finals(h.id);
    assert.deepEqual(stored.map((s) => s.channel).sort(), [0, 1]);
    assert.deepEqual(stored.find((s) => s.channel === 1)!.transcript, spoken(1));
    const record = (await h.store.get(h.id))!;
    assert.equal(record.lastSeq, Math.max(...seqs));
    assert.ok(record.committed >= fx.segments[1].end, `committed ${record.committed}`);
  });

  test('Finalize reaches every channel: each answers from_finalize', async () => {
    const h = harness();
    // Both utterances are open at 6 s: the left one is over, the right one is speaking.
    const bytes = interleave(fx.channels);
    const cut = 6 * 16000 * 2 * 2;
    for (const f of randomFrames(bytes.subarray(0, cut), 3)) h.session.onAudio(f);
    h.session.onText('{"type":"Finalize"}');
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    const fromFinalize = finals(h.messages).filter((f) => f.from_finalize);
    assert.deepEqual(fromFinalize.map((f) => f.channel_index![0]).sort(), [0, 1]);
    assert.deepEqual(h.closes, [{ code: 1000, reason: '' }]);
  });

  test('an invalid control message gets one Error, not one per channel', async () => {
    const h = harness();
    h.session.onText('{"type":"Nope"}');
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    assert.equal(h.messages.filter((m) => m.type === 'Error').length, 1);
  });

  test('a channel that fails closes the socket once, at once, without a closing Metadata', async () => {
    const h = harness(QS.replace('linear16', 'float32'));
    const bytes = new Uint8Array(8 * 1600);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < 1600; i++) view.setFloat32(8 * i + 4, i === 800 ? NaN : 0, true);
    h.session.onAudio(bytes);
    await h.closedP;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(h.closes.length, 1);
    assert.equal(h.closes[0].reason, 'DATA-0000');
    assert.equal(h.messages.filter((m) => m.type === 'Metadata').length, 1);
    await h.session.whenDone();
  });
});

describe('PcmSplitter', () => {
  test('splits interleaved frames cut anywhere into each channel in order', () => {
    const channels = [0, 1, 2].map((c) => Float32Array.from({ length: 50 }, (_, i) => (c * 100 + i) / 1000));
    for (const enc of ['linear16', 'float32', 'mulaw'] as const) {
      const splitter = new PcmSplitter(enc, 3);
      const parts: Uint8Array[][] = [[], [], []];
      for (const f of randomFrames(interleave(channels, enc), 2, 1, 13)) {
        splitter.push(f).forEach((p, c) => parts[c].push(p));
      }
      channels.forEach((c, i) =>
        assert.deepEqual(Buffer.concat(parts[i]), Buffer.from(interleave([c], enc)), `${enc} channel ${i}`),
      );
    }
  });
});
