#!/usr/bin/env node
// `npm start` and `npm test` on a fresh clone: install the locked dependencies first (CPU onnxruntime, no CUDA
// download), and again whenever package-lock.json is newer than the installed tree.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const installed = 'node_modules/.package-lock.json';
const stale =
  !existsSync(installed) || statSync('package-lock.json').mtimeMs > statSync(installed).mtimeMs + 1000;
if (stale) {
  process.stderr.write('earshot: installing dependencies (npm ci)...\n');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], {
    stdio: 'inherit',
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: process.env.ONNXRUNTIME_NODE_INSTALL ?? 'skip' },
  });
  process.exit(r.status ?? 1);
}
