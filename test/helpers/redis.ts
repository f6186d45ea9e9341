// A real redis-server for tests (Debian package redis-server), on a free port, persisted with an fsync'd append-only
// file so a restart keeps what was acknowledged. Tests that need it skip loudly when it is not installed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER = spawnSync('sh', ['-c', 'command -v redis-server'], {
  encoding: 'utf8',
}).stdout.trim();
export const NO_REDIS = REDIS_SERVER
  ? false
  : 'SKIPPED: redis-server is not installed (apt-get install redis-server; .ci/run installs it)';
if (NO_REDIS) console.warn(`\n*** ${NO_REDIS} ***\n`);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  url: string;
  stop(): Promise<void>;
  /** Stops and starts it again on the same port and data (clients must reconnect). */
  restart(downMs?: number): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'earshot-redis-'));
  let proc: ChildProcess | null = null;
  const up = async () => {
    proc = spawn(
      REDIS_SERVER,
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes'] //
        .concat(['--appendfsync', 'always']),
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      let out = '';
      proc!.stdout!.on('data', (d: Buffer) => {
        out += d;
        if (out.includes('Ready to accept connections')) resolve();
      });
      proc!.once('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out.slice(-500)}`)));
    });
  };
  const down = async () => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill('SIGTERM');
    });
  };
  await up();
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: down,
    async restart(downMs = 0) {
      await down();
      await new Promise((r) => setTimeout(r, downMs));
      await up();
    },
  };
}
