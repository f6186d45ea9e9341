// A real earshot cluster on one machine for test/cluster: earshot processes (bin/earshot.js serve), Debian nginx in
// front with deploy/nginx/nginx.conf (only the upstream hosts, the listen port and the paths rewritten), and
// redis-server (test/helpers/redis.ts). Everything is started and stopped by the test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { freePort } from '../helpers/redis.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'earshot.js');

const which = (cmd: string) =>
  spawnSync('sh', ['-c', `command -v ${cmd} || ls /usr/sbin/${cmd} 2>/dev/null`], { encoding: 'utf8' })
    .stdout.split('\n')[0]
    .trim();
export const NGINX = which('nginx');

/** One earshot process; its JSON log lines are kept so a test can tell which replica serves a session. */
export class Replica {
  proc: ChildProcess | null = null;
  lines: Record<string, unknown>[] = [];
  exited: Promise<{ code: number | null; signal: string | null; at: number }> = Promise.resolve({
    code: null,
    signal: null,
    at: 0,
  });

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly args: string[],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.lines = [];
    const proc = spawn(
      process.execPath,
      [BIN, 'serve', '--host', '127.0.0.1', '--port', String(this.port), ...this.args],
      { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() },
    );
    this.proc = proc;
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
    );
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d));
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      proc.stdout!.on('data', (d: Buffer) => {
        buffered += d;
        const parts = buffered.split('\n');
        buffered = parts.pop()!;
        for (const l of parts) {
          try {
            const line = JSON.parse(l) as Record<string, unknown>;
            this.lines.push(line);
            if (String(line.msg).includes('earshot listening')) resolve();
          } catch {
            // not a log line
          }
        }
      });
      void this.exited.then(({ code }) =>
        reject(new Error(`${this.name} exited ${code} before listening: ${stderr.slice(-800)}`)),
      );
    });
  }

  /** Whether this replica logged the opening of a stream for `session`. */
  serves(session: string): boolean {
    return this.lines.some((l) => l.msg === 'stream opened' && l.session === session);
  }

  kill(signal: NodeJS.Signals): void {
    this.proc?.kill(signal);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill('SIGKILL');
    await this.exited;
  }
}

/** nginx from deploy/nginx/nginx.conf, in front of the given replicas, on a free port. */
export async function startNginx(
  upstreams: Replica[],
): Promise<{ url: string; log(): string; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'earshot-nginx-'));
  let conf = readFileSync(join(ROOT, 'deploy', 'nginx', 'nginx.conf'), 'utf8');
  upstreams.forEach((r, i) => {
    conf = conf.replace(`server earshot-${i + 1}:8080`, `server 127.0.0.1:${r.port}`);
  });
  conf = conf
    .replace(/listen 8080;/, `listen 127.0.0.1:${port};`)
    .replace(/worker_processes auto;/, 'worker_processes 1;')
    .replaceAll('/tmp/earshot-nginx', join(dir, 'nginx'));
  if (!conf.includes(`127.0.0.1:${port}`) || /earshot-\d:8080/.test(conf)) {
    throw new Error('deploy/nginx/nginx.conf changed shape: the cluster test cannot rewrite it');
  }
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  const proc = spawn(NGINX, ['-p', dir, '-e', 'stderr', '-c', file, '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    const up = await fetch(`${url}/healthz`).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (i > 200) throw new Error(`nginx did not come up: ${stderr}`);
    await sleep(25);
  }
  return {
    url,
    log: () => stderr,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Final {
  seq: number;
  start: number;
  end: number;
  transcript: string;
}

/** A /v1/listen client that records every message and can be read while the stream is open. */
export class Client {
  readonly messages: Record<string, unknown>[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d, isBinary) => {
      if (!isBinary) this.messages.push(JSON.parse(String(d)) as Record<string, unknown>);
    });
    this.closed = new Promise((r) => ws.once('close', (code, reason) => r({ code, reason: String(reason) })));
  }

  static open(url: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const c = new Client(ws);
      ws.once('open', () => resolve(c));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () =>
          reject(Object.assign(new Error(`HTTP ${res.statusCode} ${body}`), { status: res.statusCode })),
        );
      });
      ws.once('error', reject);
    });
  }

  /** Non-empty finals (the ones the store keeps), in arrival order. */
  finals(): Final[] {
    return this.messages
      .filter((m) => m.type === 'Results' && m.is_final)
      .map((m) => {
        const alt = (m.channel as { alternatives: { transcript: string }[] }).alternatives[0];
        const start = m.start as number;
        return {
          seq: m.seq as number,
          start,
          end: start + (m.duration as number),
          transcript: alt.transcript,
        };
      })
      .filter((f) => f.transcript !== '');
  }

  metadata(): Record<string, unknown> {
    return this.messages.find((m) => m.type === 'Metadata')!;
  }

  /** Sends PCM at `speed` times real time, in 100-ms frames, until done or the socket is gone. */
  async send(pcm: Uint8Array, speed: number, stop: () => boolean = () => false): Promise<void> {
    const frame = 3200;
    for (let i = 0; i < pcm.length && !stop(); i += frame) {
      if (this.ws.readyState !== WebSocket.OPEN) return;
      this.ws.send(pcm.subarray(i, i + frame));
      await sleep(100 / speed);
    }
  }

  async finish(): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'CloseStream' }));
    return this.closed;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The caller's environment without EARSHOT_* settings, so flags alone configure the replicas. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EARSHOT_')));
}
