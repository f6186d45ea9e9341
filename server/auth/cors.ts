// Which browser origins may use the server: the WebSocket upgrade's Origin check and CORS for the HTTP routes.
// Default: none but the page's own origin. Clients that are not browsers send no Origin and are not concerned.

import { refusal, type Refusal } from '../errors.js';
import { refusalResponse } from '../error-response.js';
import type { HttpResponse } from '../transport/types.js';

type WithHeaders = { headers: Record<string, string> };

const ALLOW_METHODS = 'GET, POST, DELETE, OPTIONS';
const ALLOW_HEADERS = 'authorization, content-type';
const EXPOSE_HEADERS = 'dg-request-id, dg-error, retry-after';
const MAX_AGE_SECONDS = 600;

export class CorsPolicy {
  private readonly origins: Set<string>;
  private readonly any: boolean;

  /** allowedOrigins: exact origins (`https://app.example.com`, `http://localhost:3000`) or `*`. */
  constructor(allowedOrigins: readonly string[] = []) {
    this.any = allowedOrigins.includes('*');
    this.origins = new Set(allowedOrigins.filter((o) => o !== '*').map(checkOrigin));
  }

  /** A comma-separated option value (`--allowed-origins`). */
  static fromOption(value: string | undefined): CorsPolicy {
    return new CorsPolicy(
      (value ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    );
  }

  /** No Origin (not a browser), the page's own origin, or an allowed one. */
  allows(req: WithHeaders): boolean {
    const origin = req.headers['origin'];
    if (origin === undefined) return true;
    return this.any || this.origins.has(origin) || sameOrigin(origin, req.headers['host']);
  }

  /** Before a WebSocket upgrade: a page from another origin must not open streams with a visitor's ?token=. */
  checkUpgrade(req: WithHeaders): Refusal | undefined {
    if (this.allows(req)) return undefined;
    return refusal('ORIGIN_NOT_ALLOWED', 'this origin may not use this server (see --allowed-origins)');
  }

  /**
   * The answer to a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method), before auth; undefined
   * when the request is not a preflight.
   */
  preflight(req: WithHeaders & { method: string }): HttpResponse | undefined {
    const origin = req.headers['origin'];
    if (req.method !== 'OPTIONS' || origin === undefined || !req.headers['access-control-request-method']) {
      return undefined;
    }
    const vary = 'origin, access-control-request-method, access-control-request-headers';
    if (!this.allows(req)) {
      const no = refusal(
        'ORIGIN_NOT_ALLOWED',
        'this origin may not call this server (see --allowed-origins)',
      );
      return refusalResponse(no, { vary });
    }
    return {
      status: 204,
      headers: {
        'access-control-allow-origin': origin,
        'access-control-allow-methods': ALLOW_METHODS,
        'access-control-allow-headers': ALLOW_HEADERS,
        'access-control-max-age': String(MAX_AGE_SECONDS),
        vary,
      },
    };
  }

  /** Headers to add to every HTTP response (refusals included, so a page can read their error). */
  headers(req: WithHeaders): Record<string, string> {
    const origin = req.headers['origin'];
    if (origin === undefined || !this.allows(req)) return origin === undefined ? {} : { vary: 'origin' };
    return {
      'access-control-allow-origin': origin,
      'access-control-expose-headers': EXPOSE_HEADERS,
      vary: 'origin',
    };
  }
}

function checkOrigin(o: string): string {
  let url: URL;
  try {
    url = new URL(o);
  } catch {
    throw new Error(
      `allowed origin "${o}" is not a URL: give scheme://host[:port], e.g. https://app.example.com`,
    );
  }
  if (url.origin === 'null' || url.origin !== o.replace(/\/$/, '')) {
    throw new Error(`allowed origin "${o}" must be only scheme://host[:port] (no path), e.g. ${url.origin}`);
  }
  return url.origin;
}

/** The captions page is served by this server: its Origin names the Host the browser connected to. */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const o = new URL(origin);
    if (o.protocol !== 'http:' && o.protocol !== 'https:') return false;
    return o.host === new URL(`${o.protocol}//${host}`).host;
  } catch {
    return false;
  }
}
