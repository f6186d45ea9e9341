import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

/** First-run set-up: `npm start` on a fresh clone installs dependencies, visibly, without npm warnings. */

const ROOT = new URL('../../..', import.meta.url).pathname;
const ENSURE = join(ROOT, 'bin/ensure-deps.js');

/** A fresh clone's lockfile (three packages, one for another OS) and an `npm` on PATH that logs as npm ci does. */
function fakeClone(exitCode: number): { dir: string; calls: string } {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-setup-'));
  const pkg = (name: string, extra = {}) => ({ version: '1.0.0', integrity: `sha512-${name}`, ...extra });
  writeFileSync(
    join(dir, 'package-lock.json'),
    JSON.stringify({
      lockfileVersion: 3,
      packages: {
        '': { name: 'earshot' },
        'node_modules/a': pkg('a'),
        'node_modules/b': pkg('b'),
        'node_modules/c': pkg('c'),
        'node_modules/other-os': pkg('d', { os: ['aix'] }),
      },
    }),
  );
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const calls = join(dir, 'calls');
  const npm = join(bin, 'npm');
  writeFileSync(
    npm,
    `#!/bin/sh
echo "$* ONNXRUNTIME_NODE_INSTALL=$ONNXRUNTIME_NODE_INSTALL" > "${calls}"
for p in a b c; do
  echo "npm http fetch GET 200 https://registry.npmjs.org/$p/-/$p-1.0.0.tgz 3ms (cache hit)" >&2
done
echo "npm http fetch GET 200 https://registry.npmjs.org/-/npm/v1/security/advisories/bulk 40ms" >&2
echo "npm warn deprecated c@1.0.0: use d" >&2
echo "added 3 packages in 1s"
exit ${exitCode}
`,
  );
  chmodSync(npm, 0o755);
  return { dir, calls };
}

function ensureDeps(dir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` };
  delete env.ONNXRUNTIME_NODE_INSTALL;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [ENSURE], { cwd: dir, env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test("ensure-deps shows npm ci progress from npm's fetch log, passes warnings through, skips the CUDA download", async () => {
  const { dir, calls } = fakeClone(0);
  const r = await ensureDeps(dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^earshot: installing dependencies \(npm ci, 3 packages\)\.\.\.\n/);
  assert.match(r.stderr, /fetched 1\/3 packages \(33%\)/);
  assert.match(r.stderr, /fetched 3\/3 packages \(100%\)/);
  assert.match(r.stderr, /^npm warn deprecated c@1\.0\.0: use d$/m);
  assert.doesNotMatch(r.stderr, /npm http/, 'the fetch log itself is not shown');
  assert.match(r.stdout, /added 3 packages/);
  const call = readFileSync(calls, 'utf8');
  assert.match(call, /^ci .*--loglevel=http/);
  assert.match(call, /ONNXRUNTIME_NODE_INSTALL=skip/);
});

test("ensure-deps exits with npm's failure", async () => {
  const r = await ensureDeps(fakeClone(7).dir);
  assert.equal(r.code, 7);
});

test('.npmrc holds nothing npm 11 warns about', () => {
  const r = spawnSync('npm', ['config', 'get', 'registry'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Unknown project config/);
});
