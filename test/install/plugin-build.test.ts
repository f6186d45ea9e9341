import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * `npm run build` builds the plugin too, and its dist works on its own: a project that installs only the plugin's
 * package.json and dist/ (no TypeScript sources, no tsx) imports it as ESM and requires it as CommonJS.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PLUGIN = join(ROOT, 'plugin');

/** A temp project with the built plugin installed as a registry copy would be, its dependencies linked. */
function consumer(): string {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-plugin-consumer-'));
  const installed = join(dir, 'node_modules', '@earshot', 'livekit-plugin');
  mkdirSync(installed, { recursive: true });
  cpSync(join(PLUGIN, 'package.json'), join(installed, 'package.json'));
  cpSync(join(PLUGIN, 'dist'), join(installed, 'dist'), { recursive: true });
  for (const dep of ['ws', '@livekit/agents', '@livekit/rtc-node']) {
    mkdirSync(dirname(join(dir, 'node_modules', dep)), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir');
  }
  return dir;
}

test('npm run build builds the plugin, and its dist imports without the TypeScript sources', () => {
  rmSync(join(PLUGIN, 'dist'), { recursive: true, force: true });
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'pipe' });
  const dir = consumer();
  try {
    const probe = (code: string, type: string) =>
      execFileSync(process.execPath, [`--input-type=${type}`, '-e', code], {
        cwd: dir,
        encoding: 'utf8',
      }).trim();
    const esm = probe(
      "const m = await import('@earshot/livekit-plugin'); console.log(typeof m.STT, typeof m.SpeechStream, m.DEFAULT_OPTIONS ? 'options' : '')",
      'module',
    );
    assert.equal(esm, 'function function options');
    const cjs = probe(
      "const m = require('@earshot/livekit-plugin'); console.log(typeof m.STT, require.resolve('@earshot/livekit-plugin'))",
      'commonjs',
    );
    assert.match(cjs, /^function .*dist\/cjs\/index\.js$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
