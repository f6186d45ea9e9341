// A local Hugging Face hub speaking what @huggingface/hub asks for: model info (the revision's commit), paths-info,
// and resolve URLs with Range, LFS files redirected to a "CDN" path like the real hub does.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRepo {
  files: Map<string, Buffer>;
  /** revision name -> commit (40 hex); every revision holds the same files */
  revisions: Record<string, string>;
  gated?: boolean;
}

export interface Logged {
  method: string;
  url: string;
  range?: string;
  auth?: string;
  status: number;
}

export interface Behaviour {
  requireToken?: string;
  /** path -> bytes sent before the first download of it is cut */
  dropAfter?: Map<string, number>;
  /** answer open-ended Range requests (resumes) with the whole file, 200 */
  ignoreRange?: boolean;
  /** path -> bytes served instead of the real ones (paths-info still describes the real ones) */
  corrupt?: Map<string, Buffer>;
}

/** Deterministic pseudo-random bytes (xorshift). */
export function bytes(seed: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** The git blob id the hub reports as `oid` of a regular file. */
export const gitOid = (b: Buffer): string =>
  createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
/** Like the real hub: the ONNX weights are LFS files. */
export const isLfs = (path: string): boolean => path.startsWith('onnx/');

export class FakeHub {
  readonly server: Server;
  log: Logged[] = [];
  b: Behaviour = {};
  endpoint = '';
  private dropped = new Set<string>();

  constructor(readonly repos: Map<string, FakeRepo>) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks).toString()));
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  reset(b: Behaviour = {}): void {
    this.b = b;
    this.log = [];
    this.dropped.clear();
  }

  /** Requests that moved the bytes of a file (not the library's 1-byte size probes). */
  downloads(path: string): Logged[] {
    return this.log
      .filter((l) => l.url.startsWith('/cdn/') || l.url.includes('/resolve/'))
      .filter((l) => l.url.endsWith(`/${path}`) && l.status !== 302 && l.range !== 'bytes=0-0');
  }

  private reply(req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string>) {
    const { method = '', url = '' } = req;
    this.log.push({ method, url, range: req.headers.range, auth: req.headers.authorization, status });
    res.writeHead(status, headers);
  }

  private json(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: unknown,
    code?: string,
  ): void {
    this.reply(req, res, status, {
      'content-type': 'application/json',
      ...(code ? { 'x-error-code': code } : {}),
    });
    res.end(JSON.stringify(body));
  }

  private handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = new URL(req.url!, 'http://x');
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|paths-info)\/(.+)$/.exec(url.pathname);
    const file = /^\/(?:cdn\/)?([^/]+\/[^/]+)\/(?:resolve\/([^/]+)\/)?(.+)$/.exec(url.pathname);
    const cdn = url.pathname.startsWith('/cdn/');
    const repoName = api?.[1] ?? file?.[1] ?? '';
    const repo = this.repos.get(repoName);
    const revision = decodeURIComponent(api?.[3] ?? file?.[2] ?? '');
    if (!cdn && this.b.requireToken && req.headers.authorization !== `Bearer ${this.b.requireToken}`) {
      return this.json(req, res, 401, { error: 'Invalid credentials' });
    }
    if (!repo) return this.json(req, res, 404, { error: 'Repository not found' }, 'RepoNotFound');
    const commit = Object.values(repo.revisions).includes(revision) ? revision : repo.revisions[revision];
    if (!cdn && !commit) return this.json(req, res, 404, { error: 'Invalid rev id' }, 'RevisionNotFound');

    if (api?.[2] === 'revision') {
      return this.json(req, res, 200, { _id: 'x', id: repoName, sha: commit, private: false, gated: false });
    }
    if (api?.[2] === 'paths-info') {
      const { paths } = JSON.parse(body) as { paths: string[] };
      const infos = paths.flatMap((path) => {
        const data = repo.files.get(path);
        if (!data) return [];
        const lfs = isLfs(path) ? { oid: sha256(data), size: data.length, pointerSize: 130 } : undefined;
        const oid = lfs ? gitOid(Buffer.from(`lfs pointer ${lfs.oid}`)) : gitOid(data);
        const lastCommit = { id: commit, title: 'upload', date: '2024-01-01T00:00:00.000Z' };
        return [{ type: 'file', path, oid, size: data.length, ...(lfs ? { lfs } : {}), lastCommit }];
      });
      return this.json(req, res, 200, infos);
    }

    const path = decodeURIComponent(file?.[3] ?? '');
    const data = repo.files.get(path);
    if (!data) return this.json(req, res, 404, { error: 'Entry not found' }, 'EntryNotFound');
    if (!cdn && repo.gated) return this.json(req, res, 403, { error: 'Access restricted' }, 'GatedRepo');
    if (!cdn && isLfs(path)) {
      this.reply(req, res, 302, {
        location: `/cdn/${repoName}/${path}`,
        'x-linked-size': String(data.length),
        'x-linked-etag': `"${sha256(data)}"`,
        'x-repo-commit': commit!,
        'content-length': '0',
      });
      return void res.end();
    }
    const served = this.b.corrupt?.get(path) ?? data;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const honoured = range && !(this.b.ignoreRange && !range[2]);
    const start = honoured ? Number(range[1]) : 0;
    const end = honoured && range[2] ? Number(range[2]) + 1 : served.length;
    if (start >= served.length) {
      this.reply(req, res, 416, { 'content-range': `bytes */${served.length}` });
      return void res.end();
    }
    const chunk = served.subarray(start, end);
    const headers: Record<string, string> = {
      etag: `"${isLfs(path) ? sha256(data) : gitOid(data)}"`,
      'accept-ranges': 'bytes',
      'content-length': String(chunk.length),
      ...(cdn ? {} : { 'x-repo-commit': commit! }),
    };
    if (start > 0 || end < served.length)
      headers['content-range'] = `bytes ${start}-${end - 1}/${served.length}`;
    this.reply(req, res, headers['content-range'] ? 206 : 200, headers);
    const cut = this.b.dropAfter?.get(path);
    if (cut !== undefined && chunk.length > 1 && !this.dropped.has(path)) {
      this.dropped.add(path);
      res.write(chunk.subarray(0, cut), () => req.socket.destroy());
      return;
    }
    // Several writes, so progress is reported more than once per file.
    for (let i = 0; i < chunk.length; i += 32_768) res.write(chunk.subarray(i, i + 32_768));
    res.end();
  }
}
