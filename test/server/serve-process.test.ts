import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { encode, speechFixture } from '../helpers/audio.js';
import { synthModel } from '../helpers/models.js';
import { collect, connect } from '../helpers/server.js';

/** `earshot serve` as a process: the startup banner, a clear failure, and SIGTERM's drain. */

const BIN = new URL('../../bin/earshot.js', import.meta.url).pathname;
/** Every server this file starts: killed at the end, so a failed assertion cannot leave one keeping the run alive. */
const started: ChildProcess[] = [];
after(() => started.forEach((p) => p.exitCode === null && p.kill('SIGKILL')));

function serve(args: string[]): {
  proc: ChildProcess;
  lines: string[];
  port: Promise<number>;
  exit: Promise<number>;
  stderr: () => string;
} {
  const proc = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    env: { ...process.env, EARSHOT_MODEL: '' },
  });
  started.push(proc);
  const lines: string[] = [];
  let stderr = '';
  const port = new Promise<number>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      for (const l of String(d).split('\n').filter(Boolean)) {
        lines.push(l);
        const m = /listening on [\d.]+:(\d+)/.exec(l);
        if (m) resolve(Number(m[1]));
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (stderr += d));
    proc.on('exit', () => reject(new Error(`exited: ${stderr}`)));
  });
  const exit = new Promise<number>((r) => proc.on('exit', (code) => r(code ?? -1)));
  return { proc, lines, port, exit, stderr: () => stderr };
}

describe('earshot serve', () => {
  let model: string;
  before(async () => {
    model = await synthModel({ script: '<|0.00|> hello world<|1.00|>' });
  });

  test('banner names model, device, transport, port and the auth state; SIGTERM drains and exits', async () => {
    const s = serve(['--model', model, '--drain-timeout', '5000']);
    const port = await s.port;
    const banner = s.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.port === port)!;
    assert.equal(banner.device, 'cpu');
    assert.equal(banner.transport, 'uws');
    assert.equal(banner.auth, 'off');
    // What rides beside finals, from the start-up calibration: a whole number up to --max-batch (8).
    assert.ok(
      Number.isInteger(banner.riders) && (banner.riders as number) >= 0 && (banner.riders as number) <= 8,
    );
    // How many typical streams admission expects to hold at the calibrated cost (a slow machine may say 0).
    assert.ok(Number.isInteger(banner.capacity) && (banner.capacity as number) >= 0, String(banner.capacity));
    assert.ok(
      s.lines.some((l) => /auth is OFF/.test(l)),
      'says loudly that auth is off',
    );
    const ws = await connect(`ws://127.0.0.1:${port}/v1/listen`);
    const done = collect(ws);
    const fx = speechFixture();
    const pcm = encode(fx.samples.subarray(0, 16000 * 2.5), 'linear16');
    for (let i = 0; i < pcm.length; i += 3200) {
      ws.send(pcm.subarray(i, i + 3200));
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    s.proc.kill('SIGTERM');
    const { messages, close } = await done;
    assert.equal(close.code, 1001);
    const finals = messages.filter((m) => m.type === 'Results' && m.is_final) as {
      channel: { alternatives: { transcript: string }[] };
    }[];
    assert.equal(finals.length, 1, 'the open utterance was finalized and delivered');
    assert.equal(finals[0].channel.alternatives[0].transcript, 'hello world');
    assert.equal(await s.exit, 0);
    assert.ok(Date.now() - t0 < 6000, 'exits within the drain timeout');
  });

  test('a model that cannot be loaded stops startup with one line saying what to do', async () => {
    const s = serve(['--model', '/nonexistent/whisper']);
    s.port.catch(() => {});
    assert.equal(await s.exit, 1);
    const lines = s.stderr().trim().split('\n');
    assert.equal(lines.length, 1, s.stderr());
    assert.match(
      lines[0],
      /^earshot: model directory \/nonexistent\/whisper does not exist \(pass --model DIR/,
    );
  });
});
