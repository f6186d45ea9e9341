import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * A plain `npm ci` / `npm install` runs no dependency install script on any npm version (onnxruntime-node's fetches
 * CUDA providers from the network), and every dependency that has one was looked at: a new one fails here until
 * package.json "allowScripts" records the decision.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  allowScripts?: Record<string, boolean>;
};
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { name?: string; version?: string; hasInstallScript?: boolean; link?: boolean }>;
};

/** Lockfile packages with an install script, as name@version (the name npm's allowScripts matches). */
function scripted(): string[] {
  return Object.entries(lock.packages)
    .filter(([path, p]) => path.includes('node_modules/') && p.hasInstallScript && !p.link)
    .map(
      ([path, p]) =>
        `${p.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)}@${p.version}`,
    );
}

/** The allowScripts entry deciding name@version: a pinned one, else the name-only one. */
function decision(id: string): boolean | undefined {
  const name = id.slice(0, id.lastIndexOf('@'));
  return pkg.allowScripts?.[id] ?? pkg.allowScripts?.[name];
}

test('.npmrc turns dependency install scripts off for every npm version', () => {
  const npmrc = readFileSync(join(ROOT, '.npmrc'), 'utf8');
  const settings = npmrc.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
  assert.deepEqual(settings, ['ignore-scripts=true']);
});

test("the project's own pre/post scripts, which ignore-scripts skips, are called explicitly instead", () => {
  const hooks = Object.keys(pkg.scripts).filter((s) => /^(pre|post)/.test(s) && s !== 'prepare');
  assert.deepEqual(hooks, [], 'npm would silently skip these');
  assert.match(pkg.scripts.start!, /^node bin\/ensure-deps\.js && /);
  assert.match(pkg.scripts.test!, /^node bin\/ensure-deps\.js && /);
});

test('allowScripts decides every dependency with an install script in package-lock.json', () => {
  const ids = scripted();
  assert.ok(
    ids.some((id) => id.startsWith('onnxruntime-node@')),
    'the lockfile lists install scripts',
  );
  const undecided = ids.filter((id) => decision(id) === undefined);
  assert.deepEqual(
    undecided,
    [],
    'add each to package.json "allowScripts" (npm install-scripts deny|approve)',
  );
  // ignore-scripts overrides an approval: a dependency that needs its script gets an explicit step instead.
  const approved = Object.entries(pkg.allowScripts ?? {}).filter(([, allowed]) => allowed !== false);
  assert.deepEqual(approved, [], 'an approval would not run under ignore-scripts');
});

test("onnxruntime-node's install script (the CUDA download) is denied, in every copy of it", () => {
  const copies = scripted().filter((id) => id.startsWith('onnxruntime-node@'));
  for (const id of copies) assert.equal(decision(id), false, id);
});
