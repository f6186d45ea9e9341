// What the app and routes use from auth (see each module for details).

export {
  Authenticator,
  isLoopback,
  requiresAuth,
  type AuthConfig,
  type AuthResult,
} from './authenticator.js';
export { ApiKeyError, ApiKeyStore } from './api-keys.js';
export { JwtVerifier, type JwtOptions } from './jwt.js';
export { canAccess, findOwnedSession, newSessionId, sessionKey } from './ownership.js';
export { keysCommand } from './keys-command.js';
export { ANONYMOUS, refusalResponse, type AuthRequest, type Principal, type Refusal } from './types.js';
