#!/usr/bin/env node
// `npm start` and `npm test` on a fresh clone: install the locked dependencies first (CPU onnxruntime, no CUDA
// download), and again whenever package-lock.json is newer than the installed tree. npm ci says nothing for the
// minute it takes, so this counts the packages it fetches (npm's own http log) and shows that as progress.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';

const installed = 'node_modules/.package-lock.json';
const stale =
  !existsSync(installed) || statSync('package-lock.json').mtimeMs > statSync(installed).mtimeMs + 1000;
if (stale) process.exit(await install());

/** Whether a lockfile entry's os/cpu list admits this machine (npm skips the others' optional binaries). */
function admits(list, value) {
  if (!list) return true;
  const denied = list.filter((v) => v.startsWith('!')).map((v) => v.slice(1));
  const allowed = list.filter((v) => !v.startsWith('!'));
  return !denied.includes(value) && (allowed.length === 0 || allowed.includes(value));
}

/** Tarballs npm ci will fetch: the lockfile's registry entries for this platform, each tarball once. */
function expectedPackages() {
  try {
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
    const wanted = Object.values(lock.packages ?? {}).filter(
      (p) => p.integrity && admits(p.os, process.platform) && admits(p.cpu, process.arch),
    );
    return new Set(wanted.map((p) => p.integrity)).size;
  } catch {
    return 0;
  }
}

function install() {
  let total = expectedPackages();
  const tty = process.stderr.isTTY;
  process.stderr.write(`earshot: installing dependencies (npm ci, ${total || 'all'} packages)...\n`);
  // .npmrc (ignore-scripts) keeps onnxruntime-node's install script from downloading CUDA providers; the variable
  // skips that download too should the caller's environment turn scripts back on (npm_config_ignore_scripts).
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: process.env.ONNXRUNTIME_NODE_INSTALL ?? 'skip' };
  const npm = spawn('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=http'], {
    env,
    stdio: ['inherit', 'inherit', 'pipe'],
  });
  let fetched = 0;
  let shown = -1;
  const show = (final = false) => {
    const pct = total ? Math.min(100, Math.floor((100 * fetched) / total)) : 0;
    // A redrawn line on a terminal; in logs a line every 10%.
    if (tty)
      process.stderr.write(`\r  fetched ${fetched}/${total || '?'} packages (${pct}%)${final ? '\n' : ''}`);
    else if (Math.floor(pct / 10) > shown || final) {
      shown = Math.floor(pct / 10);
      process.stderr.write(`  fetched ${fetched}/${total || '?'} packages (${pct}%)\n`);
    }
  };
  createInterface({ input: npm.stderr }).on('line', (line) => {
    if (/^npm http fetch GET 200 \S+\.tgz\b/.test(line)) {
      fetched++;
      // The lockfile count is an estimate (npm also filters by libc, and may fetch a tarball twice).
      if (total) total = Math.max(total, fetched);
      show();
    } else if (!/^npm http /.test(line)) {
      // Warnings and errors pass through, on a line of their own.
      if (tty && fetched > 0) process.stderr.write('\n');
      process.stderr.write(`${line}\n`);
    }
  });
  return new Promise((resolve) => {
    npm.on('error', (err) => {
      process.stderr.write(`earshot: could not run npm: ${err.message}\n`);
      resolve(1);
    });
    npm.on('close', (code) => {
      if (fetched > 0) show(true);
      resolve(code ?? 1);
    });
  });
}
