/**
 * What has been verified so far in one sign-in interaction. Kept server-side (KV store) under the
 * interaction uid; the browser never carries it, so it cannot be forged or replayed into another interaction.
 */
import type { KvStore } from '../store/kv.js';
import type { VerifiedMethod } from '../factors/types.js';
import type { Demand } from '../policy/requirement.js';
import type { Observed } from '../risk/collector.js';
import type { SessionOrigin } from '../risk/service.js';

export interface AuthContext {
  accountId: string;
  methods: VerifiedMethod[];
  /**
   * The risk verdict this sign-in was held to (set by the flow after the first factor), so every step and
   * the login prompt's check apply the same demands.
   */
  risk?: { demands: Demand[]; secondFactorWithin?: number | undefined; observed: Observed } | undefined;
  /** The user ticked "remember this device" on a second factor. */
  rememberDevice?: boolean;
  /**
   * MFA enforcement in this sign-in: `grace` the notice is shown, `later` the user postponed it, `required`
   * the grace period is over and the sign-in continues only through enrolling a factor.
   */
  enforcement?: 'grace' | 'later' | 'required';
  /** Where the session was established (SSO requests from elsewhere are judged again). */
  origin?: SessionOrigin | undefined;
}

/**
 * Also used per SSO session (prefix `sessctx:`, keyed by the oidc-provider session uid): the methods behind
 * the session's current authentication context, with their times, from which the step-up policy derives
 * the level the session holds now.
 */
export class AuthContextStore {
  constructor(
    private readonly kv: KvStore,
    private readonly prefix = 'authctx:',
    private readonly ttlSeconds = 3600,
  ) {}

  private key(uid: string) {
    return `${this.prefix}${uid}`;
  }

  async get(uid: string): Promise<AuthContext | null> {
    const raw = await this.kv.get(this.key(uid));
    return raw ? (JSON.parse(raw) as AuthContext) : null;
  }

  /** Adds a verified method; a different account restarts the context (no mixing of two users' factors). */
  async addMethod(uid: string, accountId: string, method: VerifiedMethod): Promise<AuthContext> {
    const current = await this.get(uid);
    const base: AuthContext = current && current.accountId === accountId ? current : { accountId, methods: [] };
    const next: AuthContext = {
      ...base,
      accountId,
      methods: [...base.methods.filter((m) => !(m.kind === method.kind && m.factorId === method.factorId)), method],
    };
    await this.kv.set(this.key(uid), JSON.stringify(next), this.ttlSeconds);
    return next;
  }

  async set(uid: string, ctx: AuthContext): Promise<void> {
    await this.kv.set(this.key(uid), JSON.stringify(ctx), this.ttlSeconds);
  }

  async clear(uid: string): Promise<void> {
    await this.kv.del(this.key(uid));
  }
}
