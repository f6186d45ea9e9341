// A route table: each route declares its path, the methods it takes and its handler once, the way fastify keeps
// routes apart. The router answers what no handler should see: no route (404), OPTIONS (not a CORS preflight,
// those are answered before auth: 204 with Allow) and a method the route does not take (405 with Allow).

import type { Principal } from '../auth/types.js';
import { ApiError } from '../errors.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import { errorResponse } from '../error-response.js';

export interface Route {
  /** An exact path, or a pattern for paths with a parameter. */
  path: string | RegExp;
  methods: readonly string[];
  handler: (req: HttpRequest, principal: Principal) => HttpResponse | Promise<HttpResponse>;
}

export const READ = ['GET', 'HEAD'] as const;

export class Router {
  private readonly exact = new Map<string, Route>();
  private readonly patterns: Route[] = [];

  constructor(routes: readonly Route[]) {
    for (const r of routes) {
      if (typeof r.path !== 'string') this.patterns.push(r);
      else if (this.exact.has(r.path)) throw new Error(`route ${r.path} declared twice`);
      else this.exact.set(r.path, r);
    }
  }

  async handle(req: HttpRequest, principal: Principal): Promise<HttpResponse> {
    const { method, path } = req;
    const route = this.exact.get(path) ?? this.patterns.find((r) => (r.path as RegExp).test(path));
    if (!route) return errorResponse(new ApiError('NOT_FOUND', `no route for ${method} ${path}`));
    const allow = [...route.methods, 'OPTIONS'].join(', ');
    if (method === 'OPTIONS') return { status: 204, headers: { allow } };
    if (!route.methods.includes(method)) {
      const message = `${method} is not allowed on ${path}: use ${route.methods.join(' or ')}`;
      return errorResponse(new ApiError('METHOD', message), { allow });
    }
    return route.handler(req, principal);
  }
}
