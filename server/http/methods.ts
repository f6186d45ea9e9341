// Which methods each route answers. The router asks here first, so no route ever runs for a method it does not
// expect: OPTIONS (not a CORS preflight, those are answered before auth) gets 204 with Allow, others 405 with Allow.

import { ApiError, errorResponse } from '../errors.js';
import type { HttpResponse } from '../transport/types.js';

const READ = ['GET', 'HEAD'] as const;

const ROUTES: Record<string, readonly string[]> = {
  '/healthz': READ,
  '/readyz': READ,
  '/metrics': READ,
  '/': READ,
  '/index.html': READ,
  '/favicon.ico': READ,
  '/v1/usage': READ,
  // GET is the WebSocket upgrade (426 without one).
  '/v1/listen': ['GET', 'POST'],
  '/v1/audio/transcriptions': ['POST'],
};

/** The methods a path answers, or undefined when there is no such route. */
function allowedMethods(path: string): readonly string[] | undefined {
  if (Object.hasOwn(ROUTES, path)) return ROUTES[path];
  if (/^\/v1\/sessions\/[^/]+\/transcript$/.test(path)) return READ;
  if (/^\/v1\/sessions\/[^/]+$/.test(path)) return [...READ, 'DELETE'];
  return undefined;
}

/** The answer when the route must not run (no route, OPTIONS, a method it does not take); undefined: go on. */
export function methodCheck(method: string, path: string): HttpResponse | undefined {
  const allowed = allowedMethods(path);
  if (!allowed) return errorResponse(new ApiError('NOT_FOUND', `no route for ${method} ${path}`));
  const allow = [...allowed, 'OPTIONS'].join(', ');
  if (method === 'OPTIONS') return { status: 204, headers: { allow } };
  if (allowed.includes(method)) return undefined;
  const message = `${method} is not allowed on ${path}: use ${allowed.join(' or ')}`;
  return errorResponse(new ApiError('METHOD', message), { allow });
}
