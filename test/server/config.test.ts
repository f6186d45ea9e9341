import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, DEFAULTS, loadConfig } from '../../server/config.js';

const dir = mkdtempSync(join(tmpdir(), 'earshot-config-'));
function file(json: unknown): string {
  const p = join(dir, `${Math.random()}.json`);
  writeFileSync(p, typeof json === 'string' ? json : JSON.stringify(json));
  return p;
}

describe('configuration', () => {
  test('defaults', () => {
    assert.deepEqual(loadConfig([], {}), DEFAULTS);
  });

  test('flags > environment > config file > defaults', () => {
    const cfg = file({ port: 1111, host: '10.0.0.1', maxBatch: 4, model: 'base' });
    const c = loadConfig(['--config', cfg, '--port', '3333'], {
      EARSHOT_PORT: '2222',
      EARSHOT_HOST: '127.0.0.2',
    });
    assert.equal(c.port, 3333);
    assert.equal(c.host, '127.0.0.2');
    assert.equal(c.maxBatch, 4);
    assert.equal(c.model, 'base');
    assert.equal(c.transport, 'auto');
    assert.equal(loadConfig([], { EARSHOT_CONFIG: cfg }).port, 1111);
  });

  const bad: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['--port', '99999'], {}, /--port: 99999 is outside 0\.\.65535/],
    [['--port', 'http'], {}, /--port: expected an integer/],
    [['--device', 'tpu'], {}, /not one of cpu, cuda/],
    [['--dtype', 'q3'], {}, /not a dtype/],
    [['--nope', '1'], {}, /Unknown option/],
    [[], { EARSHOT_MAX_STREAMS: '0' }, /EARSHOT_MAX_STREAMS: 0 is outside/],
    [[], { EARSHOT_TRANSPORT: 'quic' }, /EARSHOT_TRANSPORT: "quic" is not one of/],
    [['--config', '/nonexistent/earshot.json'], {}, /config file \/nonexistent\/earshot\.json/],
    [['--config', file('{port: 1')], {}, /config file .*JSON/],
    [['--config', file([1, 2])], {}, /expected a JSON object/],
    [['--config', file({ prot: 1 })], {}, /unknown key "prot"/],
    [['--config', file({ port: '80' })], {}, /config port: expected an integer/],
  ];
  for (const [argv, env, message] of bad) {
    test(`refuses ${[...argv, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].join(' ')}`, () => {
      assert.throws(
        () => loadConfig(argv, env),
        (e: unknown) => e instanceof ConfigError && message.test(e.message),
      );
    });
  }
});
