import { TokenVerifier, type Caller, type TokenVerifierOptions } from './tokens.js';

export interface CachingTokenVerifierOptions extends TokenVerifierOptions {
  /** Most tokens remembered (least recently used dropped first; default 10,000). */
  maxEntries?: number;
  /**
   * Longest a verified token is trusted without verifying it again (default 5 minutes), even
   * when it expires later: bounds how long a key removed from a JWKS still lets its tokens in.
   */
  maxAgeMs?: number;
}

interface Entry {
  caller: Caller;
  /** Date.now() past which the entry must be verified again: min(exp, verified + maxAge). */
  validUntil: number;
  /** When it was last moved to the recently-used end. */
  touchedAt: number;
}

/**
 * TokenVerifier with a bounded cache of verified tokens keyed by the token string: an extension
 * client sends the same token on every update check, and verifying a JWT (base64, JSON,
 * HMAC/signature, claims) is most of what an update check costs besides the answer itself.
 *
 * Only successful verifications are cached, each until the token's `exp` (or `maxAgeMs`),
 * whichever comes first; a token past its `exp` is verified again, which fails it with the
 * usual UNAUTHENTICATED reason. Failures are never cached: a bad token costs a verification
 * every time, as before.
 */
export class CachingTokenVerifier extends TokenVerifier {
  private readonly cache = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly maxAgeMs: number;

  constructor(options: CachingTokenVerifierOptions) {
    super(options);
    this.maxEntries = options.maxEntries ?? 10_000;
    this.maxAgeMs = options.maxAgeMs ?? 5 * 60_000;
  }

  /** The cached caller while its entry is valid (synchronous: the update check's path). */
  override verifiedCaller(token: string): Caller | undefined {
    const entry = this.cache.get(token);
    if (!entry) return undefined;
    const now = Date.now();
    if (now >= entry.validUntil) {
      this.cache.delete(token);
      return undefined;
    }
    // Most recently used last — moved at most once a second: a client checking many times a
    // second would otherwise pay a delete and an insert on every request.
    if (now - entry.touchedAt >= 1000) {
      entry.touchedAt = now;
      this.cache.delete(token);
      this.cache.set(token, entry);
    }
    return entry.caller;
  }

  override async verify(token: string): Promise<Caller> {
    const cached = this.verifiedCaller(token);
    if (cached) return cached;
    const now = Date.now();
    const caller = await super.verify(token);
    const expiresAtMs = caller.expiresAt === undefined ? Infinity : caller.expiresAt * 1000;
    const validUntil = Math.min(expiresAtMs, now + this.maxAgeMs);
    if (validUntil > now) {
      if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(token, { caller, validUntil, touchedAt: now });
    }
    return caller;
  }

  /** Tokens currently cached (tests). */
  get size(): number {
    return this.cache.size;
  }
}
