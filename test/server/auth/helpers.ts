// Requests and a local JWKS server for the auth tests.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuthRequest } from '../../../server/auth/types.js';

export function request(
  o: { headers?: Record<string, string>; query?: string; remoteAddress?: string } = {},
): AuthRequest {
  return {
    query: new URLSearchParams(o.query ?? ''),
    headers: o.headers ?? {},
    remoteAddress: o.remoteAddress ?? '203.0.113.7',
  };
}

/** Serves `keys` as a JWKS and counts the fetches; `hang` makes it never answer. */
export class JwksServer {
  fetches = 0;
  keys: object[] = [];
  hang = false;
  private server: Server = createServer((_req, res) => {
    this.fetches++;
    if (this.hang) return;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys }));
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks.json`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
