import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { ffmpegAvailable } from '../../audio/ffmpeg.js';
import { decodeAudio } from '../../audio/load.js';
import { PcmDecoder } from '../../audio/pcm.js';
import { decodeUpload, spoolUpload, uploadChannels } from '../../audio/upload.js';
import { interleave, wavChannels } from '../helpers/audio.js';

/** multichannel=true decodes one channel at a time: every decoder picks the channel asked for, unmixed. */

const tone = (hz: number, amp: number) =>
  Float32Array.from({ length: 16000 }, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / 16000));
const channels = [tone(300, 0.5), tone(700, 0.25), new Float32Array(16000)];
const rms = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
const upload = (bytes: Uint8Array) => spoolUpload(Readable.from([bytes]));

test('PcmDecoder picks one of up to 8 interleaved channels; mixing stays 1-2 channels', () => {
  const bytes = interleave(channels);
  channels.forEach((c, i) => {
    const out = new PcmDecoder({ encoding: 'linear16', channels: 3, channel: i }).push(bytes);
    assert.ok(
      out.every((v, j) => Math.abs(v - c[j]) < 1e-4),
      `channel ${i}`,
    );
  });
  assert.throws(() => new PcmDecoder({ encoding: 'linear16', channels: 3 }), /use 1 or 2/);
  assert.throws(() => new PcmDecoder({ encoding: 'linear16', channels: 9, channel: 0 }), /1 to 8/);
  assert.throws(() => new PcmDecoder({ encoding: 'linear16', channels: 2, channel: 2 }), /no channel 2/);
});

test('a WAV (whole or streamed upload) and raw PCM give each channel on its own; uploadChannels counts them', async () => {
  const wav = wavChannels(channels);
  for (const [i, c] of channels.entries()) {
    const whole = await decodeAudio(wav, { channel: i });
    assert.ok(Math.abs(rms(whole.samples16k) - rms(c)) < 1e-3, `whole WAV channel ${i}`);
    const spooled = await upload(wav);
    try {
      assert.equal(await uploadChannels(spooled), 3);
      const streamed = await decodeUpload(spooled, { channel: i });
      assert.deepEqual(streamed.samples16k, whole.samples16k);
    } finally {
      await spooled.remove();
    }
    const raw = await decodeAudio(interleave(channels), {
      rawEncoding: 'linear16',
      rawSampleRate: 16000,
      rawChannels: 3,
      channel: i,
    });
    assert.deepEqual(raw.samples16k, whole.samples16k);
  }
});

test('ffmpeg containers: one channel through a pan filter, the count from ffprobe', async (t) => {
  if (!(await ffmpegAvailable())) return t.skip('ffmpeg is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'earshot-ch-'));
  try {
    writeFileSync(join(dir, 'in.wav'), wavChannels(channels.slice(0, 2)));
    execFileSync('ffmpeg', ['-loglevel', 'error', '-i', join(dir, 'in.wav'), join(dir, 'out.flac')]);
    const flac = readFileSync(join(dir, 'out.flac'));
    const spooled = await upload(flac);
    try {
      assert.equal(await uploadChannels(spooled), 2);
      for (const i of [0, 1]) {
        const out = await decodeUpload(spooled, { channel: i });
        assert.ok(Math.abs(rms(out.samples16k) - rms(channels[i])) < 0.01, `flac channel ${i}`);
      }
    } finally {
      await spooled.remove();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
