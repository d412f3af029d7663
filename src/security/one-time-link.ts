/**
 * Single-use, expiring links (e-mail verification, password reset, recovery cancel / sign-in).
 *
 * The link carries a random 256-bit token; the store keeps only its SHA-256 under `otl:<purpose>:`, so a
 * leaked database or Redis dump holds no usable link. Redemption is an atomic take (KvStore.take), so two
 * parallel clicks give exactly one success. The purpose is part of the key: a reset token can never be
 * redeemed as a verification token. A token that is malformed, unknown, expired or already used gives the
 * same answer (null): callers show one clear "this link is no longer valid" page.
 */
import { createHash } from 'node:crypto';
import type { KvStore } from '../store/kv.js';
import { randomToken } from './crypto.js';

export type LinkPurpose = 'verify_email' | 'reset_password' | 'recovery_cancel' | 'recovery_signin';

/** What a link was issued for; `data` is caller-defined (e.g. the new address of an e-mail change). */
export interface LinkGrant<D = Record<string, unknown>> {
  userId: string;
  data: D;
  /** Epoch milliseconds. */
  issuedAt: number;
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export class OneTimeLinks {
  constructor(
    private readonly kv: KvStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** Issues a token valid for `ttlSeconds`; put it in a URL path or query as is (base64url). */
  async issue<D>(purpose: LinkPurpose, userId: string, data: D, ttlSeconds: number): Promise<string> {
    const token = randomToken(32);
    const grant: LinkGrant<D> = { userId, data, issuedAt: this.now() };
    await this.kv.set(this.key(purpose, token), JSON.stringify(grant), ttlSeconds);
    return token;
  }

  /** Reads without spending (e.g. to render a confirmation page before the POST that redeems). */
  async peek<D>(purpose: LinkPurpose, token: unknown): Promise<LinkGrant<D> | null> {
    if (!isToken(token)) return null;
    const raw = await this.kv.get(this.key(purpose, token));
    return raw ? (JSON.parse(raw) as LinkGrant<D>) : null;
  }

  /** Spends the token: the first caller gets the grant, every later or parallel one null. */
  async redeem<D>(purpose: LinkPurpose, token: unknown): Promise<LinkGrant<D> | null> {
    if (!isToken(token)) return null;
    const raw = await this.kv.take(this.key(purpose, token));
    return raw ? (JSON.parse(raw) as LinkGrant<D>) : null;
  }

  /** Invalidates a token (e.g. a newer reset mail supersedes an older one). */
  async revoke(purpose: LinkPurpose, token: unknown): Promise<void> {
    if (isToken(token)) await this.kv.del(this.key(purpose, token));
  }

  private key(purpose: LinkPurpose, token: string): string {
    return `otl:${purpose}:${createHash('sha256').update(token).digest('base64url')}`;
  }
}

function isToken(token: unknown): token is string {
  return typeof token === 'string' && TOKEN_SHAPE.test(token);
}
