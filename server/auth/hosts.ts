// DNS rebinding: a page on evil.example whose name the attacker re-points at 127.0.0.1 is same-origin with this
// server (its Origin equals the Host it sends), so the Origin check lets it in; with auth off nothing else would.
// The Host header names the site the browser believes it talks to: only this server's names may be used. A Host that
// is an IP address cannot be rebound (the page's origin is then that address), nor can localhost names.

import { isIP } from 'node:net';
import { refusal, type Refusal } from '../errors.js';

/** host[:port]: a DNS name, an IPv4 address or a bracketed IPv6 address; nothing else (no userinfo, no path). */
const HOST_HEADER = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::\d{1,5})?$/i;
const NAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/i;

export class HostPolicy {
  private readonly names: Set<string>;
  private readonly any: boolean;
  /** Names were given (--allowed-hosts): the check then applies with auth on too. */
  readonly configured: boolean;

  /** names: DNS names clients use for this server (`--allowed-hosts`), or `*`; bound: the --host it listens on. */
  constructor(names: readonly string[] = [], bound?: string) {
    this.any = names.includes('*');
    this.configured = names.length > 0;
    this.names = new Set(names.filter((n) => n !== '*').map(checkName));
    if (bound !== undefined && NAME.test(bound)) this.names.add(bound.toLowerCase());
  }

  /** A comma-separated option value (`--allowed-hosts`). */
  static fromOption(value: string | undefined, bound?: string): HostPolicy {
    const names = (value ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    return new HostPolicy(names, bound);
  }

  /** No Host at all (HTTP/1.0 tools; browsers always send one), loopback names, IP addresses, the names given. */
  allows(host: string | undefined): boolean {
    if (host === undefined) return true;
    const m = HOST_HEADER.exec(host.trim());
    if (!m) return false;
    const name = m[1].toLowerCase().replace(/\.$/, '');
    if (this.any || name === 'localhost' || name.endsWith('.localhost')) return true;
    if (isIP(name.replace(/^\[(.*)\]$/, '$1')) !== 0) return true;
    return this.names.has(name);
  }

  check(req: { headers: Record<string, string> }): Refusal | undefined {
    if (this.allows(req.headers['host'])) return undefined;
    return refusal(
      'HOST_NOT_ALLOWED',
      "this Host name is not one of this server's: use localhost or its address, or add the name to --allowed-hosts",
    );
  }
}

function checkName(n: string): string {
  if (!NAME.test(n)) {
    throw new Error(
      `allowed host "${n}" must be a bare host name (no scheme, port or path), e.g. earshot.example.com`,
    );
  }
  return n.toLowerCase();
}
