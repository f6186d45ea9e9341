import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig, serveCommandLine } from '../../server/config.js';
import { DEFAULTS, OPTIONS } from '../../server/options.js';

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

  test('--vad-model: Silero v6 by default, v4/v5 by name, or a file', () => {
    assert.equal(loadConfig([], {}).vadModel, 'v6');
    assert.equal(loadConfig(['--vad-model', 'v4'], {}).vadModel, 'v4');
    assert.equal(loadConfig([], { EARSHOT_VAD_MODEL: 'v5' }).vadModel, 'v5');
    const f = file({});
    assert.equal(loadConfig(['--vad-model', f], {}).vadModel, f);
  });

  test('--early-finals: on by default, a switch that takes its value', () => {
    assert.equal(loadConfig([], {}).earlyFinals, true);
    assert.equal(loadConfig(['--early-finals', 'false'], {}).earlyFinals, false);
    assert.equal(loadConfig([], { EARSHOT_EARLY_FINALS: '0' }).earlyFinals, false);
    assert.equal(loadConfig(['--early-finals', 'true'], { EARSHOT_EARLY_FINALS: 'false' }).earlyFinals, true);
    assert.throws(
      () => loadConfig(['--early-finals', 'maybe'], {}),
      /--early-finals: expected true or false/,
    );
  });

  const bad: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['--port', '99999'], {}, /--port: 99999 is outside 0\.\.65535/],
    [['--port', 'http'], {}, /--port: expected an integer/],
    [['--device', 'tpu'], {}, /not one of cpu, cuda/],
    [['--dtype', 'q3'], {}, /not a dtype/],
    [['--vad-model', 'v7'], {}, /^--vad-model: "v7" is not v4, v5, v6 or an existing Silero ONNX file$/],
    [
      [],
      { EARSHOT_VAD_MODEL: '/nonexistent/vad.onnx' },
      /^EARSHOT_VAD_MODEL: "\/nonexistent\/vad\.onnx" is not/,
    ],
    [['--nope', '1'], {}, /unknown option '--nope'/],
    // Negative numbers are values to range-check, not an "ambiguous argument".
    [['--max-batch', '-1'], {}, /^--max-batch: -1 is outside 1\.\.64$/],
    [['--max-batch=0'], {}, /--max-batch: 0 is outside 1\.\.64/],
    [['--admission-target', '1.5'], {}, /--admission-target: 1\.5 is outside 0\.\.1/],
    [['--max-batch', '2.5'], {}, /--max-batch: expected an integer from 1 to 64, got "2\.5"/],
    [['--max-batch'], {}, /argument missing/],
    [[], { EARSHOT_MAX_BATCH: '-1' }, /EARSHOT_MAX_BATCH: -1 is outside 1\.\.64/],
    [['--config', file({ maxBatch: 65 })], {}, /"maxBatch": 65 is outside 1\.\.64/],
    [['extra'], {}, /too many arguments/],
    [[], { EARSHOT_MAX_STREAMS: '0' }, /EARSHOT_MAX_STREAMS: 0 is outside/],
    [[], { EARSHOT_TRANSPORT: 'quic' }, /EARSHOT_TRANSPORT: "quic" is not one of/],
    [['--config', '/nonexistent/earshot.json'], {}, /config file \/nonexistent\/earshot\.json: no such file/],
    [['--config', file('{port: 1')], {}, /config file .*: not valid JSON/],
    [['--config', file([1, 2])], {}, /expected a JSON object/],
    [['--config', file({ prot: 1 })], {}, /unknown key "prot"/],
    [['--config', file({ port: '80' })], {}, /"port": expected an integer from 0 to 65535, got "80"/],
    [['--config', file({ allowAnonymous: 'yes' })], {}, /"allowAnonymous": expected true or false/],
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

type Spec = (typeof OPTIONS)[keyof typeof OPTIONS];
const options = Object.entries(OPTIONS) as [
  string,
  Spec & { min?: number; max?: number; implemented?: unknown },
][];

describe('every numeric option is range-checked from every source', () => {
  for (const [key, o] of options) {
    if (o.kind !== 'int' && o.kind !== 'number') continue;
    test(`${key}: below ${o.min} and above ${o.max}`, () => {
      for (const n of [o.min! - 1, o.max! + 1]) {
        const outside = new RegExp(`: ${n} is outside ${o.min}\\.\\.${o.max}`);
        const sources: [string[], NodeJS.ProcessEnv, string][] = [
          [[`--${o.flag}`, String(n)], {}, `--${o.flag}`],
          [[], { [o.env]: String(n) }, o.env],
          [['--config', file({ [key]: n })], {}, `"${key}"`],
        ];
        for (const [argv, env, where] of sources) {
          assert.throws(
            () => loadConfig(argv, env),
            (e: unknown) => e instanceof ConfigError && e.message.includes(where) && outside.test(e.message),
            `${where}=${n}`,
          );
        }
      }
      assert.equal(loadConfig([`--${o.flag}`, String(o.max)], {})[key as keyof typeof DEFAULTS], o.max);
    });
  }
});

describe('options that are not implemented yet are refused, never ignored', () => {
  const pending = options.filter(([, o]) => o.implemented === false);
  test('the auth options are implemented: none is marked', () => {
    const auth = [
      'allow-anonymous',
      'allowed-origins',
      'api-keys',
      'api-keys-file',
      'jwks-url',
      'jwt-secret',
    ];
    assert.deepEqual(
      pending.map(([, o]) => o.flag).filter((f) => auth.includes(f) || f.startsWith('jwt')),
      [],
    );
  });
  for (const [key, o] of pending) {
    test(`--${o.flag} from a flag, the environment and a config file`, () => {
      const value = o.kind === 'bool' ? 'true' : 'x';
      const refusals: [string[], NodeJS.ProcessEnv, RegExp][] = [
        [o.kind === 'bool' ? [`--${o.flag}`] : [`--${o.flag}`, value], {}, /; remove it$/],
        [[], { [o.env]: value }, new RegExp(`\\(from ${o.env}\\) .*; unset ${o.env}$`)],
        [
          ['--config', file({ [key]: o.kind === 'bool' ? true : value })],
          {},
          /; remove "\w+" from the file$/,
        ],
      ];
      for (const [argv, env, remedy] of refusals) {
        assert.throws(
          () => loadConfig(argv, env),
          (e: unknown) =>
            e instanceof ConfigError &&
            e.message.startsWith(`--${o.flag}`) &&
            e.message.includes('is not implemented yet in this version') &&
            remedy.test(e.message),
        );
      }
    });
  }
});

describe('--store, --data-dir, --retention', () => {
  test('file by default, in --data-dir (EARSHOT_DATA_DIR), kept --retention hours', () => {
    const c = loadConfig([], {});
    assert.equal(c.store, 'file');
    assert.equal(c.retentionHours, 168);
    assert.match(c.dataDir, /earshot$/);
    assert.equal(loadConfig([], { EARSHOT_DATA_DIR: '/srv/earshot' }).dataDir, '/srv/earshot');
    const f = loadConfig(['--data-dir', '/d', '--retention', '0.5'], { EARSHOT_DATA_DIR: '/srv/earshot' });
    assert.deepEqual([f.dataDir, f.retentionHours], ['/d', 0.5]);
  });

  test('memory, file, file:DIR and redis:// URLs are taken', () => {
    for (const store of [
      'memory',
      'file',
      'file:/var/lib/earshot',
      'redis://:secret@redis:6379',
      'rediss://r:6380/2',
    ])
      assert.equal(loadConfig(['--store', store], {}).store, store);
  });

  test('anything else is refused in one line that does not echo a URL (it may carry a password)', () => {
    for (const [store, shown] of [
      ['postgres://:secret@db/earshot', '"postgres:..."'],
      ['files', '"files"'],
      ['redis:', '"redis:..."'],
    ]) {
      assert.throws(
        () => loadConfig(['--store', store], {}),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.message === `--store: ${shown} is not memory, file, file:DIR or redis://HOST:PORT` &&
          !e.message.includes('secret'),
        store,
      );
    }
  });
});

test('serve --help is generated from the table: every flag, variable, default and range', () => {
  // Line wrapping depends on the terminal width: compare with whitespace collapsed.
  const help = serveCommandLine().helpInformation({ error: false }).replace(/\s+/g, ' ');
  for (const [key, o] of options) {
    assert.ok(help.includes(`--${o.flag}`), o.flag);
    assert.ok(help.includes(o.env), o.env);
    if (o.kind === 'int' || o.kind === 'number') assert.ok(help.includes(`(${o.min}..${o.max})`), key);
  }
  assert.match(help, /--max-batch <n> most windows per inference batch \(1\.\.64\) \(default: 8,/);
  assert.match(help, /--jwt-secret <secret> HS256 secret for Bearer JWTs \(env: EARSHOT_JWT_SECRET\)/);
});
