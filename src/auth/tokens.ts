import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import * as jose from 'jose';

import { UnauthenticatedError } from '../services/errors.js';
import { isUuid } from '../services/ids.js';

export type Role = 'admin' | 'user';

/** Who is calling: the verified `sub` and `role` claims of the bearer token. */
export interface Caller {
  id: string;
  role: Role;
  /** The token's `exp` (seconds since the epoch), when it has one. */
  expiresAt?: number;
}



export interface TokenVerifierOptions {
  /** HS256 secret (used unless `jwksUrl` is set). */
  secret?: string;
  /** JWKS endpoint for RS256/ES256 tokens. */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  /**
   * Longest accepted lifetime in seconds (JWT_MAX_TTL): tokens without `exp`, or whose `exp − iat`
   * or `exp − now` is longer, are refused. Undefined: no bound and `exp` optional.
   */
  maxTtlSeconds?: number;
}

/** Clock skew tolerated between the minting machine and this one when bounding a lifetime. */
const CLOCK_SKEW_SECONDS = 60;

/**
 * Verifies bearer tokens: signature (HS256 secret or JWKS), `exp`/`nbf`, and the contract's
 * claims (`sub` a UUID, `role` admin or user). Every failure is UNAUTHENTICATED with a reason.
 */
export class TokenVerifier {
  private readonly key: Uint8Array | ReturnType<typeof jose.createRemoteJWKSet>;
  private readonly algorithms: string[];

  constructor(private readonly options: TokenVerifierOptions) {
    if (options.jwksUrl) {
      this.key = jose.createRemoteJWKSet(new URL(options.jwksUrl));
      this.algorithms = ['RS256', 'ES256', 'RS384', 'ES384', 'RS512', 'PS256'];
    } else if (options.secret) {
      this.key = new TextEncoder().encode(options.secret);
      this.algorithms = ['HS256'];
    } else {
      throw new Error('TokenVerifier needs a secret or a JWKS URL');
    }
  }

  /** Reads `Bearer <jwt>` from an Authorization header value; undefined when absent. */
  static bearer(header: string | undefined | null): string | undefined {
    if (!header) return undefined;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new UnauthenticatedError('Authorization header must be "Bearer <JWT>"');
    return match[1];
  }

  /**
   * The caller of a token verified recently, without waiting (a caching verifier overrides
   * this); undefined means `verify` must run.
   */
  verifiedCaller(_token: string): Caller | undefined {
    return undefined;
  }

  async verify(token: string): Promise<Caller> {
    let payload: jose.JWTPayload;
    try {
      const options = { algorithms: this.algorithms, issuer: this.options.issuer, audience: this.options.audience };
      ({ payload } = await jose.jwtVerify(token, this.key as Uint8Array, options));
    } catch (error) {
      const reason =
        error instanceof jose.errors.JWTExpired
          ? 'the token has expired'
          : error instanceof jose.errors.JWTClaimValidationFailed
            ? `claim "${error.claim}" is not valid`
            : 'the token signature or format is not valid';
      throw new UnauthenticatedError(`Invalid bearer token: ${reason}`);
    }
    if (typeof payload.sub !== 'string' || !isUuid(payload.sub)) {
      throw new UnauthenticatedError('Invalid bearer token: claim "sub" must be the user id as a UUID');
    }
    const role = payload.role;
    if (role !== 'admin' && role !== 'user') {
      throw new UnauthenticatedError('Invalid bearer token: claim "role" must be "admin" or "user"');
    }
    this.checkLifetime(payload);
    return { id: payload.sub.toLowerCase(), role, expiresAt: payload.exp };
  }

  /**
   * A token that never expires cannot be revoked short of rotating the secret, so `exp` is
   * required and its lifetime bounded (JWT_MAX_TTL), measured from `iat` and from now: a token
   * minted long ago with a far `exp` is as dangerous as one minted today.
   */
  private checkLifetime(payload: jose.JWTPayload): void {
    const max = this.options.maxTtlSeconds;
    if (max === undefined) return;
    if (typeof payload.exp !== 'number') {
      throw new UnauthenticatedError(`Invalid bearer token: claim "exp" is required (tokens live at most ${describeSeconds(max)}, JWT_MAX_TTL)`);
    }
    const now = Math.floor(Date.now() / 1000);
    const fromIssue = typeof payload.iat === 'number' ? payload.exp - payload.iat : 0;
    if (fromIssue > max || payload.exp - now > max + CLOCK_SKEW_SECONDS) {
      throw new UnauthenticatedError(`Invalid bearer token: it lives longer than the ${describeSeconds(max)} allowed (JWT_MAX_TTL)`);
    }
  }
}

/** `2592000` → `30 days`, `43200` → `12 hours`, for messages. */
export function describeSeconds(seconds: number): string {
  const units: [number, string][] = [[86_400, 'day'], [3_600, 'hour'], [60, 'minute'], [1, 'second']];
  for (const [size, name] of units) {
    if (seconds % size === 0 && seconds >= size) return `${seconds / size} ${name}${seconds === size ? '' : 's'}`;
  }
  return `${seconds} seconds`;
}

/** setTimeout fires at once past 2^31-1 ms (~24.8 days): longer waits are re-armed in steps of at most this. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Calls `onExpired` once `expiresAt` (seconds since the epoch) has passed, however far away it
 * is, re-arming in bounded steps. The timers are unref'd. Returns a function that cancels it.
 */
export function onTokenExpiry(expiresAt: number, onExpired: () => void, maxStepMs = MAX_TIMER_MS): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const remaining = expiresAt * 1000 - Date.now();
    if (remaining <= 0) {
      timer = undefined;
      onExpired();
      return;
    }
    timer = setTimeout(arm, Math.min(remaining, maxStepMs));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}

export interface MintOptions {
  secret: string;
  role: Role;
  sub?: string;
  /** Lifetime such as `12h`, `30d` (default 12h). */
  expiresIn?: string;
}

/** Mints an HS256 token with the contract's claims (used by `npm run token` and tests). */
export async function mintToken({ secret, role, sub, expiresIn = '12h' }: MintOptions): Promise<string> {
  return new jose.SignJWT({ role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub ?? crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

/**
 * Outside production with no JWT_SECRET: a secret generated once and kept in
 * `<dataDir>/jwt-secret` (mode 0600), so tokens minted locally survive restarts.
 */
export function localJwtSecret(dataDir: string): string {
  const file = path.join(dataDir, 'jwt-secret');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    fs.mkdirSync(dataDir, { recursive: true });
    const secret = crypto.randomBytes(32).toString('hex');
    try {
      fs.writeFileSync(file, secret, { mode: 0o600, flag: 'wx' });
      return secret;
    } catch {
      // Another process created it between our read and write: use theirs.
      return fs.readFileSync(file, 'utf8').trim();
    }
  }
}
