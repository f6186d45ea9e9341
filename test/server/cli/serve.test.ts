import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { synthModel } from '../../helpers/models.js';

/** `earshot serve` refuses what it cannot run as given: one line on stderr, no stack trace, exit 2. */

const BIN = new URL('../../../bin/earshot.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'earshot-cli-serve-'));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Runs `earshot serve ARGS` with none of the caller's EARSHOT_* settings; SIGTERM once it listens. */
function serve(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EARSHOT_')));
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', ...args], {
      env: { ...clean, ...env },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => {
      const listening = /listening on/.test(stdout);
      stdout += d;
      if (!listening && /listening on/.test(stdout)) p.kill('SIGTERM');
    });
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function assertOneLine(r: { code: number; stdout: string; stderr: string }, message: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
  assert.match(r.stderr, /^earshot: /);
  assert.doesNotMatch(r.stderr, /\bat .*:\d+:\d+/, 'no stack trace');
  assert.match(r.stderr.trim(), message);
}

describe('earshot serve: usage errors', () => {
  const cases: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
    ['a negative --max-batch', ['--max-batch', '-1'], {}, /--max-batch: -1 is outside 1\.\.64/],
    ['--port out of range', ['--port', '70000'], {}, /--port: 70000 is outside 0\.\.65535/],
    ['a number that is not one', ['--max-streams', 'lots'], {}, /--max-streams: expected an integer/],
    ['an environment value out of range', [], { EARSHOT_MAX_BATCH: '0' }, /EARSHOT_MAX_BATCH: 0 is outside/],
    [
      'a config-file value out of range',
      ['--config', file('range.json', '{"maxStreams": 0}')],
      {},
      /"maxStreams": 0 is outside 1\.\.1000000/,
    ],
    ['a missing config file', ['--config', join(dir, 'none.json')], {}, /none\.json: no such file/],
    ['invalid JSON', ['--config', file('bad.json', '{"port": 80,')], {}, /bad\.json: not valid JSON/],
    ['an unknown key', ['--config', file('key.json', '{"prot": 80}')], {}, /unknown key "prot"/],
    [
      'an unknown flag',
      ['--prot', '80'],
      {},
      /unknown option '--prot' \(Did you mean --port\?\) \(earshot serve --help\)$/,
    ],
    [
      'an unknown --store',
      ['--store', 'mongodb://db:27017'],
      {},
      /^earshot: --store: "mongodb:\.\.\." is not memory, file, file:DIR or redis:\/\/HOST:PORT$/,
    ],
    [
      'an unknown --vad-model',
      ['--vad-model', 'v7'],
      {},
      /^earshot: --vad-model: "v7" is not v4, v5, v6 or an existing Silero ONNX file$/,
    ],
    [
      'a --data-dir that cannot be created',
      ['--port', '0', '--store', 'file', '--data-dir', '/dev/null/earshot'],
      {},
      /--data-dir \/dev\/null\/earshot: cannot create it \(\w+\); choose a writable --data-dir, or --store memory$/,
    ],
    [
      'a short --jwt-secret',
      ['--port', '0', '--store', 'memory', '--jwt-secret', 's3cret'],
      {},
      /^earshot: the JWT secret must be at least 32 bytes/,
    ],
    [
      'a --jwks-url without --jwt-audience',
      ['--port', '0', '--store', 'memory', '--jwks-url', 'http://127.0.0.1:9/jwks.json'],
      {},
      /^earshot: --jwks-url needs --jwt-audience: otherwise any token its identity provider signs/,
    ],
    [
      'a bad --allowed-hosts entry',
      ['--port', '0', '--store', 'memory', '--allowed-hosts', 'https://earshot.example.com'],
      {},
      /^earshot: allowed host "https:\/\/earshot\.example\.com" must be a bare host name/,
    ],
    [
      'a bad API key list from the environment',
      ['--port', '0', '--store', 'memory'],
      { EARSHOT_API_KEYS: 'me:key,me:other' },
      /^earshot: --api-keys: key name me appears twice$/,
    ],
  ];
  for (const [name, args, env, message] of cases) {
    test(name, async () => assertOneLine(await serve(args, env), message));
  }

  // A model that cannot be loaded is the environment's failure (exit 1, like --model), still one line.
  const speakerModels: [string, () => string, RegExp][] = [
    ['a --speaker-model that does not exist', () => join(dir, 'none.onnx'), /no such file or directory$/],
    [
      'a --speaker-model directory without a model',
      () => dir,
      /: expected model\.onnx or exactly one \.onnx file, found none$/,
    ],
  ];
  test('a --vad-model file that is not a Silero model', async () => {
    const r = await serve([
      '--port',
      '0',
      '--store',
      'memory',
      '--vad-model',
      file('not-a-vad.txt', 'not a model'),
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
    assert.match(
      r.stderr.trim(),
      /^earshot: cannot load Silero VAD model .*not-a-vad\.txt: .*: pass a Silero VAD ONNX file, or --vad-model v4\|v5\|v6\)$/,
    );
  });

  for (const [name, path, message] of speakerModels) {
    test(name, async () => {
      const r = await serve(['--port', '0', '--store', 'memory', '--speaker-model', path()], {});
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
      assert.match(r.stderr.trim(), /^earshot: --speaker-model /);
      assert.match(r.stderr.trim(), message);
    });
  }
});

describe('earshot serve: runs', () => {
  let model: string;
  before(async () => {
    model = await synthModel();
  });

  test('--store memory starts (and SIGTERM stops it)', async () => {
    const r = await serve(['--port', '0', '--model', model, '--store', 'memory', '--log-level', 'info']);
    assert.match(r.stdout, /listening on 127\.0\.0\.1:\d+/);
    assert.match(r.stdout, /"vad":"silero v6"/, 'the start-up line names the VAD');
    assert.equal(r.code, 0, r.stderr);
  });

  test('a port in use: one line saying what to do', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      const r = await serve(['--port', String(port), '--model', model, '--log-level', 'error']);
      assertOneLine(r, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} .*choose another --host/--port`));
    } finally {
      taken.close();
    }
  });
});
