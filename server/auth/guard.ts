// The checks every request passes before any work: connections per address, the Host name (DNS rebinding), the
// browser Origin, the credential.
// Refusals are answered here, counted by code, and carry the CORS headers so a page can read them.

import { CorsPolicy } from './cors.js';
import { HostPolicy } from './hosts.js';
import { Limiter } from '../limits/limiter.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import { Authenticator, requiresAuth } from './authenticator.js';
import type { Refusal } from '../errors.js';
import { refusalResponse } from '../error-response.js';
import { ANONYMOUS, type Principal } from './types.js';

export interface GuardParts {
  auth: Authenticator;
  limiter: Limiter;
  cors: CorsPolicy;
  /** Host names served; default: localhost names and IP addresses. */
  hosts?: HostPolicy;
  /** Counts a refusal by its code (metrics). */
  denied?: (code: string) => void;
}

export type Admitted = {
  ok: true;
  principal: Principal;
  protocol?: string;
  /** Upgrades: checks the credential again while the stream lives (see AuthResult). */
  recheck?: () => Promise<Refusal | undefined>;
};
export type Denied = { ok: false; response: HttpResponse };

export class Guard {
  readonly auth: Authenticator;
  readonly limiter: Limiter;
  readonly cors: CorsPolicy;
  private readonly hosts: HostPolicy;
  private readonly onDenied: (code: string) => void;

  constructor(parts: GuardParts) {
    this.auth = parts.auth;
    this.limiter = parts.limiter;
    this.cors = parts.cors;
    this.hosts = parts.hosts ?? new HostPolicy();
    this.onDenied = parts.denied ?? (() => {});
  }

  /** Auth off (loopback only), no limits, no other origin: what an embedder gets unless it says otherwise. */
  static default(): Guard {
    return new Guard({ auth: new Authenticator({}), limiter: new Limiter({}), cors: new CorsPolicy() });
  }

  /**
   * A rebound DNS name (DNS rebinding) makes another site's page same-origin with this server. A credential the
   * page cannot know stops it; with auth off (loopback only) only the Host name can, so it is checked then, and
   * whenever --allowed-hosts is given. Behind a reverse proxy with auth on, the public name it forwards needs no
   * listing; --allow-anonymous serves whoever reaches it by any name (Prometheus scraping `earshot-1:8080`).
   */
  private checkHost(req: HttpRequest): Refusal | undefined {
    return this.auth.loopbackOnly || this.hosts.configured ? this.hosts.check(req) : undefined;
  }

  /** Before a WebSocket upgrade, in order: connection rate, Host, Origin, credential. */
  async upgrade(req: HttpRequest, headers: Record<string, string>): Promise<Admitted | Denied> {
    const early =
      (await this.limiter.admitConnection(req.remoteAddress)) ??
      this.checkHost(req) ??
      this.cors.checkUpgrade(req);
    if (early) return this.deny(early, headers);
    const a = await this.auth.authenticate(req);
    if (!a.ok) return this.deny(a.refusal, headers);
    return a;
  }

  /**
   * Before an HTTP route: connection rate, Host, the CORS preflight (answered here), the Origin, then the
   * credential unless the path is public (public paths get the anonymous principal). Only a preflight skips the
   * credential: any other OPTIONS is authenticated like the route it names.
   */
  async http(req: HttpRequest): Promise<Admitted | Denied> {
    const cors = this.corsHeaders(req);
    const early = (await this.limiter.admitConnection(req.remoteAddress)) ?? this.checkHost(req);
    if (early) return this.deny(early, cors);
    const preflight = this.cors.preflight(req);
    if (preflight) {
      if (preflight.status !== 204) this.count('ORIGIN_NOT_ALLOWED');
      return { ok: false, response: preflight };
    }
    // A simple request (a form POST) needs no preflight: another site's page must not run it either.
    const origin = this.cors.checkUpgrade(req);
    if (origin) return this.deny(origin, cors);
    if (!requiresAuth(req.path)) return { ok: true, principal: ANONYMOUS };
    const a = await this.auth.authenticate(req);
    return a.ok ? { ok: true, principal: a.principal } : this.deny(a.refusal, cors);
  }

  /** CORS headers for a response: none for a Host that is refused (a rebound page must not read even that). */
  corsHeaders(req: HttpRequest): Record<string, string> {
    return this.checkHost(req) ? {} : this.cors.headers(req);
  }

  /** Counts a refusal, or a limit that stopped a live stream, by its code. */
  count(code: string): void {
    this.onDenied(code);
  }

  /** A refusal's answer, counted. */
  deny(r: Refusal, headers: Record<string, string> = {}): Denied {
    this.count(r.code);
    return { ok: false, response: refusalResponse(r, headers) };
  }
}
