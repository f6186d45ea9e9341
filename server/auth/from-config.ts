// The server's Guard from its configuration: bad auth or limit settings stop startup with one clear line.

import { ConfigError } from '../config.js';
import { type ServerConfig } from '../options.js';
import { CorsPolicy } from './cors.js';
import { HostPolicy } from './hosts.js';
import { Limiter, type LimitsConfig } from '../limits/limiter.js';
import type { LimitStore } from '../limits/store.js';
import type { ApiKeyStore } from './api-keys.js';
import { Authenticator } from './authenticator.js';
import { Guard } from './guard.js';

type AuthSettings = Pick<
  ServerConfig,
  | 'apiKeys'
  | 'apiKeysFile'
  | 'jwtSecret'
  | 'jwksUrl'
  | 'jwtAudience'
  | 'jwtIssuer'
  | 'allowAnonymous'
  | 'allowedOrigins'
  | 'allowedHosts'
  | 'host'
> &
  Required<{ [K in keyof LimitsConfig]: number }>;

export interface ConfiguredGuard {
  guard: Guard;
  /** The startup log line about auth (a warning when it is off). */
  describe: string;
  /** Reloads the API keys file on change and SIGHUP; returns the function that stops watching. */
  watch: (report: Parameters<ApiKeyStore['watch']>[0]) => () => void;
}

/** `limits`: where counters live; a shared store (Redis) makes the replicas enforce the limits together. */
export function guardFromConfig(
  c: AuthSettings,
  denied: (code: string) => void,
  limits?: LimitStore,
): ConfiguredGuard {
  let auth: Authenticator;
  let cors: CorsPolicy;
  let hosts: HostPolicy;
  let limiter: Limiter;
  try {
    auth = Authenticator.fromConfig(c);
    cors = CorsPolicy.fromOption(c.allowedOrigins);
    hosts = HostPolicy.fromOption(c.allowedHosts, c.host);
    // 0 in the options means no limit.
    const limit = (n: number) => (n > 0 ? n : undefined);
    limiter = new Limiter(
      {
        audioSecondsPerHour: limit(c.audioSecondsPerHour),
        audioSecondsPerDay: limit(c.audioSecondsPerDay),
        concurrentStreams: limit(c.concurrentStreams),
        maxSessionSeconds: limit(c.maxSessionSeconds),
        requestsPerMinute: limit(c.requestsPerMinute),
        connectionsPerSecond: limit(c.connectionsPerSecond),
      },
      limits,
    );
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  return {
    guard: new Guard({ auth, limiter, cors, hosts, denied }),
    describe: auth.describe(),
    watch: (report) => auth.keys?.watch(report) ?? (() => {}),
  };
}
