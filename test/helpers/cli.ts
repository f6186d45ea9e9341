/** The earshot command as a user runs it, and a runner that collects what it prints. */
import { spawn } from 'node:child_process';

const EARSHOT_BIN = new URL('../../bin/earshot.js', import.meta.url).pathname;

/** Runs `earshot ARGS` to its end (EARSHOT_MODEL cleared unless `env` sets it). */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [EARSHOT_BIN, ...args], {
      env: { ...process.env, EARSHOT_MODEL: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
